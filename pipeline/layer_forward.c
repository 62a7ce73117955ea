/* The forward pass of one decoder layer on one calibration sample, in pieces (see
 * pipeline/layer.h). Linears and attention products are OpenBLAS sgemm; norms, RoPE,
 * SwiGLU and the softmax's e^x reuse the runtime's CPU kernels. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/layer.h"
#include "runtime/cpu/exp_neg.h"
#include "runtime/cpu/i8linear.h"
#include "runtime/cpu/kernels.h"

qf_status qf_layer_ctx_init(qf_layer_ctx *c, const qf_model_config *cfg, int64_t seqlen,
                            int64_t act_width) {
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->seqlen = seqlen;
    c->act_width = act_width;
    const int64_t d = cfg->head_dim, half = d / 2;
    const size_t s = (size_t)seqlen;
    const size_t rows = (size_t)(seqlen < QF_LAYER_ATTN_ROWS ? seqlen : QF_LAYER_ATTN_ROWS);
    float *inv_freq = malloc((size_t)half * sizeof(float));
    c->cos_t = malloc(s * (size_t)half * sizeof(float));
    c->sin_t = malloc(s * (size_t)half * sizeof(float));
    c->q = malloc(s * (size_t)(cfg->num_attention_heads * d) * sizeof(float));
    c->k = malloc(s * (size_t)(cfg->num_key_value_heads * d) * sizeof(float));
    c->v = malloc(s * (size_t)(cfg->num_key_value_heads * d) * sizeof(float));
    c->scores = malloc(rows * s * sizeof(float));
    c->up = malloc(s * (size_t)cfg->intermediate_size * sizeof(float));
    c->xq = act_width > 0 ? malloc(s * (size_t)act_width * sizeof(float)) : NULL;
    c->codes = act_width > 0 ? malloc((size_t)act_width) : NULL;
    if (!inv_freq || !c->cos_t || !c->sin_t || !c->q || !c->k || !c->v || !c->scores || !c->up ||
        (act_width > 0 && (!c->xq || !c->codes))) {
        free(inv_freq);
        qf_layer_ctx_free(c);
        return qf_error_set(QF_STATUS_NOMEM, "out of memory for the layer scratch (seqlen %lld)",
                            (long long)seqlen);
    }
    float attn_factor = 1.0f;
    qf_cpu_rope_freqs(cfg, seqlen, inv_freq, &attn_factor);
    qf_cpu_rope_table(inv_freq, half, attn_factor, 0, seqlen, c->cos_t, c->sin_t);
    free(inv_freq);
    return QF_STATUS_OK;
}

void qf_layer_ctx_free(qf_layer_ctx *c) {
    free(c->cos_t);
    free(c->sin_t);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->scores);
    free(c->up);
    free(c->xq);
    free(c->codes);
    memset(c, 0, sizeof *c);
}

/* xq (m, in) = x quantized to int8 and back, per token or on the grid of `fixed` (> 0)
 * (the int8 runtime's codes, by its SIMD quantizer, runtime/cpu/i8linear.h); codes:
 * (in) scratch. */
static void qf_layer_act_i8(const float *x, int64_t m, int64_t in, float fixed, int8_t *codes,
                            float *xq) {
    qf_cpu_i8_quantizer *const quantize = qf_cpu_i8_quantizer_best();
    for (int64_t t = 0; t < m; t++) {
        const float s = quantize(x + t * in, in, in, fixed, codes);
        float *o = xq + t * in;
        if (!(s > 0.0f)) {
            memset(o, 0, (size_t)in * sizeof *o);
            continue;
        }
        for (int64_t k = 0; k < in; k++) o[k] = (float)codes[k] * s;
    }
}

void qf_layer_apply(const qf_layer_ctx *c, const qf_layer_weights *lw, qf_layer_linear i,
                    const float *x, int64_t m, float *y, int accumulate) {
    const int64_t out = lw->out[i], in = lw->in[i];
    if (lw->act_i8 >> i & 1u) {
        if (!c->xq || in > c->act_width || m > c->seqlen) abort(); /* a caller's bug */
        qf_layer_act_i8(x, m, in, lw->act_scale[i], c->codes, c->xq);
        x = c->xq;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)out, (int)in, 1.0f, x,
                (int)in, lw->w[i], (int)in, accumulate ? 1.0f : 0.0f, y, (int)out);
    if (!lw->b[i]) return;
    for (int64_t t = 0; t < m; t++)
        for (int64_t o = 0; o < out; o++) y[t * out + o] += lw->b[i][o];
}

void qf_layer_attn_norm(const qf_layer_ctx *c, const qf_layer_weights *lw, const float *x,
                        float *xn) {
    qf_cpu_rmsnorm(x, lw->ln1, xn, c->seqlen, c->cfg->hidden_size, (float)c->cfg->rms_norm_eps);
}

void qf_layer_mlp_norm(const qf_layer_ctx *c, const qf_layer_weights *lw, const float *x,
                       float *xn) {
    qf_cpu_rmsnorm(x, lw->ln2, xn, c->seqlen, c->cfg->hidden_size, (float)c->cfg->rms_norm_eps);
}

/* Rows r0..r1-1 as qf_layer_softmax_rows says, in plain C that each caller below compiles
 * for its target: the max, e^(s - max) (qf_cpu_exp_neg) and the scaling vectorised
 * element by element, the sum as a vector reduction. */
static inline __attribute__((always_inline)) void
qf_layer_softmax_body(float *scores, int64_t ld, int64_t r0, int64_t r1, int64_t window) {
    for (int64_t t = r0; t < r1; t++) {
        float *s = scores + (t - r0) * ld;
        const int64_t lo = (window > 0 && t - window + 1 > 0) ? t - window + 1 : 0;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int64_t j = lo; j <= t; j++) mx = s[j] > mx ? s[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = lo; j <= t; j++) {
            s[j] = qf_cpu_exp_neg(s[j] - mx);
            sum += s[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < lo; j++) s[j] = 0.0f;
#pragma omp simd
        for (int64_t j = lo; j <= t; j++) s[j] *= inv;
        for (int64_t j = t + 1; j < r1; j++) s[j] = 0.0f;
    }
}

__attribute__((target("avx512f,avx2,fma"))) static void
qf_layer_softmax_avx512(float *scores, int64_t ld, int64_t r0, int64_t r1, int64_t window) {
    qf_layer_softmax_body(scores, ld, r0, r1, window);
}

__attribute__((target("avx2,fma"))) static void
qf_layer_softmax_avx2(float *scores, int64_t ld, int64_t r0, int64_t r1, int64_t window) {
    qf_layer_softmax_body(scores, ld, r0, r1, window);
}

static void qf_layer_softmax_base(float *scores, int64_t ld, int64_t r0, int64_t r1,
                                  int64_t window) {
    qf_layer_softmax_body(scores, ld, r0, r1, window);
}

void qf_layer_softmax_rows(float *scores, int64_t ld, int64_t r0, int64_t r1, int64_t window) {
    switch (qf_cpu_simd_level()) {
    case 2: qf_layer_softmax_avx512(scores, ld, r0, r1, window); break;
    case 1: qf_layer_softmax_avx2(scores, ld, r0, r1, window); break;
    default: qf_layer_softmax_base(scores, ld, r0, r1, window); break;
    }
}

void qf_layer_attention(qf_layer_ctx *c, const qf_layer_weights *lw, const float *xn,
                        float *att) {
    const qf_model_config *cfg = c->cfg;
    const int64_t S = c->seqlen, d = cfg->head_dim, half = d / 2;
    const int64_t nh = cfg->num_attention_heads, nkv = cfg->num_key_value_heads;
    const int64_t group = nh / nkv;
    const float scale = (float)(1.0 / sqrt((double)d));
    qf_layer_apply(c, lw, QF_LAYER_Q, xn, S, c->q, 0);
    qf_layer_apply(c, lw, QF_LAYER_K, xn, S, c->k, 0);
    qf_layer_apply(c, lw, QF_LAYER_V, xn, S, c->v, 0);
    qf_cpu_rope_apply(c->q, S, nh * d, nh, half, c->cos_t, c->sin_t);
    qf_cpu_rope_apply(c->k, S, nkv * d, nkv, half, c->cos_t, c->sin_t);
    for (int64_t h = 0; h < nh; h++) {
        const float *kh = c->k + (h / group) * d, *vh = c->v + (h / group) * d;
        for (int64_t r0 = 0; r0 < S; r0 += QF_LAYER_ATTN_ROWS) {
            const int64_t r1 = r0 + QF_LAYER_ATTN_ROWS < S ? r0 + QF_LAYER_ATTN_ROWS : S;
            /* keys 0..r1-1 are the only ones rows r0..r1-1 can see */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)r1, (int)d,
                        scale, c->q + r0 * nh * d + h * d, (int)(nh * d), kh, (int)(nkv * d),
                        0.0f, c->scores, (int)r1);
            qf_layer_softmax_rows(c->scores, r1, r0, r1, cfg->sliding_window);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), (int)d,
                        (int)r1, 1.0f, c->scores, (int)r1, vh, (int)(nkv * d), 0.0f,
                        att + r0 * nh * d + h * d, (int)(nh * d));
        }
    }
}

void qf_layer_o_residual(const qf_layer_ctx *c, const qf_layer_weights *lw, const float *att,
                         float *x) {
    qf_layer_apply(c, lw, QF_LAYER_O, att, c->seqlen, x, 1);
}

void qf_layer_mlp_hidden(qf_layer_ctx *c, const qf_layer_weights *lw, const float *xn,
                         float *h) {
    const int64_t S = c->seqlen, inter = c->cfg->intermediate_size;
    qf_layer_apply(c, lw, QF_LAYER_GATE, xn, S, h, 0);
    qf_layer_apply(c, lw, QF_LAYER_UP, xn, S, c->up, 0);
    qf_cpu_swiglu(h, c->up, S * inter);
}

void qf_layer_down_residual(const qf_layer_ctx *c, const qf_layer_weights *lw, const float *h,
                            float *x) {
    qf_layer_apply(c, lw, QF_LAYER_DOWN, h, c->seqlen, x, 1);
}

void qf_layer_linear_inputs(qf_layer_ctx *c, const qf_layer_weights *lw, float *x, float *xn,
                            float *att, float *xn2, float *h) {
    qf_layer_attn_norm(c, lw, x, xn);
    qf_layer_attention(c, lw, xn, att);
    qf_layer_o_residual(c, lw, att, x);
    qf_layer_mlp_norm(c, lw, x, xn2);
    if (h) qf_layer_mlp_hidden(c, lw, xn2, h);
}

void qf_layer_forward(qf_layer_ctx *c, const qf_layer_weights *lw, float *x, float *xn,
                      float *att, float *h) {
    qf_layer_attn_norm(c, lw, x, xn);
    qf_layer_attention(c, lw, xn, att);
    qf_layer_o_residual(c, lw, att, x);
    qf_layer_mlp_norm(c, lw, x, xn);
    qf_layer_mlp_hidden(c, lw, xn, h);
    qf_layer_down_residual(c, lw, h, x);
}
