#!/usr/bin/env python3
"""Greedy decoding per decoder family: leanformers vs the reference (transformers), one row each.

For every decoder family in leanformers/models/ a small-but-not-tiny random model (hidden 256,
4 layers, 4 heads / 2 KV heads, vocab 4096; MoE: 4 experts, top-2) is built by the reference and
saved once; both libraries load it in fp32 and greedily generate 64 new tokens at batch 1 from the
same 16-token prompt. The two runs alternate A B A B ... in this one process (after one short
untimed warm-up each), so both see the same machine state, and every pair's tokens must be
identical. The row reports the median of the per-pair ratios reference time / leanformers time
(> 1: leanformers is faster), their min-max spread, the median times, and the 1-minute load
average before and after the family (the machine is shared, so read ratios, not times).

    python benchmarks/bench_families.py [--pairs 5] [--threads 2] [--families llama,qwen3]
                                        [--models-dir benchmarks/out/families] [--out families.json]
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's leanformers, not an installed one

NEW_TOKENS, PROMPT_LEN = 64, 16
COMMON = dict(vocab_size=4096, hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=0)
# model_type -> extra config fields (the reference's names); sliding windows shorter than the 80 positions
# decoded, so that the windowed path is the one timed
FAMILIES = {
    "llama": {},
    "mistral": {"sliding_window": 32},
    "qwen2": {},
    "qwen3": {"head_dim": 64},
    "gemma": {"head_dim": 64},
    "gemma2": {"head_dim": 64, "sliding_window": 32},
    "gemma3_text": {"head_dim": 64, "sliding_window": 32},
    "phi3": {},
    "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2},
    "qwen3_moe": {"head_dim": 64, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 256},
    "olmo2": {},
    "smollm3": {},
    "gpt_neox": {"num_key_value_heads": None, "intermediate_size": 1024, "rotary_pct": 0.25},
}


def build_model(model_type, folder):
    """The reference's random model of this family, saved once (a second run reuses it)."""
    if os.path.exists(os.path.join(folder, "config.json")):
        return
    import torch
    import transformers

    fields = {k: v for k, v in dict(COMMON, **FAMILIES[model_type]).items() if v is not None}
    config = transformers.AutoConfig.for_model(model_type, **fields)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)


def timed_generate(model, ids, torch, new_tokens=NEW_TOKENS):
    kw = dict(do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
    return time.perf_counter() - t0, out


def bench_family(model_type, folder, pairs):
    import torch
    import transformers

    import leanformers

    ref = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ours = leanformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = torch.randint(3, COMMON["vocab_size"], (1, PROMPT_LEN), generator=torch.Generator().manual_seed(0))
    load_before = os.getloadavg()[0]
    timed_generate(ref, ids, torch, 8)  # warm-up (first-call set-up), short: the machine is shared
    timed_generate(ours, ids, torch, 8)
    ours_s, ref_s = [], []
    for _ in range(pairs):  # A B A B: leanformers, then the reference, in each pair; every output compared
        t, ours_out = timed_generate(ours, ids, torch)
        ours_s.append(t)
        t, ref_out = timed_generate(ref, ids, torch)
        ref_s.append(t)
        assert ours_out.shape == (1, PROMPT_LEN + NEW_TOKENS), ours_out.shape
        assert ours_out.tolist() == ref_out.tolist(), f"{model_type}: leanformers' tokens differ from the reference's"
    ratios = [r / o for r, o in zip(ref_s, ours_s)]
    return {"family": model_type, "pairs": pairs, "leanformers_s": ours_s, "reference_s": ref_s,
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "leanformers_median_s": statistics.median(ours_s), "reference_median_s": statistics.median(ref_s),
            "loadavg1_before": load_before, "loadavg1_after": os.getloadavg()[0], "tokens_identical": True}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--models-dir", default=os.path.join(HERE, "out", "families"))
    parser.add_argument("--out", default=os.path.join(HERE, "out", "families.json"))
    args = parser.parse_args()

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    rows, failed = [], []
    for model_type in args.families.split(","):
        folder = os.path.join(args.models_dir, model_type)
        build_model(model_type, folder)
        try:
            rows.append(bench_family(model_type, folder, args.pairs))
        except AssertionError as e:  # a family that decodes differently is reported, the others still run
            failed.append(f"{model_type}: {e}")
            print(f"FAILED {model_type}: {e}", file=sys.stderr, flush=True)
            continue
        r = rows[-1]
        print(f"{model_type}: x{r['ratio_median']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})", file=sys.stderr,
              flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    meta = {"torch": torch.__version__, "transformers": transformers.__version__, "threads": args.threads,
            "cpus": os.cpu_count(), "new_tokens": NEW_TOKENS, "prompt_len": PROMPT_LEN, "batch": 1}
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "rows": rows, "failed": failed}, f, indent=1)

    print(f"Greedy generate, {NEW_TOKENS} new tokens, batch 1, fp32, torch threads {args.threads} "
          f"(torch {meta['torch']}, transformers {meta['transformers']}); ratio = reference time / leanformers "
          f"time, median of {args.pairs} interleaved pairs (min-max)\n")
    print("| family | ratio (min-max) | leanformers s | reference s | load avg 1 min (before / after) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['family']} | **{r['ratio_median']:.2f}×** ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | "
              f"{r['leanformers_median_s']:.3f} | {r['reference_median_s']:.3f} | "
              f"{r['loadavg1_before']:.1f} / {r['loadavg1_after']:.1f} |")
    for line in failed:
        print(f"| FAILED | {line} |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
