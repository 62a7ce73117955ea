#!/usr/bin/env bash
# The test suite (what CI runs): installs dependencies, fetches the real model, then
#  1. Release build (warnings as errors, CUDA compiled when nvcc exists): all ctest tests;
#  2. ASan+UBSan build: every test again except those labelled slow (whole-model
#     evaluation runs, which take minutes under the sanitizers);
#  3. clang libFuzzer build: each fuzz target for QF_FUZZ_SECONDS (default 60) seconds.
# Set QF_TEST_QUICK=1 to run step 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
scripts/setup-deps.sh
scripts/get-model.sh >/dev/null

echo "== release build + all tests"
scripts/build.sh
(cd build && ctest --output-on-failure -j "$jobs")
[ "${QF_TEST_QUICK:-0}" = 1 ] && exit 0

echo "== ASan+UBSan build + all tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQF_WERROR=ON -DQF_CUDA=OFF \
    -DQF_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ctest --output-on-failure -j "$jobs" -LE slow)

echo "== libFuzzer targets (${QF_FUZZ_SECONDS:-60} s each)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQF_CUDA=OFF -DQF_FUZZ=ON \
    -DQF_SANITIZE=address,undefined -DBUILD_TESTING=ON >/dev/null
cmake --build build-fuzz -j "$jobs" --target $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
for src in tests/fuzz/fuzz_*.c; do
    name="$(basename "$src" .c)"
    corpus="tests/fuzz/corpus/${name#fuzz_}"
    work="$(mktemp -d)"
    echo "-- $name"
    build-fuzz/tests/"$name" -max_total_time="${QF_FUZZ_SECONDS:-60}" -max_len=65536 \
        -rss_limit_mb=4096 -print_final_stats=1 "$work" "$corpus" 2>&1 | tail -n 12
    rm -rf "$work"
done
echo "test.sh: all passed"
