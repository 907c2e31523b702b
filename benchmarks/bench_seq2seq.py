#!/usr/bin/env python3
"""Summarization and translation with beam search: leanformers against the reference, side by side.

    python benchmarks/bench_seq2seq.py --pairs 5 [--only summarization] [--out benchmarks/out/seq2seq.json]

Each measurement runs in a fresh process of this interpreter (2 threads), alternating the two
libraries (A = reference, B = leanformers, A B A B ...), so both see the same machine state. A pair's
ratio is B's tokens/s over A's; the table gives each side's median and the median pair ratio, with
the machine's 1-minute load average around each pair. Outputs must be token-identical (checked
every run through a hash of the generated ids).

Workloads (random weights, saved once by the reference under benchmarks/out/seq2seq/):
  summarization  distilbart-sized BART (d_model 1024, 12 encoder / 6 decoder layers, vocab 50264),
                 16 inputs of 200-384 tokens (padded), beam 4, no_repeat_ngram_size 3,
                 length_penalty 2.0, early_stopping, up to 64 new tokens (distilbart-cnn's settings)
  translation    Marian-sized model (d_model 512, 6/6 layers, 8 heads, ffn 2048, vocab 58101; a BART
                 config of that size: static sinusoidal positions aside, the same work per step),
                 16 inputs of 20-40 tokens, beam 4, up to 64 new tokens
tokens/s = generated tokens (every returned sequence, the start token excluded) / generate() time,
encoder included.
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = "@@SEQ2SEQ@@"

WORKLOADS = {
    "summarization": dict(
        config=dict(d_model=1024, encoder_layers=12, decoder_layers=6, encoder_attention_heads=16,
                    decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, vocab_size=50264,
                    max_position_embeddings=1024),
        lengths=(200, 384), generate=dict(num_beams=4, no_repeat_ngram_size=3, length_penalty=2.0,
                                          early_stopping=True, max_new_tokens=64)),
    "translation": dict(
        config=dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                    decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, vocab_size=58101,
                    max_position_embeddings=512, scale_embedding=True),
        lengths=(20, 40), generate=dict(num_beams=4, max_new_tokens=64)),
}
N_INPUTS = 16


def make_model(name, folder):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BartConfig(**WORKLOADS[name]["config"])
    transformers.BartForConditionalGeneration(config).save_pretrained(folder)


def inputs(name, vocab):
    import torch

    g = torch.Generator().manual_seed(1)
    low, high = WORKLOADS[name]["lengths"]
    lengths = torch.randint(low, high + 1, (N_INPUTS,), generator=g).tolist()
    ids = torch.full((N_INPUTS, max(lengths)), 1)  # pad
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(3, vocab, (length,), generator=g)
        ids[row, 0], ids[row, length - 1] = 0, 2  # <s> ... </s>
        mask[row, :length] = 1
    return ids, mask


def worker(name, impl, folder):
    import torch

    torch.set_num_threads(2)
    if impl == "reference":
        import transformers as lib
    else:
        import leanformers as lib
    model = lib.AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    ids, mask = inputs(name, model.config.vocab_size)
    kwargs = WORKLOADS[name]["generate"]
    with torch.no_grad():
        model.generate(ids[:2, :16], attention_mask=mask[:2, :16], num_beams=2, max_new_tokens=2)  # warm-up
        start = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, **kwargs)
        seconds = time.perf_counter() - start
    tokens = int((out[:, 1:] != model.config.pad_token_id).sum())
    digest = hashlib.sha256(json.dumps(out.tolist()).encode()).hexdigest()[:16]
    return {"tokens_per_s": tokens / seconds, "seconds": seconds, "tokens": tokens, "shape": list(out.shape),
            "hash": digest}


def run_one(name, impl, folder):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, impl, folder]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    raise RuntimeError(f"{impl} {name} failed:\n{proc.stderr[-3000:]}")


def load_average() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3, metavar=("NAME", "IMPL", "FOLDER"))
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--models-dir", default=os.path.join(HERE, "out", "seq2seq"))
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        print(TAG + json.dumps(worker(*args.worker)))
        return
    names = args.only.split(",") if args.only else list(WORKLOADS)
    results = {}
    for name in names:
        folder = os.path.join(args.models_dir, name)
        if not os.path.exists(os.path.join(folder, "config.json")):
            make_model(name, folder)
        pairs = []
        for i in range(args.pairs):
            load_before = load_average()
            a = run_one(name, "reference", folder)
            b = run_one(name, "leanformers", folder)
            if a["hash"] != b["hash"]:
                raise SystemExit(f"{name}: outputs differ (pair {i + 1}): {a} vs {b}")
            pairs.append({"reference": a, "leanformers": b, "ratio": b["tokens_per_s"] / a["tokens_per_s"],
                          "load": [load_before, load_average()]})
            print(f"{name} pair {i + 1}: reference {a['tokens_per_s']:.1f} tok/s, leanformers "
                  f"{b['tokens_per_s']:.1f} tok/s, ratio {pairs[-1]['ratio']:.2f}, load {load_before:.1f} -> "
                  f"{load_average():.1f}", flush=True)
        results[name] = {
            "reference_tokens_per_s": statistics.median(p["reference"]["tokens_per_s"] for p in pairs),
            "leanformers_tokens_per_s": statistics.median(p["leanformers"]["tokens_per_s"] for p in pairs),
            "median_pair_ratio": statistics.median(p["ratio"] for p in pairs),
            "identical_outputs": True, "tokens": pairs[0]["reference"]["tokens"], "pairs": pairs,
        }
    print(f"{'workload':15} {'reference tok/s':>16} {'leanformers tok/s':>18} {'median pair ratio':>18}")
    for name, r in results.items():
        print(f"{name:15} {r['reference_tokens_per_s']:16.1f} {r['leanformers_tokens_per_s']:18.1f} "
              f"{r['median_pair_ratio']:18.2f}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
