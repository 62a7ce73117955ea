/* W4A16 decode GEMV on the qf_cuda_w4 layout (w4_layout.h), batch 1..8 tokens, and the
 * activation prep (act-order gather + fp16). Built for bandwidth: the weights are read
 * once, as 16-byte streaming loads, coalesced along each row (lane l reads chunks
 * l, l + 32, ...), several loads in flight per lane (QF_W4_ROWS rows x U chunks); each
 * warp computes QF_W4_ROWS rows so that an activation load (fp16, L1-resident) serves all
 * of them; warp-shuffle reductions at the end, one store per (token, row).
 *
 * Arithmetic per 32-bit word (8 codes) and row: 4 AND/OR (qf_cuda_w4_pair_bits) give
 * the fp16 pairs 1024 + q, 4 HSUB2 give q - zero exactly, 1 HMUL2 + 3 HFMA2 the pairwise
 * sums of 4 products with x * 2^-6 in fp16, then fp32: the two halves times the group's
 * scale * 2^6 added to the accumulators: 19 instructions per 8 weights (7 integer), i.e.
 * 2.4 a weight of the ~3.5 that H200's 4.8 TB/s leaves at full issue rate (132 SMs x 128
 * lanes x 1.98 GHz / 9.6e12 weights/s); an estimate from the PTX, not a measurement.
 * Error bound: cuda_kernels.h, derivation in tests/test_cuda_kernels.c. */
#include <string.h>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/w4_gemv_chunk.cuh"

#define QF_W4_ROWS 4  /* rows per warp */
#define QF_W4_WARPS 4 /* warps per block */

/* M tokens; U 16-byte chunks per row in flight per lane. qw: (out, n_chunks) chunks of 32
 * codes; sz: (out, n_groups) fp16 pairs; xh: (M, n_chunks * 4) 8-half vectors;
 * y: (M, out). */
template <int M, int U>
__global__ void __launch_bounds__(QF_W4_WARPS * 32)
    qf_w4_gemv_kernel(const uint4 *__restrict__ qw, const uint32_t *__restrict__ sz,
                      const uint4 *__restrict__ xh, float *__restrict__ y, int out,
                      int n_chunks, int chunks_per_group, int n_groups) {
    const int lane = threadIdx.x & 31;
    const int row0 = (blockIdx.x * QF_W4_WARPS + (threadIdx.x >> 5)) * QF_W4_ROWS;
    if (row0 >= out) return; /* whole warps only */
    const uint4 *wrow[QF_W4_ROWS];
    const uint32_t *srow[QF_W4_ROWS];
    qf_w4_rows<QF_W4_ROWS>(qw, sz, row0, out, n_chunks, n_groups, wrow, srow);
    const float yscale = (float)(1 << QF_CUDA_W4_XSHIFT);
    float acc[M][QF_W4_ROWS] = {};
    for (int c0 = lane; c0 < n_chunks; c0 += 32 * U) {
        uint4 wv[U][QF_W4_ROWS];
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int r = 0; r < QF_W4_ROWS; r++)
                wv[u][r] = c0 + 32 * u < n_chunks ? __ldcs(wrow[r] + c0 + 32 * u)
                                                  : make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = c0 + 32 * u;
            if (c >= n_chunks) break;
            qf_w4_chunk<M, QF_W4_ROWS>(wv[u], srow, xh, c, c / chunks_per_group, n_chunks,
                                       yscale, acc);
        }
    }
#pragma unroll
    for (int t = 0; t < M; t++)
#pragma unroll
        for (int r = 0; r < QF_W4_ROWS; r++) {
            float v = acc[t][r];
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
            if (lane == t * QF_W4_ROWS + r && row0 + r < out) y[(size_t)t * out + row0 + r] = v;
        }
}

static __global__ void qf_w4_prep_kernel(const float *__restrict__ x,
                                         const int32_t *__restrict__ perm, __half *xh,
                                         int64_t m, int64_t in, int64_t kp) {
    const float k = 1.0f / (float)(1 << QF_CUDA_W4_XSHIFT);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * kp;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / kp, src = perm[i - t * kp];
        xh[i] = __float2half_rn(src < 0 ? 0.0f : x[t * in + src] * k);
    }
}

extern "C" qf_status qf_cuda_w4_upload(qf_cuda_w4_dev *d, const qf_cuda_w4 *l) {
    memset(d, 0, sizeof *d);
    const size_t nqw = (size_t)l->out * (size_t)(l->kp / 8) * 4;
    const size_t nsz = (size_t)l->out * (size_t)l->n_groups * 4;
    const size_t nperm = (size_t)l->kp * 4;
    qf_status st = qf_cuda_malloc((void **)&d->qw, nqw, "W4 codes");
    if (st == QF_STATUS_OK) st = qf_cuda_malloc((void **)&d->sz, nsz, "W4 scales");
    if (st == QF_STATUS_OK) st = qf_cuda_malloc((void **)&d->perm, nperm, "W4 permutation");
    if (st == QF_STATUS_OK) st = qf_cuda_upload(d->qw, l->qw, nqw);
    if (st == QF_STATUS_OK) st = qf_cuda_upload(d->sz, l->sz, nsz);
    if (st == QF_STATUS_OK) st = qf_cuda_upload(d->perm, l->perm, nperm);
    if (st != QF_STATUS_OK) {
        qf_cuda_w4_dev_free(d);
        return st;
    }
    d->out = l->out;
    d->in = l->in;
    d->n_groups = l->n_groups;
    d->gp = l->gp;
    d->kp = l->kp;
    d->dequant_ok = l->dequant_ok;
    return QF_STATUS_OK;
}

extern "C" void qf_cuda_w4_dev_free(qf_cuda_w4_dev *d) {
    if (!d) return;
    qf_cuda_free(d->qw);
    qf_cuda_free(d->sz);
    qf_cuda_free(d->perm);
    memset(d, 0, sizeof *d);
}

extern "C" qf_status qf_cuda_w4_prep(const qf_cuda_w4_dev *d, const float *x, int64_t m,
                                     uint16_t *xh, void *stream) {
    QF_RETURN_IF(m < 0 || !d->perm, QF_STATUS_INVALID_ARG, "W4 prep: m %lld or no layout",
                 (long long)m);
    if (m == 0) return QF_STATUS_OK;
    const int64_t n = m * d->kp, threads = 256;
    const int64_t blocks = (n + threads - 1) / threads < 65536 ? (n + threads - 1) / threads
                                                              : 65536;
    qf_w4_prep_kernel<<<(unsigned)blocks, (unsigned)threads, 0, (cudaStream_t)stream>>>(
        x, d->perm, (__half *)xh, m, d->in, d->kp);
    QF_CUDA_LAUNCHED("W4 prep kernel");
    return QF_STATUS_OK;
}

template <int M>
static void qf_w4_launch(const qf_cuda_w4_dev *d, const uint16_t *xh, float *y,
                         cudaStream_t stream) {
    const int rows_per_block = QF_W4_WARPS * QF_W4_ROWS;
    const unsigned blocks = (unsigned)((d->out + rows_per_block - 1) / rows_per_block);
    const int n_chunks = (int)(d->kp / QF_CUDA_W4_CHUNK);
    qf_w4_gemv_kernel<M, (M <= 2 ? 4 : 2)><<<blocks, QF_W4_WARPS * 32, 0, stream>>>(
        (const uint4 *)d->qw, d->sz, (const uint4 *)xh, y, (int)d->out, n_chunks,
        (int)(d->gp / QF_CUDA_W4_CHUNK), (int)d->n_groups);
}

extern "C" qf_status qf_cuda_w4_gemv(const qf_cuda_w4_dev *d, const uint16_t *xh, int64_t m,
                                     float *y, void *stream) {
    QF_RETURN_IF(m < 1 || m > QF_CUDA_W4_MAX_M, QF_STATUS_INVALID_ARG,
                 "W4 GEMV: m = %lld tokens, not in [1, %d]", (long long)m, QF_CUDA_W4_MAX_M);
    QF_FORWARD(qf_w4_gemv_check(d, xh, y));
    cudaStream_t s = (cudaStream_t)stream;
    switch (m) {
    case 1: qf_w4_launch<1>(d, xh, y, s); break;
    case 2: qf_w4_launch<2>(d, xh, y, s); break;
    case 3: qf_w4_launch<3>(d, xh, y, s); break;
    case 4: qf_w4_launch<4>(d, xh, y, s); break;
    case 5: qf_w4_launch<5>(d, xh, y, s); break;
    case 6: qf_w4_launch<6>(d, xh, y, s); break;
    case 7: qf_w4_launch<7>(d, xh, y, s); break;
    default: qf_w4_launch<8>(d, xh, y, s); break;
    }
    QF_CUDA_LAUNCHED("W4 GEMV kernel");
    return QF_STATUS_OK;
}
