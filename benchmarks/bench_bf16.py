#!/usr/bin/env python3
"""bf16 against fp32 in leanformers' text-classification pipeline (the CPU's bf16 path: oneDNN's
AVX512-BF16 / AMX kernels where the CPU has them).

  speed   a BERT-base-sized BertForSequenceClassification (random weights, seed 0, the embedded
          sentiment model's tokenizer) over --texts sentences, batch 32: sentences/s in fp32 and
          in dtype="bf16", interleaved fp32, bf16, fp32, bf16 ... (--rounds pairs, one process:
          start-up is not what is compared), median of the per-pair ratios with min/max
  labels  the embedded sentiment model (leanformers' default for sentiment-analysis) on 1,000
          sentences: share of bf16 labels equal to the fp32 labels, and the largest score difference

Sentences: --corpus FILE (one per line; benchmarks/make_models.py writes corpus/sentences.txt), or
by default the docstring lines of the Python standard library modules below (same on every machine
with the same Python).

    python benchmarks/bench_bf16.py --rounds 5 --out benchmarks/out/bf16.json
"""
import argparse
import importlib
import json
import os
import shutil
import statistics
import tempfile
import time

import torch

import leanformers

MODULES = ["os", "json", "argparse", "collections", "functools", "itertools", "pathlib", "re", "statistics",
           "subprocess", "tempfile", "threading", "typing", "unittest", "email", "http.client", "logging",
           "asyncio", "decimal", "fractions", "inspect", "pickle", "random", "socket", "string", "textwrap"]


def sentences(n, corpus=None):
    if corpus:
        with open(corpus, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()][:n]
    out = []
    for name in MODULES:
        mod = importlib.import_module(name)
        for obj in [mod] + [getattr(mod, a, None) for a in sorted(dir(mod)) if not a.startswith("_")]:
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str):
                out += [s.strip() for s in doc.split("\n\n") if 20 < len(s.strip()) < 400]
    seen, unique = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            unique.append(" ".join(s.split()))
    if len(unique) < n:
        raise SystemExit(f"only {len(unique)} sentences found; pass --corpus")
    return unique[:n]


def bert_base(folder):
    from leanformers.pipelines import _default_model  # the embedded sentiment model's folder

    src = _default_model("text-classification")
    from leanformers.models.bert import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=BertConfig.from_pretrained(src).vocab_size, num_labels=2)  # BERT-base sizes
    BertForSequenceClassification(config).save_pretrained(folder)
    for name in os.listdir(src):
        if name.startswith(("tokenizer", "vocab", "special_tokens")):
            shutil.copy(os.path.join(src, name), folder)
    return folder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--texts", type=int, default=256, help="sentences per speed measurement")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--corpus")
    ap.add_argument("--skip-labels", action="store_true", help="only the speed part")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    texts = sentences(1000, a.corpus)
    report = {"load_before": os.getloadavg()}

    # labels on the embedded sentiment model
    if not a.skip_labels:
        labels(texts, report)
    speed(texts, a, report)


def labels(texts, report):
    fp32 = leanformers.pipeline("sentiment-analysis")
    bf16 = leanformers.pipeline("sentiment-analysis", dtype="bf16")
    a32, a16 = fp32(texts, batch_size=32), bf16(texts, batch_size=32)
    same = sum(x["label"] == y["label"] for x, y in zip(a32, a16)) / len(texts)
    worst = max(abs(x["score"] - y["score"]) for x, y in zip(a32, a16) if x["label"] == y["label"])
    report["labels"] = {"same_label_share": same, "max_score_diff_same_label": worst, "n": len(texts)}
    print(f"embedded sentiment model, {len(texts)} sentences: bf16 label == fp32 label on {100 * same:.2f}%, "
          f"largest score difference (same label) {worst:.4f}", flush=True)


def speed(texts, a, report):
    with tempfile.TemporaryDirectory() as tmp:
        folder = bert_base(tmp)
        pipes = {"fp32": leanformers.pipeline("text-classification", model=folder, device="cpu"),
                 "bf16": leanformers.pipeline("text-classification", model=folder, device="cpu", dtype="bfloat16")}
        work = texts[:a.texts]
        for p in pipes.values():
            p(work[:32], batch_size=32)  # warm-up
        times = {k: [] for k in pipes}
        for _ in range(a.rounds):
            for k, p in pipes.items():
                t0 = time.perf_counter()
                p(work, batch_size=32)
                times[k].append(time.perf_counter() - t0)
    ratios = [f / b for f, b in zip(times["fp32"], times["bf16"])]
    report["speed"] = {k: {"sentences_per_s": len(work) / statistics.median(v)} for k, v in times.items()}
    report["speed"]["bf16_over_fp32"] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    report["load_after"] = os.getloadavg()
    print(f"BERT-base text-classification, {len(work)} sentences, batch 32, {a.threads} threads, {a.rounds} pairs: "
          f"fp32 {report['speed']['fp32']['sentences_per_s']:.1f}/s, bf16 {report['speed']['bf16']['sentences_per_s']:.1f}/s, "
          f"bf16/fp32 ×{statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}]; load average "
          f"before {report['load_before'][0]:.1f}, after {report['load_after'][0]:.1f}")
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
