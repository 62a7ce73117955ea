#!/usr/bin/env bash
# Benchmarks `qforge convert` (GGUF -> HF) and `qforge inspect` on the real model:
# wall time and peak RSS (GNU time), median of 3 runs per dtype. Writes a Markdown
# table to stdout; bench/results/convert-smollm2.md holds a recorded run.
# Usage: bench/convert.sh [path/to/qforge]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/qforge}"
gguf="$(scripts/get-model.sh | tail -n 1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

measure() { # prints "seconds maxrss_kb" of one run of "$@"
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
    cat "$work/time"
}
median() { sort -n | sed -n 2p; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "model: $gguf ($(du -m "$gguf" | cut -f1) MB)"
echo
echo "| command | wall s (median of 3) | peak RSS MiB (median) | output MB |"
echo "|---|---|---|---|"
for dtype in f32 f16 bf16; do
    : > "$work/runs"
    for i in 1 2 3; do
        rm -rf "$work/out"
        measure "$bin" convert "$gguf" --to hf "$work/out" --dtype "$dtype" >> "$work/runs"
    done
    s=$(cut -d' ' -f1 "$work/runs" | median)
    r=$(cut -d' ' -f2 "$work/runs" | median)
    echo "| convert --dtype $dtype | $s | $((r / 1024)) | $(du -m "$work/out/model.safetensors" | cut -f1) |"
done
: > "$work/runs"
for i in 1 2 3; do measure "$bin" inspect "$gguf" >> "$work/runs"; done
echo "| inspect (GGUF) | $(cut -d' ' -f1 "$work/runs" | median) | $(( $(cut -d' ' -f2 "$work/runs" | median) / 1024 )) | - |"
