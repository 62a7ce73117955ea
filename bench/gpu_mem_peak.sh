#!/usr/bin/env bash
# Runs CMD while nvidia-smi samples the GPU's used memory every 200 ms; prints the peak
# (device-wide: whatever else runs on the GPU counts too) and returns CMD's status.
# Usage: bench/gpu_mem_peak.sh CMD [ARGS...]
set -u
f=$(mktemp)
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$f" &
p=$!
"$@"
rc=$?
kill "$p" 2>/dev/null
wait "$p" 2>/dev/null
echo "peak GPU memory used: $(sort -n "$f" | tail -1) MiB (sampled every 200 ms)"
rm -f "$f"
exit "$rc"
