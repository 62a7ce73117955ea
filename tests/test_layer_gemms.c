/* The GPU calibration layer's GEMM calls (pipeline/layer_gemms.h), run through a CPU
 * emulation of cuBLAS's column-major sgemm (op, m, n, k, leading dimensions, per-head
 * pointer offsets exactly as layer_cuda.cu passes them), against the CPU layer
 * (pipeline/layer.h) on any machine: the linear equals qf_layer_apply, and the attention
 * (scores GEMM, the causal softmax, values GEMM, heads in batches that need not divide
 * the head count) equals qf_layer_attention, for GQA and plain heads, with and without a
 * sliding window, within 1e-5 of the largest output (float sums in another order). The
 * GPU kernels themselves are checked on a GPU by test_cuda_qlayer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/layer.h"
#include "pipeline/layer_gemms.h"
#include "runtime/cpu/kernels.h"
#include "tests/test.h"
#include "tests/test_random.h"

/* cublasSgemm's definition: C (m, n) = alpha op(A) op(B) + beta C, all column-major. */
static void gemm(const qf_gemm_call *c, float alpha, const float *A, const float *B, float beta,
                 float *C) {
    for (int64_t j = 0; j < c->n; j++)
        for (int64_t i = 0; i < c->m; i++) {
            double s = 0.0;
            for (int64_t l = 0; l < c->k; l++) {
                const float a = c->ta ? A[i * c->lda + l] : A[l * c->lda + i];
                const float b = c->tb ? B[l * c->ldb + j] : B[j * c->ldb + l];
                s += (double)a * (double)b;
            }
            float *o = &C[j * c->ldc + i];
            *o = (float)(alpha * s) + (beta != 0.0f ? beta * *o : 0.0f);
        }
}

/* y = x W_i^T + b_i through the emulated call. */
static void linear(const qf_layer_weights *lw, int i, const float *x, int64_t S, float *y) {
    const qf_gemm_call c = qf_gemm_linear(lw->out[i], lw->in[i], S);
    gemm(&c, 1.0f, lw->w[i], x, 0.0f, y);
    for (int64_t t = 0; lw->b[i] && t < S; t++)
        for (int64_t o = 0; o < lw->out[i]; o++) y[t * lw->out[i] + o] += lw->b[i][o];
}

static void run(int64_t heads, int64_t kv, int64_t window, size_t score_bytes) {
    enum { HID = 48, HD = 8, S = 24 };
    char tag[96];
    snprintf(tag, sizeof tag, "heads %lld/%lld window %lld bytes %zu", (long long)heads,
             (long long)kv, (long long)window, score_bytes);
    qf_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.hidden_size = HID, cfg.num_attention_heads = heads, cfg.num_key_value_heads = kv;
    cfg.head_dim = HD, cfg.intermediate_size = 64, cfg.sliding_window = window;
    cfg.rms_norm_eps = 1e-5, cfg.rope_theta = 10000.0, cfg.max_position_embeddings = 4096;
    qf_layer_ctx c;
    CHECK_OK(qf_layer_ctx_init(&c, &cfg, S, 0));
    qf_layer_weights lw;
    memset(&lw, 0, sizeof lw);
    const int64_t qd = heads * HD, kvd = kv * HD;
    const int64_t outs[3] = {qd, kvd, kvd};
    for (int i = 0; i < 3; i++) {
        lw.out[i] = outs[i], lw.in[i] = HID;
        lw.w[i] = qf_test_rnd(outs[i] * HID, 0.3f, 0.0f);
        lw.b[i] = qf_test_rnd(outs[i], 0.1f, 0.0f);
    }
    float *xn = qf_test_rnd(S * HID, 1.0f, 0.0f), *want = malloc(S * qd * sizeof(float));
    float *got = malloc(S * qd * sizeof(float)), *y = malloc(S * qd * sizeof(float));
    qf_layer_attention(&c, &lw, xn, want);

    /* the linear alone */
    qf_layer_apply(&c, &lw, QF_LAYER_Q, xn, S, y, 0);
    linear(&lw, QF_LAYER_Q, xn, S, got);
    qf_test_close(tag, got, y, S * qd, 1e-5);

    /* the attention as layer_cuda.cu runs it */
    const qf_attn_shape a = {heads, kv, HD, S, qf_attn_batch(heads, S, score_bytes)};
    float *q = malloc(S * qd * sizeof(float)), *k = malloc(S * kvd * sizeof(float));
    float *v = malloc(S * kvd * sizeof(float));
    float *scores = malloc((size_t)(a.batch * S * S) * sizeof(float));
    linear(&lw, QF_LAYER_Q, xn, S, q);
    linear(&lw, QF_LAYER_K, xn, S, k);
    linear(&lw, QF_LAYER_V, xn, S, v);
    qf_cpu_rope_apply(q, S, qd, heads, HD / 2, c.cos_t, c.sin_t);
    qf_cpu_rope_apply(k, S, kvd, kv, HD / 2, c.cos_t, c.sin_t);
    const qf_gemm_call sc = qf_gemm_scores(&a), pv = qf_gemm_values(&a);
    const float scale = (float)(1.0 / sqrt((double)HD));
    for (int64_t h0 = 0; h0 < heads; h0 += a.batch) {
        const int64_t nb = heads - h0 < a.batch ? heads - h0 : a.batch;
        for (int64_t h = h0; h < h0 + nb; h++) {
            int64_t off[6];
            qf_attn_offsets(&a, h, off);
            gemm(&sc, scale, k + off[0], q + off[1], 0.0f, scores + off[2]);
        }
        for (int64_t b = 0; b < nb; b++) /* the softmax kernel's rows */
            qf_layer_softmax_rows(scores + b * S * S, S, 0, S, window);
        for (int64_t h = h0; h < h0 + nb; h++) {
            int64_t off[6];
            qf_attn_offsets(&a, h, off);
            gemm(&pv, 1.0f, v + off[3], scores + off[4], 0.0f, got + off[5]);
        }
    }
    qf_test_close(tag, got, want, S * qd, 1e-5);
    free(q), free(k), free(v), free(scores), free(xn), free(want), free(got), free(y);
    qf_layer_weights_free(&lw);
    qf_layer_ctx_free(&c);
}

int main(void) {
    const size_t one = 24 * 24 * sizeof(float); /* one head's scores */
    CHECK(qf_attn_batch(4, 24, one - 1) == 1 && qf_attn_batch(4, 24, 3 * one) == 3 &&
          qf_attn_batch(4, 24, 100 * one) == 4);
    for (int w = 0; w < 2; w++) {
        const int64_t window = w ? 7 : 0;
        run(4, 2, window, 100 * one); /* GQA, all heads at once */
        run(4, 2, window, 3 * one);   /* batches of 3 and 1 */
        run(6, 6, window, 4 * one);   /* no GQA, batches of 4 and 2 */
        run(6, 1, window, one);       /* one kv head, one head at a time */
    }
    TEST_END();
}
