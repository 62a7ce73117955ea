#!/bin/sh
# GPTQ kernel speed, qforge vs llm-compressor, 2 threads (see results/gptq-kernel.md).
# Usage: bench/gptq_kernel.sh [build dir, default build] [python with llmcompressor]
set -e
cd "$(dirname "$0")/.."
B=${1:-build}
PY=${2:-/root/lcenv/bin/python}
cmake --build "$B" --target qforge_lib -j2 >/dev/null
cc -O2 -I. bench/gptq_kernel.c "$B/libqforge.a" $(pkg-config --libs openblas lapacke) -lm \
   -o "$B/gptq_kernel"
OPENBLAS_NUM_THREADS=2 "$B/gptq_kernel"
"$PY" bench/gptq_kernel_ref.py 2>&1 | grep -v WARNING
