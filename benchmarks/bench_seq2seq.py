#!/usr/bin/env python3
"""Summarization and translation with beam search: leanformers against the reference, side by side.

    python benchmarks/bench_seq2seq.py --pairs 5 [--only summarization] [--out benchmarks/out/seq2seq.json]

Both libraries' models are loaded in one process (2 threads) from the same folder, and their
generate() calls alternate (A = reference, B = leanformers: A B A B ...), so both see the same
machine state (after a short warm-up call of each). A pair's ratio is B's tokens/s over A's, by wall
time and by CPU time (the process's CPU seconds: steadier when other jobs share the machine); the
table gives each side's median and the median pair ratios, and the 1-minute load average is
printed with each pair. Outputs must be token-identical (checked at every call).

Workloads (random weights, saved once by the reference under benchmarks/out/seq2seq/):
  summarization  distilbart-sized BART (d_model 1024, 12 encoder / 6 decoder layers, vocab 50264),
                 16 inputs of 64-128 tokens (padded), beam 4, no_repeat_ngram_size 3,
                 length_penalty 2.0, early_stopping, up to 24 new tokens (distilbart-cnn's settings;
                 texts and summaries kept short so that 5 pairs fit a busy 2-core machine)
  translation    MarianMTModel of opus-mt-en-fr's size (d_model 512, 6/6 layers, 8 heads, ffn 2048,
                 vocab 59514, static sinusoidal positions, pad as decoder start), 16 inputs of 20-40
                 tokens, beam 4, up to 32 new tokens
tokens/s = generated tokens (every returned sequence, the start token excluded) / generate() time,
encoder included.
"""
import argparse
import json
import os
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))

WORKLOADS = {
    "summarization": dict(
        config=dict(d_model=1024, encoder_layers=12, decoder_layers=6, encoder_attention_heads=16,
                    decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, vocab_size=50264,
                    max_position_embeddings=1024),
        lengths=(64, 128), generate=dict(num_beams=4, no_repeat_ngram_size=3, length_penalty=2.0,
                                         early_stopping=True, max_new_tokens=24)),
    "translation": dict(
        kind="marian",  # opus-mt-en-fr's config.json
        config=dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                    decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, vocab_size=59514,
                    max_position_embeddings=512, scale_embedding=True, activation_function="swish",
                    pad_token_id=59513, decoder_start_token_id=59513, eos_token_id=0, bos_token_id=0,
                    forced_eos_token_id=0, static_position_embeddings=True, share_encoder_decoder_embeddings=True),
        lengths=(20, 40), generate=dict(num_beams=4, max_new_tokens=32)),
}
N_INPUTS = 16


def make_model(name, folder):
    import torch
    import transformers

    torch.manual_seed(0)
    if WORKLOADS[name].get("kind") == "marian":
        transformers.MarianMTModel(transformers.MarianConfig(**WORKLOADS[name]["config"])).save_pretrained(folder)
    else:
        transformers.BartForConditionalGeneration(transformers.BartConfig(**WORKLOADS[name]["config"])).save_pretrained(folder)


def inputs(name, vocab):
    import torch

    g = torch.Generator().manual_seed(1)
    low, high = WORKLOADS[name]["lengths"]
    lengths = torch.randint(low, high + 1, (N_INPUTS,), generator=g).tolist()
    marian = WORKLOADS[name].get("kind") == "marian"
    ids = torch.full((N_INPUTS, max(lengths)), vocab - 1 if marian else 1)  # pad
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(3, vocab - 1, (length,), generator=g)
        if marian:
            ids[row, length - 1] = 0  # ... </s> (Marian has no <s>)
        else:
            ids[row, 0], ids[row, length - 1] = 0, 2  # <s> ... </s>
        mask[row, :length] = 1
    return ids, mask


def measure(name, folder, pairs, log):
    import torch
    import transformers

    import leanformers

    torch.set_num_threads(2)
    models = {"reference": transformers.AutoModelForSeq2SeqLM.from_pretrained(folder).eval(),
              "leanformers": leanformers.AutoModelForSeq2SeqLM.from_pretrained(folder).eval()}
    pad = models["reference"].config.pad_token_id
    ids, mask = inputs(name, models["reference"].config.vocab_size)
    kwargs = WORKLOADS[name]["generate"]
    runs = {impl: [] for impl in models}  # A then B within each pair
    outputs = {}
    for model in models.values():  # warm-up
        with torch.no_grad():
            model.generate(ids[:2, :8], attention_mask=mask[:2, :8], num_beams=2, max_new_tokens=2)
    for i in range(1, pairs + 1):
        load = load_average()
        for impl, model in models.items():
            with torch.no_grad():
                wall, cpu = time.perf_counter(), time.process_time()
                outputs[impl] = model.generate(ids, attention_mask=mask, **kwargs)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            tokens = int((outputs[impl][:, 1:] != pad).sum())
            runs[impl].append({"tokens_per_s": tokens / wall, "tokens_per_cpu_s": tokens / cpu,
                               "seconds": wall, "cpu_seconds": cpu, "tokens": tokens, "load": load})
        if not torch.equal(outputs["reference"], outputs["leanformers"]):
            raise SystemExit(f"{name}: outputs differ: {outputs}")
        a, b = runs["reference"][-1], runs["leanformers"][-1]
        log(f"{name} pair {i}: reference {a['tokens_per_s']:.1f} tok/s ({a['tokens_per_cpu_s']:.1f} per CPU-s), "
            f"leanformers {b['tokens_per_s']:.1f} tok/s ({b['tokens_per_cpu_s']:.1f} per CPU-s), ratio "
            f"{b['tokens_per_s'] / a['tokens_per_s']:.2f} (CPU {b['tokens_per_cpu_s'] / a['tokens_per_cpu_s']:.2f}), "
            f"load {load:.1f} -> {load_average():.1f}")
    med = statistics.median
    pair_ratios = [b["tokens_per_s"] / a["tokens_per_s"] for a, b in zip(runs["reference"], runs["leanformers"])]
    cpu_ratios = [b["tokens_per_cpu_s"] / a["tokens_per_cpu_s"]
                  for a, b in zip(runs["reference"], runs["leanformers"])]
    return {"reference_tokens_per_s": med(r["tokens_per_s"] for r in runs["reference"]),
            "leanformers_tokens_per_s": med(r["tokens_per_s"] for r in runs["leanformers"]),
            "median_pair_ratio": med(pair_ratios), "median_pair_ratio_cpu_time": med(cpu_ratios),
            "identical_outputs": True, "output_shape": list(outputs["reference"].shape), "runs": runs}


def load_average() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--models-dir", default=os.path.join(HERE, "out", "seq2seq"))
    ap.add_argument("--out")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    names = args.only.split(",") if args.only else list(WORKLOADS)
    results = {}
    for name in names:
        folder = os.path.join(args.models_dir, name + ("-" + WORKLOADS[name]["kind"] if "kind" in WORKLOADS[name] else ""))
        if not os.path.exists(os.path.join(folder, "config.json")):
            make_model(name, folder)
        results[name] = measure(name, folder, args.pairs, lambda line: print(line, flush=True))
    print(f"{'workload':15} {'reference tok/s':>16} {'leanformers tok/s':>18} {'pair ratio':>11} {'(CPU time)':>11}")
    for name, r in results.items():
        print(f"{name:15} {r['reference_tokens_per_s']:16.1f} {r['leanformers_tokens_per_s']:18.1f} "
              f"{r['median_pair_ratio']:11.2f} {r['median_pair_ratio_cpu_time']:11.2f}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
