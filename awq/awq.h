/* AWQ (Lin et al., activation-aware weight quantization; mit-han-lab/llm-awq
 * auto_scale.py / auto_clip.py, AutoAWQ, llm-compressor AWQModifier) on the CPU: the
 * pieces of the transform, independent of the model. REFERENCE.md "AWQ algorithm".
 *
 * Scale search: for a group of linears sharing one input x (width n), per input channel
 * s_j = x_mean_j^a (or, duo scaling, x_mean_j^a / (w_mean_j^(1-a) + 1e-4)), clamped to
 * >= 1e-4 and normalised by sqrt(max s * min s); the block output with every linear of
 * the group replaced by Q(W diag(s)) diag(s)^-1 is compared (MSE) with the FP output;
 * the grid is the identity s = 1 (as llm-compressor includes it) followed by
 * a = k / n_grid, k = 0..n_grid-1 (AutoAWQ). The chosen s is folded into the op before
 * (norm weight or the previous linear's rows divided by s) and the group's columns
 * multiplied by s: an exact rewrite of the FP model.
 *
 * Clip search (auto_clip): per output row and quantization group, the weights are
 * clamped to [-m, m] with m = max|w| * (1 - k / n_grid), k < max_shrink * n_grid, and
 * the m that minimises the mean over sampled tokens of (x . (Q(clamp w) - w))^2 kept. */
#ifndef QF_AWQ_H
#define QF_AWQ_H

#include <stdint.h>

#include "core/quant.h"
#include "core/status.h"

/* Tokens per calibration window AWQ uses unless told otherwise (AutoAWQ: 128 x 512). */
#define QF_AWQ_CALIB_SEQLEN 512

typedef struct qf_awq_options {
    int n_grid;              /* scale grid points after the identity; 20 */
    int duo_scaling;         /* 1 (default, AutoAWQ / llm-compressor): x^a / w^(1-a) */
    int clip;                /* clip search after scaling; 1 */
    int clip_grid;           /* 20 */
    float clip_max_shrink;   /* 0.5 */
    int64_t clip_tokens;     /* tokens sampled for the clip search (every N/t-th); 512 */
    int64_t search_samples;  /* calibration samples the block-output MSE is measured on
                                (the first ones; 0 = all); 16 */
} qf_awq_options;

qf_awq_options qf_awq_options_default(void);

/* Candidate k of the grid (k = 0: identity, 1..n_grid: a = (k-1) / n_grid). */
float qf_awq_grid_ratio(const qf_awq_options *o, int k);

/* w_mean (in) of the linears w[0..n_lin) (each (out[l], in)): per input channel, the mean
 * over all their rows of |w| / (max |w| of its quantization group in that row + 1e-6);
 * group <= 0 or >= in: the whole row. */
qf_status qf_awq_weight_mean(const float *const *w, const int64_t *out, int n_lin, int64_t in,
                             int64_t group, float *w_mean);

/* s (n) for grid candidate k (see above); non-finite entries become 1. w_mean is read
 * only with duo scaling. */
void qf_awq_scales(const qf_awq_options *o, int k, const float *x_mean, const float *w_mean,
                   int64_t n, float *s);

/* dst (out, in) = Q(w diag(s)) diag(s)^-1 with RTN on the grid p; s NULL = ones; dst may
 * be w. */
qf_status qf_awq_fake_quant(const float *w, int64_t out, int64_t in, const float *s,
                            const qf_quant_params *p, float *dst);

/* The block's losses for n candidate scale vectors s[0..n) into loss[0..n) (the caller
 * swaps in the fake-quantized weights, runs the block on its search inputs and compares
 * with the FP output); it may evaluate them in parallel, as long as each loss is what it
 * would be alone. */
typedef qf_status (*qf_awq_loss_fn)(void *user, const float *const *s, int n, double *loss);

typedef struct qf_awq_search_result {
    int best;                   /* grid index chosen (0 = identity) */
    float ratio;                /* its a (0 for the identity) */
    double identity_loss, loss; /* loss with s = 1 (plain RTN) and with the chosen s */
} qf_awq_search_result;

/* Evaluates every grid candidate and leaves the best s in best_s (n). */
qf_status qf_awq_search(const qf_awq_options *o, const float *x_mean, const float *w_mean,
                        int64_t n, qf_awq_loss_fn loss, void *user, float *best_s,
                        qf_awq_search_result *res);

/* Clip search of w (out, in) on x (t, in) sampled input rows: max_val (out, n_groups)
 * with n_groups = ceil(in / group) (1 for per-channel; the last group may be short). */
qf_status qf_awq_clip_search(const qf_awq_options *o, const float *w, int64_t out, int64_t in,
                             const float *x, int64_t t, const qf_quant_params *p,
                             float *max_val);
/* w[o, group g] clamped to [-max_val[o, g], max_val[o, g]]. */
void qf_awq_clip_apply(float *w, int64_t out, int64_t in, int64_t group, const float *max_val);

#endif
