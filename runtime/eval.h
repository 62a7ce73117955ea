/* Perplexity and KL divergence by the evaluation protocol of ../shared/DESIGN.md §5:
 * the token stream is cut into windows of `ctx` tokens (start every `stride` tokens,
 * default stride = ctx: non-overlapping), every window is run from an empty KV cache and
 * scored on the positions no earlier window scored (all after the first when windows do
 * not overlap); perplexity = exp(mean NLL over all scored tokens).
 *
 * KL divergence needs the unquantized model's distributions on the same positions. They
 * are saved (--save-logits) reduced to the top-k log-probabilities plus the NLL of the
 * target, zstd-compressed: full logits for a WikiText-2 run would be ~29 GB for a 49k
 * vocabulary, top-32 is ~1/1500 of that. KL is computed over those k tokens plus one
 * bucket for the remaining mass, a lower bound of the full KL that is tight when the
 * top-k hold nearly all the mass (the covered mass is reported). */
#ifndef QF_EVAL_H
#define QF_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/progress.h"
#include "core/status.h"
#include "runtime/runtime.h"

typedef struct qf_eval_options {
    int64_t ctx;          /* window length in tokens (incl. BOS when bos is set) */
    int64_t stride;       /* distance between window starts; 0 = ctx */
    int64_t max_chunks;   /* evaluate at most this many windows; 0 = all */
    int32_t bos_id;       /* >= 0: every window starts with this token (not scored) */
    const char *save_logits; /* write the base distributions here (atomic) */
    const char *kl_base;     /* compare against distributions saved by an earlier run */
    int topk;             /* tokens kept per position when saving; 0 = 32 */
    const char *text_sha256; /* recorded in saved files; must match the base when comparing */
    qf_progress progress;    /* per window; what = running ppl */
} qf_eval_options;

typedef struct qf_eval_result {
    int64_t n_tokens;   /* tokens of text */
    int64_t n_windows;
    int64_t n_scored;   /* predictions scored */
    double nll_sum;
    double ppl;
    double seconds;
    double tokens_per_s; /* tokens run through the model per second */
    /* with kl_base: */
    int has_kl;
    double base_ppl;
    double kld_mean, kld_p99, kld_max;
    double top1_agree;     /* fraction of positions whose argmax equals the base's */
    double topk_coverage;  /* mean base probability mass inside the saved top-k */
} qf_eval_result;

/* Evaluates tokens[0..n) with rt (its KV cache is reset per window). */
qf_status qf_eval_perplexity(qf_runtime *rt, const int32_t *tokens, int64_t n,
                             const qf_eval_options *opt, qf_eval_result *res);

#endif
