#!/usr/bin/env python3
"""The matrix products of one SmolLM2-135M decoding step, kernel against kernel, interleaved.

Every decoder projection of SmolLM2 (30 layers: fused q/k/v 960x576, o 576x576, fused gate/up
3072x576, down 576x1536; plus the 49152x576 LM head) multiplied by `rows` activation rows, with:

  linear    F.linear on the (out, in) weight (MKL's matrix-vector / GEMM)      -- fp32
  onednn    oneDNN's inner product on the (in, out) layout (rows 1) or its     -- fp32
            blocked layout (rows > 1): the second copy generate() used to keep
  int8      torch.ops.aten._weight_int8pack_mm, bf16 activations, per-channel scales
  int4      torch.ops.aten._weight_int4pack_mm_for_cpu, bf16 activations, groups of 32
  int4_f32  the same with fp32 activations and scales (exact arithmetic, slower)

Each round runs every kernel once, in turn (A, B, C, ... A, B, C ...); the report gives the median
per-step time, and the median with min/max over rounds of the ratio to `linear` of the same round.

    python benchmarks/bench_kernels.py --rows 1 8 --rounds 7 --threads 2
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

SHAPES = [(960, 576), (576, 576), (3072, 576), (576, 1536)] * 30 + [(49152, 576)]


def _weights(n, k):
    w = torch.randn(n, k) * 0.02
    s8 = w.abs().amax(1) / 127
    q8 = torch.round(w / s8[:, None]).clamp(-127, 127).to(torch.int8)
    g = w.reshape(n, k // 32, 32)
    lo, hi = g.amin(-1), g.amax(-1)
    sc = ((hi - lo) / 15).clamp(min=1e-8)
    q4 = torch.round((g - lo[..., None]) / sc[..., None]).clamp(0, 15).reshape(n, k).to(torch.int32)
    sz = torch.stack([sc.t(), (lo + 8 * sc).t()], -1).contiguous()
    return {"w": w, "t": w.t().contiguous().t(), "blocked": torch.ops.mkldnn._reorder_linear_weight(w, 8),
            "q8": q8, "s8": s8.bfloat16(), "q4": torch.ops.aten._convert_weight_to_int4pack_for_cpu(q4, 1),
            "sz": sz.bfloat16(), "sz32": sz}


def _step(kind, weights, xs, rows):
    t0 = time.perf_counter()
    for (n, k), d in zip(SHAPES, weights):
        x = xs[k]
        if kind == "linear":
            F.linear(x, d["w"])
        elif kind == "onednn":
            torch.ops.mkldnn._linear_pointwise(x, d["t"] if rows == 1 else d["blocked"], None, "none", [], "")
        elif kind == "int8":
            torch.ops.aten._weight_int8pack_mm(x.bfloat16(), d["q8"], d["s8"]).float()
        elif kind == "int4":
            torch.ops.aten._weight_int4pack_mm_for_cpu(x.bfloat16(), d["q4"], 32, d["sz"]).float()
        elif kind == "int4_f32":
            torch.ops.aten._weight_int4pack_mm_for_cpu(x, d["q4"], 32, d["sz32"])
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kinds", nargs="+", default=["linear", "onednn", "int8", "int4", "int4_f32"])
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    weights = [_weights(n, k) for n, k in SHAPES]
    report = {"load_before": os.getloadavg(), "threads": a.threads, "rows": {}}
    with torch.no_grad():
        for rows in a.rows:
            xs = {576: torch.randn(rows, 576), 1536: torch.randn(rows, 1536)}
            for kind in a.kinds:  # warm-up (first-call packing, page faults)
                _step(kind, weights, xs, rows)
            times = {k: [] for k in a.kinds}
            for _ in range(a.rounds):
                for kind in a.kinds:
                    times[kind].append(_step(kind, weights, xs, rows))
            res = {}
            for kind in a.kinds:
                ratios = [b / t for t, b in zip(times[kind], times["linear"])]  # >1: faster than linear
                res[kind] = {"median_ms": 1000 * statistics.median(times[kind]),
                             "speed_vs_linear": statistics.median(ratios),
                             "spread": [min(ratios), max(ratios)]}
                print(f"rows {rows:2d} {kind:9s} {res[kind]['median_ms']:8.1f} ms/step  "
                      f"x{res[kind]['speed_vs_linear']:.2f} vs linear (min {min(ratios):.2f}, max {max(ratios):.2f})",
                      flush=True)
            report["rows"][rows] = res
    report["load_after"] = os.getloadavg()
    print("load average before/after:", report["load_before"], report["load_after"])
    if a.out:
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
