/* qf_cuda_runtime_forward: the Llama-family decoder on the GPU, step for step the CPU's
 * runtime/forward.c: tokens in chunks of at most QF_CUDA_RUNTIME_CHUNK; per chunk the
 * embedding gather, then per layer RMSNorm -> q, k, v (+ bias) -> RoPE on q and k -> the
 * fp16 cache append -> attention (prefill kernel for m > 1 tokens, split-K decode kernel
 * for m == 1) -> o_proj added into the residual -> RMSNorm -> gate, up -> SwiGLU ->
 * down_proj added into the residual; the final norm; lm_head in blocks of rows whose
 * logits are copied to the host and handed to the callback. Everything runs on the
 * default stream; the downloads synchronise. */
#include <cublas_v2.h>
#include <stdlib.h>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/forward_impl.h"

extern "C" {
#include "runtime/cpu/kernels.h"
}

static qf_status qf_cublas_status(cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return QF_STATUS_OK;
    return qf_error_set(s == CUBLAS_STATUS_ALLOC_FAILED ? QF_STATUS_NOMEM : QF_STATUS_IO,
                        "%s: cuBLAS: %s", what, cublasGetStatusString(s));
}

/* y (m, out) = x (m, in) W^T (+ bias); with acc, y += that instead. x, y device fp32. */
static qf_status qf_cuda_linear_forward(qf_cuda_runtime *rt, const qf_cuda_linear *l,
                                        const float *x, int64_t m, float *y, int acc) {
    cublasHandle_t h = (cublasHandle_t)rt->cublas;
    const float one = 1.0f, beta = acc ? 1.0f : 0.0f;
    if (l->kind == QF_CUDA_LINEAR_W4 && m >= QF_CUDA_W4_GEMM_MIN_M && l->w4.dequant_ok) {
        /* prefill: y^T (out, m) = 2^XSHIFT wh (col-major (kp, out)) op T times xh^T (kp, m) */
        const float up = (float)(1 << QF_CUDA_W4_XSHIFT);
        QF_FORWARD(qf_cuda_w4_prep(&l->w4, x, m, rt->xh, NULL));
        QF_FORWARD(qf_cuda_w4_dequant(&l->w4, rt->w4_wh, NULL));
        QF_FORWARD(qf_cublas_status(
            cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)l->out, (int)m, (int)l->w4.kp, &up,
                         rt->w4_wh, CUDA_R_16F, (int)l->w4.kp, rt->xh, CUDA_R_16F,
                         (int)l->w4.kp, &beta, y, CUDA_R_32F, (int)l->out, CUBLAS_COMPUTE_32F,
                         CUBLAS_GEMM_DEFAULT),
            "W4 prefill GEMM"));
    } else if (l->kind == QF_CUDA_LINEAR_W4) {
        QF_FORWARD(qf_cuda_w4_prep(&l->w4, x, m, rt->xh, NULL));
        float *dst = acc ? rt->lin_tmp : y;
        for (int64_t t0 = 0; t0 < m; t0 += QF_CUDA_W4_MAX_M) {
            const int64_t mm = m - t0 < QF_CUDA_W4_MAX_M ? m - t0 : QF_CUDA_W4_MAX_M;
            QF_FORWARD(qf_cuda_w4_gemv(&l->w4, rt->xh + t0 * l->w4.kp, mm, dst + t0 * l->out, NULL));
        }
        if (acc) QF_FORWARD(qf_cuda_add_rows(y, rt->lin_tmp, m, l->out, l->out, NULL));
    } else if (l->kind == QF_CUDA_LINEAR_I8) {
        QF_FORWARD(qf_cuda_i8_linear(rt->cublas, &l->i8, x, m, y, acc, &rt->i8, NULL));
    } else if (l->kind == QF_CUDA_LINEAR_F16) {
        /* column-major view: y^T (out, m) = W (row-major (out, in) = col-major W^T) op T
         * times x^T (in, m) */
        QF_FORWARD(qf_cuda_f32_to_f16(x, rt->xh, m * l->in, NULL));
        QF_FORWARD(qf_cublas_status(
            cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)l->out, (int)m, (int)l->in, &one, l->w,
                         CUDA_R_16F, (int)l->in, rt->xh, CUDA_R_16F, (int)l->in, &beta, y,
                         CUDA_R_32F, (int)l->out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "fp16 linear"));
    } else {
        QF_FORWARD(qf_cublas_status(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)l->out, (int)m,
                                                (int)l->in, &one, (const float *)l->w, (int)l->in,
                                                x, (int)l->in, &beta, y, (int)l->out),
                                    "fp32 linear"));
    }
    if (l->bias) QF_FORWARD(qf_cuda_add_rows(y, l->bias, m, l->out, 0, NULL));
    return QF_STATUS_OK;
}

static qf_cuda_attn qf_cuda_fw_attn(const qf_cuda_runtime *rt) {
    const qf_model_config *c = &rt->cfg;
    qf_cuda_attn a;
    a.n_heads = c->num_attention_heads;
    a.n_kv = c->num_key_value_heads;
    a.head_dim = c->head_dim;
    a.cap = rt->max_ctx;
    a.window = c->sliding_window;
    a.scale = (float)(1.0 / sqrt((double)c->head_dim)); /* as runtime/forward.c */
    return a;
}

/* Attention block of layer l for m tokens at p0: x += o_proj(attention(rmsnorm(x))). */
static qf_status qf_cuda_fw_attention(qf_cuda_runtime *rt, int64_t l, int64_t p0, int64_t m) {
    const qf_model_config *c = &rt->cfg;
    const qf_cuda_layer *ly = &rt->layers[l];
    const int64_t d = c->head_dim, half = d / 2, nh = c->num_attention_heads;
    const int64_t nkv = c->num_key_value_heads;
    const qf_cuda_attn a = qf_cuda_fw_attn(rt);
    uint16_t *kc = rt->k_cache + (size_t)(l * nkv * rt->max_ctx * d);
    uint16_t *vc = rt->v_cache + (size_t)(l * nkv * rt->max_ctx * d);
    QF_FORWARD(qf_cuda_rmsnorm(rt->x, ly->attn_norm, rt->xn, m, c->hidden_size,
                               (float)c->rms_norm_eps, NULL));
    QF_FORWARD(qf_cuda_linear_forward(rt, &ly->q, rt->xn, m, rt->q, 0));
    QF_FORWARD(qf_cuda_linear_forward(rt, &ly->k, rt->xn, m, rt->k, 0));
    QF_FORWARD(qf_cuda_linear_forward(rt, &ly->v, rt->xn, m, rt->v, 0));
    QF_FORWARD(qf_cuda_rope_apply(rt->q, m, nh * d, nh, half, rt->rope_cos, rt->rope_sin, NULL));
    QF_FORWARD(qf_cuda_rope_apply(rt->k, m, nkv * d, nkv, half, rt->rope_cos, rt->rope_sin, NULL));
    QF_FORWARD(qf_cuda_kv_append_f16(&a, rt->k, rt->v, nkv * d, m, p0, kc, vc, NULL));
    if (m == 1) {
        const int64_t splits = qf_cuda_attn_splits(&a, p0, rt->n_sm);
        QF_FORWARD(qf_cuda_attention_decode(&a, rt->q, p0, kc, vc, splits, rt->work, rt->att,
                                            NULL));
    } else {
        QF_FORWARD(qf_cuda_attention_prefill(&a, rt->q, m, p0, kc, vc, rt->att, NULL));
    }
    return qf_cuda_linear_forward(rt, &ly->o, rt->att, m, rt->x, 1);
}

/* MLP block of layer l: x += down(swiglu(gate(rmsnorm(x)), up(rmsnorm(x)))). */
static qf_status qf_cuda_fw_mlp(qf_cuda_runtime *rt, int64_t l, int64_t m) {
    const qf_model_config *c = &rt->cfg;
    const qf_cuda_layer *ly = &rt->layers[l];
    QF_FORWARD(qf_cuda_rmsnorm(rt->x, ly->mlp_norm, rt->xn, m, c->hidden_size,
                               (float)c->rms_norm_eps, NULL));
    QF_FORWARD(qf_cuda_linear_forward(rt, &ly->gate, rt->xn, m, rt->gate, 0));
    QF_FORWARD(qf_cuda_linear_forward(rt, &ly->up, rt->xn, m, rt->up, 0));
    QF_FORWARD(qf_cuda_swiglu(rt->gate, rt->up, m * c->intermediate_size, NULL));
    return qf_cuda_linear_forward(rt, &ly->down, rt->gate, m, rt->x, 1);
}

/* One chunk: m tokens at positions p0.. through every layer; leaves the final normalised
 * hidden states in rt->xn. */
static qf_status qf_cuda_fw_chunk(qf_cuda_runtime *rt, const int32_t *tok, int64_t p0,
                                  int64_t m, float attn_factor) {
    const qf_model_config *c = &rt->cfg;
    const int64_t half = c->head_dim / 2;
    qf_cpu_rope_table(rt->inv_freq, half, attn_factor, p0, m, rt->h_cos, rt->h_sin);
    QF_FORWARD(qf_cuda_upload(rt->rope_cos, rt->h_cos, (size_t)(m * half) * sizeof(float)));
    QF_FORWARD(qf_cuda_upload(rt->rope_sin, rt->h_sin, (size_t)(m * half) * sizeof(float)));
    QF_FORWARD(qf_cuda_upload(rt->tok, tok, (size_t)m * sizeof(int32_t)));
    QF_FORWARD(qf_cuda_embed(rt->embed.w, rt->embed.kind == QF_CUDA_LINEAR_F16, rt->tok, m,
                             c->hidden_size, rt->x, NULL));
    for (int64_t l = 0; l < c->num_hidden_layers; l++) {
        QF_FORWARD(qf_cuda_fw_attention(rt, l, p0, m));
        QF_FORWARD(qf_cuda_fw_mlp(rt, l, m));
    }
    return qf_cuda_rmsnorm(rt->x, rt->final_norm, rt->xn, m, c->hidden_size,
                           (float)c->rms_norm_eps, NULL);
}

extern "C" qf_status qf_cuda_runtime_forward(qf_cuda_runtime *rt, const int32_t *tokens,
                                             int64_t n, int64_t pos, int64_t logits_from,
                                             qf_logits_fn fn, void *user) {
    QF_RETURN_IF(!rt || !tokens || n <= 0 || pos < 0, QF_STATUS_INVALID_ARG,
                 "qf_cuda_runtime_forward: need a runtime and n > 0 tokens at pos >= 0");
    QF_RETURN_IF(n > rt->max_ctx - pos, QF_STATUS_INVALID_ARG,
                 "qf_cuda_runtime_forward: %lld tokens at position %lld exceed the context of "
                 "%lld tokens",
                 (long long)n, (long long)pos, (long long)rt->max_ctx);
    QF_RETURN_IF(logits_from < 0 || logits_from > n, QF_STATUS_INVALID_ARG,
                 "qf_cuda_runtime_forward: logits_from %lld is outside [0, %lld]",
                 (long long)logits_from, (long long)n);
    for (int64_t i = 0; i < n; i++)
        QF_RETURN_IF(tokens[i] < 0 || tokens[i] >= rt->cfg.vocab_size, QF_STATUS_INVALID_ARG,
                     "qf_cuda_runtime_forward: token %lld has id %d, outside the vocabulary",
                     (long long)i, (int)tokens[i]);
    const int64_t hid = rt->cfg.hidden_size, vocab = rt->cfg.vocab_size;
    float attn_factor;
    qf_cpu_rope_freqs(&rt->cfg, pos + n, rt->inv_freq, &attn_factor);
    for (int64_t c0 = 0; c0 < n; c0 += rt->chunk) {
        const int64_t m = n - c0 < rt->chunk ? n - c0 : rt->chunk;
        QF_FORWARD(qf_cuda_fw_chunk(rt, tokens + c0, pos + c0, m, attn_factor));
        if (!fn) continue;
        for (int64_t r = logits_from > c0 ? logits_from - c0 : 0; r < m; r += rt->logits_rows) {
            const int64_t cnt = m - r < rt->logits_rows ? m - r : rt->logits_rows;
            QF_FORWARD(qf_cuda_linear_forward(rt, rt->lm_head, rt->xn + r * hid, cnt, rt->logits, 0));
            QF_FORWARD(qf_cuda_download(rt->h_logits, rt->logits,
                                        (size_t)(cnt * vocab) * sizeof(float)));
            QF_FORWARD(fn(user, c0 + r, cnt, rt->h_logits));
        }
    }
    return qf_cuda_sync();
}
