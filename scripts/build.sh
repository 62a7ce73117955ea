#!/usr/bin/env bash
# Configures and builds qforge in build/ (Release, warnings as errors). Extra arguments
# go to cmake, e.g. scripts/build.sh -DQF_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DQF_WERROR=ON "$@" >/dev/null
cmake --build build -j "$(nproc)"
