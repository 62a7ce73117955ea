#!/usr/bin/env bash
# W8A8 CPU kernel speed, one thread (see bench/i8_kernels.c; results in
# results/smoothquant-smollm2.md). Builds with cc alone, like scripts/check-i8-kernels.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
grep -qw avx512_vnni /proc/cpuinfo && echo "CPU: avx512_vnni present" || echo "CPU: no avx512_vnni"
"${CC:-cc}" -std=c11 -O2 -D_GNU_SOURCE -I. bench/i8_kernels.c runtime/cpu/i8linear.c \
    runtime/cpu/i8gemm_avx2.c runtime/cpu/i8gemm_avx512.c core/status.c -lm -o "$out/b"
"$out/b"
