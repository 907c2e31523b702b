#!/usr/bin/env bash
# Fetch the real tokenizer files the tests compare against (../shared/MODELS.md) into tests/.data/:
#   gpt2/          GPT-2's vocab.json + merges.txt + tokenizer_config.json + special_tokens_map.json
#   multilingual/  Whisper's multilingual byte-level BPE (same file set + added_tokens.json)
#                  (both from the openai-whisper==20230124 sdist, whisper/assets/)
#   sentencepiece/ test_model.model, test_ja_model.model, botchan.txt (sentencepiece==0.2.0 sdist, test/)
# Idempotent: when every file is there it downloads nothing. Only pip talks to the network.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
DATA=tests/.data
WANT=(gpt2/vocab.json gpt2/merges.txt gpt2/tokenizer_config.json gpt2/special_tokens_map.json
      multilingual/vocab.json multilingual/merges.txt multilingual/tokenizer_config.json
      multilingual/special_tokens_map.json multilingual/added_tokens.json
      sentencepiece/test_model.model sentencepiece/test_ja_model.model sentencepiece/botchan.txt)
missing=0
for f in "${WANT[@]}"; do [ -s "$DATA/$f" ] || missing=1; done
[ "$missing" = 0 ] && exit 0

downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
pip_download() { "$PY" -m pip -q --disable-pip-version-check download --no-deps --no-binary :all: -d "$downloads" "$@"; }
# openai-whisper's setup.py imports pkg_resources, which setuptools>=70 no longer ships: pip has to
# prepare its metadata with an older setuptools in the isolated build environment. pip>=25.3 takes
# --build-constraint; older pips apply PIP_CONSTRAINT to build environments instead.
echo "setuptools<70" > "$downloads/build-constraints.txt"
if "$PY" -m pip download --help 2>/dev/null | grep -q -- "--build-constraint"; then
  pip_download --build-constraint "$downloads/build-constraints.txt" "openai-whisper==20230124"
else
  PIP_CONSTRAINT="$downloads/build-constraints.txt" pip_download "openai-whisper==20230124"
fi
pip_download "sentencepiece==0.2.0"

# Extract only the named members (never tar's own paths), each written atomically.
"$PY" - "$downloads" "$DATA" <<'EOF'
import os, sys, tarfile

downloads, data = sys.argv[1], sys.argv[2]
wanted = {
    "openai-whisper-20230124.tar.gz": {
        f"openai-whisper-20230124/whisper/assets/{family}/{name}": f"{family}/{name}"
        for family in ("gpt2", "multilingual")
        for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
    },
    "sentencepiece-0.2.0.tar.gz": {
        f"sentencepiece-0.2.0/test/{name}": f"sentencepiece/{name}"
        for name in ("test_model.model", "test_ja_model.model", "botchan.txt")
    },
}
for archive, members in wanted.items():
    with tarfile.open(os.path.join(downloads, archive)) as tar:
        for member, target in members.items():
            try:
                source = tar.extractfile(member)
            except KeyError:
                continue  # gpt2/ has no added_tokens.json
            target = os.path.join(data, target)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target + ".tmp", "wb") as out:
                out.write(source.read())
            os.replace(target + ".tmp", target)
EOF
for f in "${WANT[@]}"; do
  [ -s "$DATA/$f" ] || { echo "fetch_test_data: $DATA/$f is missing after extraction" >&2; exit 1; }
done
echo "fetch_test_data: real tokenizer files are in $DATA/"
