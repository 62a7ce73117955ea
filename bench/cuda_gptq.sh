#!/bin/sh
# GPTQ on a GPU machine, in one go (about 3 minutes, most of it the build): configures
# and builds build-cuda with CMake (Release, QF_WERROR, CUDA for the GPU present; needs
# the Debian dependencies of scripts/setup-deps.sh for the CPU reference), runs
# ctest -R cuda (test_cuda_gptq: GPU vs CPU GPTQ, test_cuda_gptq_host; the other
# CUDA kernels' tests come along), then bench/cuda_gptq.c: Hessian and quantization
# seconds, GPU vs CPU, at 4096x4096 and 4096x11008 with 2048 calibration rows.
# Usage: bench/cuda_gptq.sh [build dir, default build-cuda]
# QF_CUDA_ARCH (default native) goes to CMAKE_CUDA_ARCHITECTURES.
set -e
cd "$(dirname "$0")/.."
B=${1:-build-cuda}
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DQF_WERROR=ON -DQF_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="${QF_CUDA_ARCH:-native}" >/dev/null
cmake --build "$B" -j "$(nproc)"
rc=0
(cd "$B" && ctest -R cuda --output-on-failure) || rc=1
"$B/cuda_gptq" || rc=1
"$B/cuda_gptq" --act || rc=1
exit $rc
