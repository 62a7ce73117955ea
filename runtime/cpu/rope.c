/* Rotary position embeddings as transformers computes them: inverse frequencies for the
 * default, linear, dynamic (NTK), llama3 and yarn rope types (modeling_rope_utils.py,
 * float32 tensor arithmetic mirrored step by step), cos/sin tables for a run of positions,
 * and the rotate_half rotation of q/k heads. */
#include <math.h>

#include "runtime/cpu/kernels.h"

/* 1 / base^(2i/dim) in float32, as `1.0 / (base ** (arange(0, dim, 2).float() / dim))`. */
static float qf_cpu_rope_default(double base, int64_t i, int64_t dim) {
    const float e = (float)(2 * i) / (float)dim;
    const float p = (float)pow(base, (double)e);
    return 1.0f / p;
}

/* yarn's find_correction_dim, in double like the Python code. */
static double qf_cpu_rope_yarn_dim(double rotations, int64_t dim, double base, double max_pos) {
    return ((double)dim * log(max_pos / (rotations * 2.0 * M_PI))) / (2.0 * log(base));
}

static void qf_cpu_rope_yarn(const qf_model_config *cfg, int64_t dim, float *inv_freq,
                             float *attn_factor) {
    const qf_rope_scaling *r = &cfg->rope_scaling;
    const double base = cfg->rope_theta, factor = r->factor;
    const double orig = (double)r->original_max_position_embeddings;
    /* beta_fast 32, beta_slow 1, truncate true: the only values the config parser accepts */
    double low = floor(qf_cpu_rope_yarn_dim(32.0, dim, base, orig));
    double high = ceil(qf_cpu_rope_yarn_dim(1.0, dim, base, orig));
    if (low < 0.0) low = 0.0;
    if (high > (double)(dim - 1)) high = (double)(dim - 1);
    if (low == high) high += 0.001;
    const int64_t half = dim / 2;
    for (int64_t i = 0; i < half; i++) {
        const float e = (float)(2 * i) / (float)dim;
        const float p = (float)pow(base, (double)e);
        const float extra = 1.0f / p, inter = 1.0f / ((float)factor * p);
        float ramp = ((float)i - (float)low) / (float)(high - low);
        ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
        const float extra_factor = 1.0f - ramp;
        inv_freq[i] = inter * (1.0f - extra_factor) + extra * extra_factor;
    }
    *attn_factor = factor <= 1.0 ? 1.0f : (float)(0.1 * log(factor) + 1.0);
}

static void qf_cpu_rope_llama3(const qf_model_config *cfg, int64_t dim, float *inv_freq) {
    const qf_rope_scaling *r = &cfg->rope_scaling;
    const double old_ctx = (double)r->original_max_position_embeddings;
    const float low_wl = (float)(old_ctx / r->low_freq_factor);
    const float high_wl = (float)(old_ctx / r->high_freq_factor);
    const float factor = (float)r->factor;
    for (int64_t i = 0; i < dim / 2; i++) {
        const float inv = qf_cpu_rope_default(cfg->rope_theta, i, dim);
        const float wavelen = (float)(2.0 * M_PI) / inv;
        float v = wavelen > low_wl ? inv / factor : inv;
        if (!(wavelen < high_wl) && !(wavelen > low_wl)) {
            const float smooth = ((float)old_ctx / wavelen - (float)r->low_freq_factor) /
                                 (float)(r->high_freq_factor - r->low_freq_factor);
            v = (1.0f - smooth) * v / factor + smooth * v;
        }
        inv_freq[i] = v;
    }
}

void qf_cpu_rope_freqs(const qf_model_config *cfg, int64_t seq_len, float *inv_freq,
                       float *attn_factor) {
    const int64_t dim = cfg->head_dim, half = dim / 2;
    const qf_rope_scaling *r = &cfg->rope_scaling;
    *attn_factor = 1.0f;
    switch (r->type) {
    case QF_ROPE_SCALING_LLAMA3:
        qf_cpu_rope_llama3(cfg, dim, inv_freq);
        return;
    case QF_ROPE_SCALING_YARN:
        qf_cpu_rope_yarn(cfg, dim, inv_freq, attn_factor);
        return;
    case QF_ROPE_SCALING_DYNAMIC:
        if (seq_len > cfg->max_position_embeddings) {
            /* transformers recomputes the base with seq_len as a tensor: float32 math */
            float s = (float)r->factor * (float)seq_len / (float)cfg->max_position_embeddings -
                      (float)(r->factor - 1.0);
            s = powf(s, (float)((double)dim / (double)(dim - 2)));
            const float base = (float)cfg->rope_theta * s;
            for (int64_t i = 0; i < half; i++) {
                const float e = (float)(2 * i) / (float)dim;
                inv_freq[i] = 1.0f / powf(base, e);
            }
            return;
        }
        break;
    case QF_ROPE_SCALING_NONE:
    case QF_ROPE_SCALING_LINEAR:
        break;
    }
    for (int64_t i = 0; i < half; i++) {
        inv_freq[i] = qf_cpu_rope_default(cfg->rope_theta, i, dim);
        if (r->type == QF_ROPE_SCALING_LINEAR) inv_freq[i] /= (float)r->factor;
    }
}

void qf_cpu_rope_table(const float *inv_freq, int64_t half, float attn_factor, int64_t p0,
                       int64_t m, float *cos_t, float *sin_t) {
    for (int64_t t = 0; t < m; t++)
        for (int64_t i = 0; i < half; i++) {
            const float angle = inv_freq[i] * (float)(p0 + t);
            cos_t[t * half + i] = (float)cos((double)angle) * attn_factor;
            sin_t[t * half + i] = (float)sin((double)angle) * attn_factor;
        }
}

/* One head: x[i] * c - x[i + half] * s and x[i + half] * c + x[i] * s. */
static void qf_cpu_rope_head(float *x, int64_t half, const float *c, const float *s) {
    for (int64_t i = 0; i < half; i++) {
        const float x1 = x[i], x2 = x[i + half];
        const float a = x1 * c[i], b = x2 * s[i], d = x2 * c[i], e = x1 * s[i];
        x[i] = a - b;
        x[i + half] = d + e;
    }
}

void qf_cpu_rope_apply(float *x, int64_t m, int64_t stride, int64_t heads, int64_t half,
                       const float *cos_t, const float *sin_t) {
    for (int64_t t = 0; t < m; t++)
        for (int64_t h = 0; h < heads; h++)
            qf_cpu_rope_head(x + t * stride + h * 2 * half, half, cos_t + t * half,
                             sin_t + t * half);
}

void qf_cpu_rope_apply_ref(float *x, int64_t m, int64_t stride, int64_t heads, int64_t half,
                           const float *inv_freq, float attn_factor, int64_t p0) {
    for (int64_t t = 0; t < m; t++)
        for (int64_t h = 0; h < heads; h++) {
            float *xh = x + t * stride + h * 2 * half;
            for (int64_t i = 0; i < half; i++) {
                const float angle = inv_freq[i] * (float)(p0 + t);
                const float c = (float)cos((double)angle) * attn_factor;
                const float s = (float)sin((double)angle) * attn_factor;
                const float x1 = xh[i], x2 = xh[i + half];
                xh[i] = x1 * c - x2 * s;
                xh[i + half] = x2 * c + x1 * s;
            }
        }
}
