/* Candidate layouts of the W4 decode GEMV (m = 1), under measurement: on the H200 the
 * runtime's kernel (w4_gemv.cu: 4 warps of 4 rows each, a row's chunks over one warp)
 * reached 0.29-0.44 of the copy bandwidth with ~8 warps per SM (bench/results/
 * cuda-h200.md). Here a block of W warps shares R rows and interleaves their chunks
 * (warp w, lane l: chunks 32 w + l, + 32 W, ...), U loads in flight per lane, so a 4096-row
 * weight gets out / R blocks of W warps; the partial sums are reduced over the lanes by
 * shuffles and over the warps in shared memory in a fixed order (deterministic). The
 * arithmetic per chunk is the runtime kernel's (w4_gemv_chunk.cuh), so the error bound is
 * the same. bench/cuda_gemv.cu times every variant; test_cuda_kernels checks them against
 * qf_cuda_w4_gemv_ref. */
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/w4_gemv_chunk.cuh"

template <int U, int R, int W>
__global__ void __launch_bounds__(W * 32)
    qf_w4_gemv_var_kernel(const uint4 *__restrict__ qw, const uint32_t *__restrict__ sz,
                          const uint4 *__restrict__ xh, float *__restrict__ y, int out,
                          int n_chunks, int chunks_per_group, int n_groups) {
    __shared__ float part[W][R];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int row0 = blockIdx.x * R;
    const uint4 *wrow[R];
    const uint32_t *srow[R];
    qf_w4_rows<R>(qw, sz, row0, out, n_chunks, n_groups, wrow, srow);
    const float yscale = (float)(1 << QF_CUDA_W4_XSHIFT);
    float acc[1][R] = {};
    for (int c0 = warp * 32 + lane; c0 < n_chunks; c0 += 32 * W * U) {
        uint4 wv[U][R];
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int r = 0; r < R; r++)
                wv[u][r] = c0 + 32 * W * u < n_chunks ? __ldcs(wrow[r] + c0 + 32 * W * u)
                                                      : make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + 32 * W * u;
            if (c >= n_chunks) break;
            qf_w4_chunk<1, R>(wv[u], srow, xh, c, c / chunks_per_group, n_chunks, yscale, acc);
        }
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
        float v = acc[0][r];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
        if (lane == 0) part[warp][r] = v;
    }
    __syncthreads();
    if (threadIdx.x < R && row0 + (int)threadIdx.x < out) {
        float v = 0.0f;
#pragma unroll
        for (int w = 0; w < W; w++) v += part[w][threadIdx.x];
        y[row0 + threadIdx.x] = v;
    }
}

/* The compiled variants: rows per block, warps per block, loads in flight per lane. */
static const qf_cuda_w4_variant qf_w4_variants[] = {
    {4, 4, 4}, {4, 4, 2}, {2, 4, 4}, {1, 4, 4}, {4, 8, 2}, {2, 8, 2}, {1, 8, 4}, {8, 4, 2},
};

extern "C" int qf_cuda_w4_variants(const qf_cuda_w4_variant **v) {
    *v = qf_w4_variants;
    return (int)(sizeof qf_w4_variants / sizeof *qf_w4_variants);
}

template <int U, int R, int W>
static void qf_w4_var_launch(const qf_cuda_w4_dev *d, const uint16_t *xh, float *y,
                             cudaStream_t s) {
    const unsigned blocks = (unsigned)((d->out + R - 1) / R);
    qf_w4_gemv_var_kernel<U, R, W><<<blocks, W * 32, 0, s>>>(
        (const uint4 *)d->qw, d->sz, (const uint4 *)xh, y, (int)d->out,
        (int)(d->kp / QF_CUDA_W4_CHUNK), (int)(d->gp / QF_CUDA_W4_CHUNK), (int)d->n_groups);
}

extern "C" qf_status qf_cuda_w4_gemv_variant(const qf_cuda_w4_dev *d, const uint16_t *xh,
                                             float *y, int variant, void *stream) {
    const int n = (int)(sizeof qf_w4_variants / sizeof *qf_w4_variants);
    QF_RETURN_IF(variant < 0 || variant >= n, QF_STATUS_INVALID_ARG,
                 "W4 GEMV variant %d not in [0, %d)", variant, n);
    QF_FORWARD(qf_w4_gemv_check(d, xh, y));
    cudaStream_t s = (cudaStream_t)stream;
    switch (variant) { /* qf_w4_variants in order; template arguments <unroll, rows, warps> */
    case 0: qf_w4_var_launch<4, 4, 4>(d, xh, y, s); break;
    case 1: qf_w4_var_launch<2, 4, 4>(d, xh, y, s); break;
    case 2: qf_w4_var_launch<4, 2, 4>(d, xh, y, s); break;
    case 3: qf_w4_var_launch<4, 1, 4>(d, xh, y, s); break;
    case 4: qf_w4_var_launch<2, 4, 8>(d, xh, y, s); break;
    case 5: qf_w4_var_launch<2, 2, 8>(d, xh, y, s); break;
    case 6: qf_w4_var_launch<4, 1, 8>(d, xh, y, s); break;
    default: qf_w4_var_launch<2, 8, 4>(d, xh, y, s); break;
    }
    QF_CUDA_LAUNCHED("W4 GEMV variant kernel");
    return QF_STATUS_OK;
}
