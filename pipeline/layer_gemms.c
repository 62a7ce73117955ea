/* The GPU calibration layer's GEMM calls as data (layer_gemms.h). */
#include "pipeline/layer_gemms.h"

qf_gemm_call qf_gemm_linear(int64_t out, int64_t in, int64_t seqlen) {
    /* y^T (out, S) = W (col-major (in, out)) op T times x^T (col-major (in, S)) */
    return (qf_gemm_call){1, 0, out, seqlen, in, in, in, out};
}

int64_t qf_attn_batch(int64_t heads, int64_t seqlen, size_t bytes) {
    const size_t per = (size_t)seqlen * (size_t)seqlen * sizeof(float);
    int64_t b = per >= bytes ? 1 : (int64_t)(bytes / per);
    return b > heads ? heads : b;
}

qf_gemm_call qf_gemm_scores(const qf_attn_shape *a) {
    /* C (keys, queries) = K (col-major (d, S), ld kv_heads d) op T times Q (col-major
     * (d, S), ld heads d): C[t][j] = sum_c K[j][c] Q[t][c] */
    const int64_t S = a->seqlen, d = a->head_dim;
    return (qf_gemm_call){1, 0, S, S, d, a->kv_heads * d, a->heads * d, S};
}

qf_gemm_call qf_gemm_values(const qf_attn_shape *a) {
    /* C (d, queries), ld heads d = V (col-major (d, S)) times P (col-major (keys,
     * queries)): att[t][c] = sum_j V[j][c] P[t][j] */
    const int64_t S = a->seqlen, d = a->head_dim;
    return (qf_gemm_call){0, 0, d, S, S, a->kv_heads * d, S, a->heads * d};
}

void qf_attn_offsets(const qf_attn_shape *a, int64_t h, int64_t off[6]) {
    const int64_t g = a->heads / a->kv_heads, d = a->head_dim, S = a->seqlen;
    off[0] = off[3] = (h / g) * d;
    off[1] = off[5] = h * d;
    off[2] = off[4] = (h % a->batch) * S * S;
}
