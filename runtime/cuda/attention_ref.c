/* CPU references of the CUDA attention kernels (attention_host.h): the KV cache appends
 * (fp16 and int8, bit-identical to the kernels) and the attention itself in double, from
 * the definition, over either cache. */
#include <math.h>
#include <stdlib.h>

#include "core/dtype.h"
#include "runtime/cuda/attention_host.h"

void qf_cuda_kv_append_f16_ref(const qf_cuda_attn *a, const float *k, const float *v,
                               int64_t kv_stride, int64_t m, int64_t p0, uint16_t *kc,
                               uint16_t *vc) {
    const int64_t d = a->head_dim;
    for (int64_t t = 0; t < m; t++)
        for (int64_t h = 0; h < a->n_kv; h++)
            for (int64_t i = 0; i < d; i++) {
                const size_t src = (size_t)(t * kv_stride + h * d + i);
                const size_t dst = (size_t)((h * a->cap + p0 + t) * d + i);
                kc[dst] = qf_fp32_to_fp16(k[src]);
                vc[dst] = qf_fp32_to_fp16(v[src]);
            }
}

/* One row of d floats to int8 codes and its scale (the kernel's arithmetic: fp32 max,
 * one IEEE division for the scale and one per element, rintf = nearest even). */
static void qf_cuda_quant_row_i8(const float *x, int64_t d, int8_t *codes, float *scale) {
    float amax = 0.0f;
    for (int64_t i = 0; i < d; i++) amax = fmaxf(amax, fabsf(x[i]));
    float s = amax / 127.0f;
    if (!(s > 0.0f) || isinf(s)) s = 1.0f;
    for (int64_t i = 0; i < d; i++)
        codes[i] = (int8_t)fminf(fmaxf(rintf(x[i] / s), -127.0f), 127.0f);
    *scale = s;
}

void qf_cuda_kv_append_i8_ref(const qf_cuda_attn *a, const float *k, const float *v,
                              int64_t kv_stride, int64_t m, int64_t p0, const qf_cuda_kv_i8 *c) {
    const int64_t d = a->head_dim;
    for (int64_t t = 0; t < m; t++)
        for (int64_t h = 0; h < a->n_kv; h++) {
            const int64_t row = h * a->cap + p0 + t;
            qf_cuda_quant_row_i8(k + t * kv_stride + h * d, d, c->k + row * d, c->ks + row);
            qf_cuda_quant_row_i8(v + t * kv_stride + h * d, d, c->v + row * d, c->vs + row);
        }
}

/* Element i of the key / value at row (kv head, position) of either cache. */
typedef struct qf_cuda_ref_cache {
    const uint16_t *kc, *vc;  /* fp16, or NULL */
    const qf_cuda_kv_i8 *i8; /* else int8 */
} qf_cuda_ref_cache;

static double qf_cuda_ref_k(const qf_cuda_ref_cache *c, int64_t row, int64_t d, int64_t i) {
    if (c->kc) return qf_fp16_to_fp32(c->kc[row * d + i]);
    return (double)c->i8->k[row * d + i] * c->i8->ks[row];
}

static double qf_cuda_ref_v(const qf_cuda_ref_cache *c, int64_t row, int64_t d, int64_t i) {
    if (c->vc) return qf_fp16_to_fp32(c->vc[row * d + i]);
    return (double)c->i8->v[row * d + i] * c->i8->vs[row];
}

static qf_status qf_cuda_attention_ref_any(const qf_cuda_attn *a, const float *q, int64_t m,
                                           int64_t p0, const qf_cuda_ref_cache *c,
                                           double *out) {
    const int64_t d = a->head_dim, group = a->n_heads / a->n_kv;
    double *s = malloc((size_t)(p0 + m + 1) * sizeof *s);
    QF_RETURN_IF(!s, QF_STATUS_NOMEM, "attention reference: %lld scores", (long long)(p0 + m));
    for (int64_t t = 0; t < m; t++) {
        const int64_t p = p0 + t, lo = qf_cuda_attn_first_key(a->window, p);
        for (int64_t h = 0; h < a->n_heads; h++) {
            const float *qh = q + (t * a->n_heads + h) * d;
            const int64_t base = (h / group) * a->cap;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t j = lo; j <= p; j++) {
                double dot = 0.0;
                for (int64_t i = 0; i < d; i++)
                    dot += (double)qh[i] * qf_cuda_ref_k(c, base + j, d, i);
                s[j] = dot * (double)a->scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int64_t j = lo; j <= p; j++) {
                s[j] = exp(s[j] - mx);
                sum += s[j];
            }
            double *oh = out + (t * a->n_heads + h) * d;
            for (int64_t i = 0; i < d; i++) oh[i] = 0.0;
            for (int64_t j = lo; j <= p; j++)
                for (int64_t i = 0; i < d; i++) oh[i] += s[j] * qf_cuda_ref_v(c, base + j, d, i);
            for (int64_t i = 0; i < d; i++) oh[i] /= sum;
        }
    }
    free(s);
    return QF_STATUS_OK;
}

qf_status qf_cuda_attention_ref(const qf_cuda_attn *a, const float *q, int64_t m, int64_t p0,
                                const uint16_t *kc, const uint16_t *vc, double *out) {
    const qf_cuda_ref_cache c = {kc, vc, NULL};
    return qf_cuda_attention_ref_any(a, q, m, p0, &c, out);
}

qf_status qf_cuda_attention_i8_ref(const qf_cuda_attn *a, const float *q, int64_t m, int64_t p0,
                                   const qf_cuda_kv_i8 *c8, double *out) {
    const qf_cuda_ref_cache c = {NULL, NULL, c8};
    return qf_cuda_attention_ref_any(a, q, m, p0, &c, out);
}
