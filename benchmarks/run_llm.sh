#!/usr/bin/env bash
# Regenerate every figure of RESULTS.md's "Local LLM decoding" section (issue 13) in one command:
#   bash benchmarks/run_llm.sh [ROUNDS]        (default 5 interleaved rounds)
# llama.cpp joins as a peer when benchmarks/build_llama_cpp.sh has made benchmarks/.venv-llamacpp.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
R=${1:-5}
OUT=benchmarks/out
mkdir -p "$OUT"
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
$PY benchmarks/bench_kernels.py --rows 1 8 --rounds 7 --threads 1 --out "$OUT/kernels.json" | tee "$OUT/kernels.txt"
$PY benchmarks/bench_quant_accuracy.py --out "$OUT/quant_accuracy.json" 2>/dev/null | tee "$OUT/quant_accuracy.txt"
$PY benchmarks/bench_llm.py --rounds "$R" --impls ref fp32 gguf int4 llamacpp --batch 1 --new-tokens 32 \
    --prefill 512 --prefill-reps 1 --out "$OUT/llm_b1.json" | tee "$OUT/llm_b1.txt"
$PY benchmarks/bench_llm.py --model 0.5b --rounds "$R" --impls ref fp32 gguf int4 llamacpp --batch 1 --new-tokens 32 \
    --prefill 512 --prefill-reps 1 --out "$OUT/llm_05b_b1.json" | tee "$OUT/llm_05b_b1.txt"
$PY benchmarks/bench_llm.py --rounds "$R" --impls ref fp32 fp32@t2 int4 --batch 8 --new-tokens 16 \
    --prefill 64 --background 1 --out "$OUT/llm_b8_busy.json" | tee "$OUT/llm_b8_busy.txt"
$PY benchmarks/bench_llm.py --rounds "$R" --impls ref fp32 fp32@t2 --batch 1 --new-tokens 32 \
    --prefill 64 --background 1 --out "$OUT/llm_b1_busy.json" | tee "$OUT/llm_b1_busy.txt"
$PY benchmarks/bench_bf16.py --rounds "$R" --texts 128 --out "$OUT/bf16.json" 2>/dev/null | tee "$OUT/bf16.txt"
