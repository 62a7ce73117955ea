#!/usr/bin/env bash
# W8A8 CPU kernel speed, one thread (see bench/i8_kernels.c; results in
# results/smoothquant-smollm2.md). Builds with cc alone (scripts/build-i8-kernels.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
grep -qw avx512_vnni /proc/cpuinfo && echo "CPU: avx512_vnni present" || echo "CPU: no avx512_vnni"
scripts/build-i8-kernels.sh bench/i8_kernels.c "$out/b"
"$out/b"
