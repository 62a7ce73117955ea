/* The W4 GEMV's arithmetic on one 16-byte chunk (32 packed columns) of R rows for M
 * tokens and its argument check, shared by the decode kernels (w4_gemv.cu, w4_gemv_variants.cu); the cost and
 * error analysis are in w4_gemv.cu's header. Internal to runtime/cuda. */
#ifndef QF_CUDA_W4_GEMV_CHUNK_CUH
#define QF_CUDA_W4_GEMV_CHUNK_CUH

#include <cuda_fp16.h>
#include <string.h>

#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/w4_layout.h"

static __device__ __forceinline__ half2 qf_w4_h2(uint32_t v) {
    half2 h;
    memcpy(&h, &v, sizeof h);
    return h;
}

static __device__ __forceinline__ uint32_t qf_w4_word(const uint4 &v, int j) {
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

/* The W4 GEMV kernels' argument check (layout shape, xh 16-byte and y 4-byte aligned). */
static inline qf_status qf_w4_gemv_check(const qf_cuda_w4_dev *d, const uint16_t *xh,
                                         const float *y) {
    QF_RETURN_IF(!d->qw || d->out < 1 || d->out > QF_CUDA_W4_MAX_DIM ||
                     d->kp % QF_CUDA_W4_CHUNK || d->gp % QF_CUDA_W4_CHUNK ||
                     d->kp > QF_CUDA_W4_MAX_DIM || d->kp != d->n_groups * d->gp,
                 QF_STATUS_INVALID_ARG, "W4 GEMV: bad layout (out %lld, kp %lld, gp %lld)",
                 (long long)d->out, (long long)d->kp, (long long)d->gp);
    QF_RETURN_IF((uintptr_t)xh % 16 || (uintptr_t)y % 4, QF_STATUS_INVALID_ARG,
                 "W4 GEMV: xh not 16-byte aligned or y not 4-byte aligned");
    return QF_STATUS_OK;
}

/* Codes and (scale, zero) pairs of rows row0 .. row0 + R - 1; rows past the end repeat
 * the last (computed, never stored). */
template <int R>
static __device__ __forceinline__ void qf_w4_rows(const uint4 *qw, const uint32_t *sz, int row0,
                                                  int out, int n_chunks, int n_groups,
                                                  const uint4 *(&wrow)[R],
                                                  const uint32_t *(&srow)[R]) {
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int row = min(row0 + r, out - 1);
        wrow[r] = qw + (size_t)row * n_chunks;
        srow[r] = sz + (size_t)row * n_groups;
    }
}

/* acc[t][r] += x_t . (chunk c of row r): wv[r] the chunk's codes, srow[r] the row's
 * (scale, 1024 + zero) pairs (group g), xh the prepared activations ((M, n_chunks * 4)
 * 8-half vectors), yscale = 2^XSHIFT. */
template <int M, int R>
static __device__ __forceinline__ void qf_w4_chunk(const uint4 (&wv)[R],
                                                   const uint32_t *const (&srow)[R],
                                                   const uint4 *__restrict__ xh, int c, int g,
                                                   int n_chunks, float yscale,
                                                   float (&acc)[M][R]) {
    float s[R];
    half2 zm[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const half2 p = qf_w4_h2(__ldg(srow[r] + g));
        s[r] = __low2float(p) * yscale;
        zm[r] = __high2half2(p);
    }
#pragma unroll
    for (int j = 0; j < 4; j++) {
        half2 d[R][4];
#pragma unroll
        for (int r = 0; r < R; r++) {
            const uint32_t word = qf_w4_word(wv[r], j);
#pragma unroll
            for (int k = 0; k < 4; k++)
                d[r][k] = __hsub2(qf_w4_h2(qf_cuda_w4_pair_bits(word, k)), zm[r]);
        }
#pragma unroll
        for (int t = 0; t < M; t++) {
            const uint4 xv = __ldg(xh + ((size_t)t * n_chunks + c) * 4 + j);
            const half2 x0 = qf_w4_h2(xv.x), x1 = qf_w4_h2(xv.y);
            const half2 x2 = qf_w4_h2(xv.z), x3 = qf_w4_h2(xv.w);
#pragma unroll
            for (int r = 0; r < R; r++) {
                half2 p = __hmul2(d[r][0], x0);
                p = __hfma2(d[r][1], x1, p);
                p = __hfma2(d[r][2], x2, p);
                p = __hfma2(d[r][3], x3, p);
                const float2 f = __half22float2(p);
                acc[t][r] = fmaf(f.x, s[r], acc[t][r]);
                acc[t][r] = fmaf(f.y, s[r], acc[t][r]);
            }
        }
    }
}

#endif
