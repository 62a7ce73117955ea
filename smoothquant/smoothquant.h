/* SmoothQuant (Xiao et al.; mit-han-lab/smoothquant smooth.py, llm-compressor
 * SmoothQuantModifier) on the CPU: the per-input-channel smoothing factors
 *   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)
 * (max|W_j| over every row of every linear sharing the input), clamped to >= 1e-5, that
 * move activation outliers into the weights when folded like AWQ's scales
 * (pipeline/layer_fold.c: input_layernorm -> q,k,v and post_attention_layernorm ->
 * gate,up). REFERENCE.md "SmoothQuant". */
#ifndef QF_SMOOTHQUANT_H
#define QF_SMOOTHQUANT_H

#include <stdint.h>

#include "core/status.h"

/* Smallest factor (llm-compressor's MINIMUM_SMOOTHING_SCALE, smooth.py's clamp). */
#define QF_SQ_MIN_SCALE 1e-5f

/* Running per-channel max |x| over rows of width n. */
typedef struct qf_sq_stat {
    int64_t n;
    float *absmax;
} qf_sq_stat;

qf_status qf_sq_stat_init(qf_sq_stat *s, int64_t n);
void qf_sq_stat_free(qf_sq_stat *s);
/* Adds m rows x (m, n). */
void qf_sq_stat_add(qf_sq_stat *s, const float *x, int64_t m);

/* s (in) from the activations' max |x| and the linears w[0..n_lin) ((out[l], in) each).
 * A channel whose weights are all zero gets s = max|x| (as llm-compressor: its
 * activation, which no output sees, is brought to <= 1); a channel that never saw a
 * non-zero activation gets the minimum; non-finite results become 1. */
qf_status qf_sq_scales(const float *x_absmax, const float *const *w, const int64_t *out,
                       int n_lin, int64_t in, float alpha, float *s);

#endif
