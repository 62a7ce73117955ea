#!/usr/bin/env bash
# Usage: scripts/build-i8-kernels.sh MAIN.c OUT — compiles MAIN.c with the W8A8 CPU
# kernels (runtime/cpu/i8linear.c, i8gemm_avx2.c, i8gemm_avx512.c) using cc alone (no
# CMake, no libraries), for scripts/check-i8-kernels.sh and bench/i8_kernels.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
"${CC:-cc}" -std=c11 -O2 -D_GNU_SOURCE -I. -DQF_FIXTURES_DIR='""' -DQF_SHARED_DIR='""' \
    -DQF_QFORGE_BIN='""' "$1" runtime/cpu/i8linear.c runtime/cpu/i8gemm_avx2.c \
    runtime/cpu/i8gemm_avx512.c core/status.c -lm -o "$2"
