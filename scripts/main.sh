#!/usr/bin/env bash
# The main job: the sentiment pipeline on the course's two sentences, with the embedded default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/leanformers run sentiment-analysis \
  "I've been waiting for a HuggingFace course my whole life." "I hate this so much!"
