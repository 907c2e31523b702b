#!/usr/bin/env bash
# Run every side-by-side benchmark (leanformers vs the reference, same machine, same session) and
# print the markdown tables that go into benchmarks/RESULTS.md.
#   bash benchmarks/run.sh [--repeat-scale 0.5]     (extra args go to bench_api.py)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
PY=.venv/bin/python
OUT=benchmarks/out
MODELS=$(pwd)/$OUT/models  # absolute: workers run in an empty temporary folder
mkdir -p "$OUT"
[ -f "$MODELS/MANIFEST.json" ] || $PY benchmarks/make_models.py --out "$MODELS"
for impl in transformers leanformers; do
  $PY benchmarks/bench_api.py --impl "$impl" --models-dir "$MODELS" --out "$OUT/$impl.json" "$@"
done
$PY benchmarks/bench_api.py --report "$OUT/transformers.json" "$OUT/leanformers.json" | tee "$OUT/report.md"
$PY benchmarks/bench_extra.py --models-dir "$MODELS" --out "$OUT/extra.json" | tee "$OUT/extra.txt"
