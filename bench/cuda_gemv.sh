#!/bin/sh
# The CUDA kernels on a GPU machine, in one go (a few minutes): builds the CUDA tests and
# the W4A16 GEMV bench with nvcc + cc alone (no CMake, none of qforge's other
# dependencies: a bare machine with the CUDA toolkit will do), runs the tests (the layout
# on the CPU, every kernel against its CPU reference on the GPU, the attention kernels
# too), then the bench (GEMV GB/s vs device-to-device copy GB/s; W4 prefill vs cuBLAS fp16).
# Usage: bench/cuda_gemv.sh [out dir, default build-cuda-bench]
# QF_CUDA_ARCH (default native: the GPU present) is passed to nvcc -arch.
set -e
cd "$(dirname "$0")/.."
B=${1:-build-cuda-bench}
ARCH=${QF_CUDA_ARCH:-native}
mkdir -p "$B"
CFLAGS="-std=c11 -O2 -D_GNU_SOURCE -I."
objs=""
pids=""
for f in core/status.c core/dtype.c core/qweight.c runtime/cuda/w4_layout.c \
         runtime/cpu/rmsnorm.c runtime/cpu/rope.c runtime/cpu/swiglu.c \
         runtime/cuda/attention_plan.c runtime/cuda/attention_ref.c runtime/cpu/i8linear.c \
         runtime/cpu/i8gemm_avx2.c runtime/cpu/i8gemm_avx512.c; do
    o="$B/$(echo "$f" | tr / _).o"
    cc $CFLAGS -c "$f" -o "$o" &
    pids="$pids $!"
    objs="$objs $o"
done
for f in runtime/cuda/cuda_mem.cu runtime/cuda/w4_gemv.cu runtime/cuda/w4_gemv_variants.cu \
         runtime/cuda/w4_dequant.cu runtime/cuda/w4_gemm.cu runtime/cuda/i8_linear.cu \
         runtime/cuda/rmsnorm.cu \
         runtime/cuda/rope.cu runtime/cuda/swiglu.cu runtime/cuda/attention_kv.cu \
         runtime/cuda/attention_prefill.cu runtime/cuda/attention_decode.cu; do
    o="$B/$(echo "$f" | tr / _).o"
    nvcc -O3 -std=c++17 -arch="$ARCH" -I. -c "$f" -o "$o" &
    pids="$pids $!"
    objs="$objs $o"
done
for t in test_cuda_kernels test_cuda_w4_layout test_cuda_attention; do
    cc $CFLAGS -c "tests/$t.c" -o "$B/$t.o" &
    pids="$pids $!"
done
nvcc -O3 -std=c++17 -arch="$ARCH" -I. -c bench/cuda_gemv.cu -o "$B/cuda_gemv.o" &
pids="$pids $!"
for p in $pids; do wait "$p"; done # set -e: stop at the first failed compile
nvcc -arch="$ARCH" -o "$B/test_cuda_kernels" "$B/test_cuda_kernels.o" $objs -lcublas -lm
nvcc -arch="$ARCH" -o "$B/test_cuda_w4_layout" "$B/test_cuda_w4_layout.o" $objs -lcublas -lm
nvcc -arch="$ARCH" -o "$B/test_cuda_attention" "$B/test_cuda_attention.o" $objs -lcublas -lm
nvcc -arch="$ARCH" -o "$B/cuda_gemv" "$B/cuda_gemv.o" $objs -lcublas -lm
rc=0 # 1 if anything failed, else 77 if anything skipped (no GPU), else 0
for prog in test_cuda_w4_layout test_cuda_kernels test_cuda_attention cuda_gemv; do
    s=0
    "$B/$prog" || s=$?
    if [ "$s" -ne 0 ] && [ "$rc" -ne 1 ]; then rc=$([ "$s" -eq 77 ] && echo 77 || echo 1); fi
done
exit $rc
