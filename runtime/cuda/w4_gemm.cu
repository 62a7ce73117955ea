/* The fused W4A16 prefill GEMM on tensor cores: y (m, out) = 2^XSHIFT xh wh^T (+ y), with
 * wh the weight dequantized tile by tile into shared memory (never written to global
 * memory) by the arithmetic of w4_dequant.cu, so its fp16 operands are exactly the
 * dequantize + cuBLAS path's and only the fp32 summation order differs.
 *
 * A block computes a 64 x 64 tile of y (64 tokens x 64 output rows) with 4 warps, each a
 * 32 x 32 quarter as 2 x 2 WMMA 16x16x16 fragments (fp16 in, fp32 accumulate), stepping
 * 32 packed columns at a time (one group's run never straddles a step: gp is a multiple
 * of 32). Shared tiles are double-buffered: the next step's activations (2 x 16 bytes a
 * thread) and codes (2 words a thread, plus their group's scale / zero pair) are loaded
 * into registers before the current step's MMAs and dequantized into the other buffer
 * after them. Rows and tokens past the edges are zeros in shared memory and not stored. */
#include <cuda_fp16.h>
#include <mma.h>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/w4_deq.cuh"

#define QF_W4G_BM 64             /* tokens per block */
#define QF_W4G_BN 64             /* output rows per block */
#define QF_W4G_BK 32             /* packed columns per step */
#define QF_W4G_LDS (QF_W4G_BK + 8) /* halves per shared row: 80 bytes, 16-byte multiple */
#define QF_W4G_LDC (QF_W4G_BN + 4) /* floats per row of the output tile */
#define QF_W4G_THREADS 128

/* Shared memory: two buffers of the A (tokens) and B (weight rows) tiles, or at the end
 * the fp32 output tile. */
union qf_w4g_smem {
    struct {
        __align__(32) half a[2][QF_W4G_BM * QF_W4G_LDS];
        __align__(32) half b[2][QF_W4G_BN * QF_W4G_LDS];
    } t;
    __align__(32) float c[QF_W4G_BM * QF_W4G_LDC];
};

/* One step's global data held by a thread: 2 activation chunks, 2 code words with their
 * scale / zero pairs. */
struct qf_w4g_regs {
    uint4 a[2];
    uint32_t w[2], sz[2];
};

/* Thread t's part of step k0: A chunks t and t + 128 (row idx / 4, 8 columns idx % 4) of
 * xh rows m0.., B words t and t + 128 (row idx / 4, word idx % 4) of weight rows n0... */
static __device__ __forceinline__ void qf_w4g_load(qf_w4g_regs *r, const uint16_t *xh,
                                                   const uint32_t *qw, const uint32_t *sz,
                                                   int m, int out, int kp, int gp,
                                                   int n_groups, int m0, int n0, int k0) {
    const int t = threadIdx.x;
    for (int j = 0; j < 2; j++) {
        const int idx = t + j * QF_W4G_THREADS, row = idx / 4, part = idx % 4;
        r->a[j] = m0 + row < m
                      ? __ldg((const uint4 *)(xh + (size_t)(m0 + row) * kp + k0 + part * 8))
                      : make_uint4(0, 0, 0, 0);
        if (n0 + row < out) {
            r->w[j] = __ldg(qw + (size_t)(n0 + row) * (kp / 8) + k0 / 8 + part);
            r->sz[j] = __ldg(sz + (size_t)(n0 + row) * n_groups + k0 / gp);
        } else {
            r->w[j] = 0, r->sz[j] = 0; /* scale 0: zero weights */
        }
    }
}

static __device__ __forceinline__ void qf_w4g_store(const qf_w4g_regs *r, half *a, half *b) {
    const int t = threadIdx.x;
    for (int j = 0; j < 2; j++) {
        const int idx = t + j * QF_W4G_THREADS, row = idx / 4, part = idx % 4;
        *(uint4 *)(a + row * QF_W4G_LDS + part * 8) = r->a[j];
        float s, z;
        qf_w4_deq_sz(r->sz[j], &s, &z);
        *(uint4 *)(b + row * QF_W4G_LDS + part * 8) = qf_w4_deq_word(r->w[j], s, z);
    }
}

static __global__ void __launch_bounds__(QF_W4G_THREADS)
    qf_w4_gemm_kernel(const uint16_t *__restrict__ xh, const uint32_t *__restrict__ qw,
                      const uint32_t *__restrict__ sz, float *__restrict__ y, int m, int out,
                      int kp, int gp, int n_groups, float up, int acc) {
    using namespace nvcuda;
    __shared__ qf_w4g_smem sm;
    const int n0 = blockIdx.x * QF_W4G_BN, m0 = blockIdx.y * QF_W4G_BM;
    const int warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::fill_fragment(c[i][j], 0.0f);
    qf_w4g_regs r;
    qf_w4g_load(&r, xh, qw, sz, m, out, kp, gp, n_groups, m0, n0, 0);
    qf_w4g_store(&r, sm.t.a[0], sm.t.b[0]);
    __syncthreads();
    const int steps = kp / QF_W4G_BK;
    for (int s = 0; s < steps; s++) {
        const int cur = s & 1;
        if (s + 1 < steps)
            qf_w4g_load(&r, xh, qw, sz, m, out, kp, gp, n_groups, m0, n0, (s + 1) * QF_W4G_BK);
        const half *a = sm.t.a[cur], *b = sm.t.b[cur];
        for (int kk = 0; kk < QF_W4G_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb[2];
            for (int i = 0; i < 2; i++)
                wmma::load_matrix_sync(fa[i], a + (wm * 32 + i * 16) * QF_W4G_LDS + kk, QF_W4G_LDS);
            for (int j = 0; j < 2; j++)
                wmma::load_matrix_sync(fb[j], b + (wn * 32 + j * 16) * QF_W4G_LDS + kk, QF_W4G_LDS);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) wmma::mma_sync(c[i][j], fa[i], fb[j], c[i][j]);
        }
        if (s + 1 < steps) qf_w4g_store(&r, sm.t.a[cur ^ 1], sm.t.b[cur ^ 1]);
        __syncthreads();
    }
    /* the tiles are dead (the loop ended on a barrier): the output tile takes their place */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(sm.c + (wm * 32 + i * 16) * QF_W4G_LDC + wn * 32 + j * 16,
                                    c[i][j], QF_W4G_LDC, wmma::mem_row_major);
    __syncthreads();
    for (int idx = threadIdx.x; idx < QF_W4G_BM * QF_W4G_BN; idx += QF_W4G_THREADS) {
        const int row = idx / QF_W4G_BN, col = idx % QF_W4G_BN;
        if (m0 + row >= m || n0 + col >= out) continue;
        float *dst = y + (size_t)(m0 + row) * out + n0 + col;
        const float v = up * sm.c[row * QF_W4G_LDC + col];
        *dst = acc ? *dst + v : v;
    }
}

extern "C" qf_status qf_cuda_w4_gemm(const qf_cuda_w4_dev *d, const uint16_t *xh, int64_t m,
                                     float *y, int acc, void *stream) {
    QF_RETURN_IF(!d->qw || d->out < 1 || d->out > QF_CUDA_W4_MAX_DIM || d->kp < QF_W4G_BK ||
                     d->kp % QF_CUDA_W4_CHUNK || d->gp % QF_CUDA_W4_CHUNK ||
                     d->kp > QF_CUDA_W4_MAX_DIM || d->kp != d->n_groups * d->gp,
                 QF_STATUS_INVALID_ARG, "W4 GEMM: bad layout (out %lld, kp %lld, gp %lld)",
                 (long long)d->out, (long long)d->kp, (long long)d->gp);
    QF_RETURN_IF(!d->dequant_ok, QF_STATUS_INVALID_ARG, "W4 GEMM: a scale times 15 overflows fp16");
    QF_RETURN_IF(m < 1 || m > QF_CUDA_W4_MAX_DIM, QF_STATUS_INVALID_ARG,
                 "W4 GEMM: %lld tokens", (long long)m);
    QF_RETURN_IF((uintptr_t)xh % 16 || (uintptr_t)y % 4, QF_STATUS_INVALID_ARG,
                 "W4 GEMM: xh not 16-byte or y not 4-byte aligned");
    const dim3 grid((unsigned)((d->out + QF_W4G_BN - 1) / QF_W4G_BN),
                    (unsigned)((m + QF_W4G_BM - 1) / QF_W4G_BM));
    QF_RETURN_IF(grid.y > 65535, QF_STATUS_INVALID_ARG, "W4 GEMM: %lld tokens in one call",
                 (long long)m);
    qf_w4_gemm_kernel<<<grid, QF_W4G_THREADS, 0, (cudaStream_t)stream>>>(
        xh, d->qw, d->sz, y, (int)m, (int)d->out, (int)d->kp, (int)d->gp, (int)d->n_groups,
        (float)(1 << QF_CUDA_W4_XSHIFT), acc);
    QF_CUDA_LAUNCHED("W4 GEMM kernel");
    return QF_STATUS_OK;
}
