#!/usr/bin/env bash
# Build llama-cpp-python from its source distribution into a benchmark-only venv.
# llama.cpp is a *peer* for benchmarks/bench_llm.py, never a dependency of leanformers:
# the wheel is cached outside the repository and installed into benchmarks/.venv-llamacpp
# (gitignored). Re-running reuses the cached wheel.
#
# AMX: on this project's CPU llama.cpp's AMX extra buffer type crashes, so the build
# targets AVX-512 (+VNNI, +BF16) explicitly with GGML_NATIVE=OFF and no AMX flags; the
# benchmark also opens models with use_extra_bufts=False.
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${LLAMACPP_VENV:-$HERE/.venv-llamacpp}"
CACHE="${LEANFORMERS_BENCH_CACHE:-$HOME/.cache/leanformers-bench}"
WHEELS="$CACHE/wheels"
PY="${PYTHON:-python3}"
mkdir -p "$WHEELS"

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip

if ! ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
-DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=ON \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF}"
  echo "building llama-cpp-python==$VERSION from sdist with CMAKE_ARGS=$CMAKE_ARGS"
  "$VENV/bin/python" -m pip wheel --no-binary llama-cpp-python --no-deps \
      -w "$WHEELS" "llama-cpp-python==$VERSION"
fi
"$VENV/bin/python" -m pip install -q "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl
"$VENV/bin/python" -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, 'ready in', '$VENV')"
