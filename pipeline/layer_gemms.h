/* The GEMMs of the GPU calibration layer (pipeline/cuda/layer_cuda.cu) as plain data:
 * each is one column-major cuBLAS call C (m, n) = alpha op(A) op(B) + beta C, and the
 * attention's are batched over heads with per-head offsets into the q, k, v, scores and
 * att buffers. Host-side C (built with or without CUDA) so that tests/
 * test_layer_gemms.c runs the very same calls through a CPU emulation of cuBLAS against
 * the CPU layer (pipeline/layer.h) on any machine. Row-major (rows, cols) buffers are
 * column-major (cols, rows) to cuBLAS. */
#ifndef QF_PIPELINE_LAYER_GEMMS_H
#define QF_PIPELINE_LAYER_GEMMS_H

#include <stddef.h>
#include <stdint.h>

typedef struct qf_gemm_call {
    int ta, tb;                   /* 1: op = transpose */
    int64_t m, n, k, lda, ldb, ldc;
} qf_gemm_call;

/* y (S, out) = x (S, in) W^T: A = W (out, in), B = x, C = y. */
qf_gemm_call qf_gemm_linear(int64_t out, int64_t in, int64_t seqlen);

/* Attention of `heads` query heads over `kv_heads` of head_dim at seqlen positions:
 * q (S, heads * d), k and v (S, kv_heads * d), att (S, heads * d), scores (batch heads,
 * S, S) row-major by query position. */
typedef struct qf_attn_shape {
    int64_t heads, kv_heads, head_dim, seqlen;
    int64_t batch; /* heads whose scores are held at once (qf_attn_batch) */
} qf_attn_shape;

/* Heads per batch: as many S x S float score matrices as fit in `bytes` (at least 1, at
 * most heads). */
int64_t qf_attn_batch(int64_t heads, int64_t seqlen, size_t bytes);
/* scores_h (S queries, S keys) = K_h Q_h^T as column-major (keys, queries): A = K, B = Q. */
qf_gemm_call qf_gemm_scores(const qf_attn_shape *a);
/* att_h (S, d) = P_h V_h: A = V, B = scores, C = att. */
qf_gemm_call qf_gemm_values(const qf_attn_shape *a);

/* Head h's float offsets: [0] its K in k, [1] its queries in q, [2] its scores in the
 * scores buffer (h % batch), [3] its V in v, [4] = [2], [5] its columns in att. */
void qf_attn_offsets(const qf_attn_shape *a, int64_t h, int64_t off[6]);

#endif
