#!/usr/bin/env bash
# Builds tests/test_i8kernels.c with cc alone (no CMake, no libraries) and runs it: the
# W8A8 kernels (scalar ref, AVX2, AVX-512 VNNI) against their definition and each other.
# For machines without the project's build dependencies whose CPU has AVX-512 VNNI (the
# dev and CI machines have only AVX2, so the VNNI kernel never runs there), e.g. the GPU
# device host. Exit status: the test's; it says which kernels ran.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
grep -qw avx512_vnni /proc/cpuinfo && echo "CPU: avx512_vnni present" || echo "CPU: no avx512_vnni"
scripts/build-i8-kernels.sh tests/test_i8kernels.c "$out/t"
"$out/t"
