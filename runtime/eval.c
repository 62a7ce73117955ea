/* Windowed perplexity and KL divergence against saved base distributions (eval.h). */
#include "core/clock.h"
#include "runtime/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/eval_logits.h"
#include "runtime/sampling.h"

#define QF_EVAL_DEFAULT_TOPK 32

typedef struct qf_eval_state {
    const int32_t *window;  /* tokens of the current window (BOS included) */
    int64_t n_window;
    int64_t score_from;     /* first window index whose token is a scored target */
    int64_t vocab;
    int topk;
    double nll_sum;
    int64_t n_scored;
    qf_logits_writer *save;
    qf_logits_reader *base;
    double base_nll_sum, kl_sum, coverage_sum;
    int64_t top1_same;
    double *kl_values; /* one per scored position (for p99) */
    int64_t kl_cap;
} qf_eval_state;

/* log(sum(exp(x))) over n values. */
static double qf_logsumexp(const float *x, int64_t n) {
    float m = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > m) m = x[i];
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return (double)m + log(s);
}

/* The k largest logits, most likely first (ties: lower id first). */
static void qf_topk(const float *x, int64_t n, int k, uint32_t *ids) {
    int len = 0;
    for (int64_t i = 0; i < n; i++) {
        if (len == k && !(x[i] > x[ids[len - 1]])) continue;
        int j = len < k ? len++ : k - 1;
        while (j > 0 && x[i] > x[ids[j - 1]]) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = (uint32_t)i;
    }
}

static qf_status qf_eval_compare(qf_eval_state *s, const float *logits, double lse) {
    qf_logits_record base;
    QF_FORWARD(qf_logits_reader_next(s->base, &base));
    const qf_logits_header *h = qf_logits_reader_header(s->base);
    double p_in = 0.0, q_in = 0.0, kl = 0.0;
    for (uint32_t i = 0; i < h->topk; i++) {
        double lp = base.logprobs[i], lq = (double)logits[base.ids[i]] - lse;
        double p = exp(lp);
        p_in += p;
        q_in += exp(lq);
        kl += p * (lp - lq);
    }
    double p_rest = 1.0 - p_in, q_rest = 1.0 - q_in;
    if (p_rest > 1e-12) kl += p_rest * (log(p_rest) - log(q_rest > 1e-30 ? q_rest : 1e-30));
    if (kl < 0.0) kl = 0.0; /* rounding of an identical distribution */
    s->kl_sum += kl;
    s->kl_values[s->n_scored] = kl;
    s->coverage_sum += p_in < 1.0 ? p_in : 1.0;
    s->base_nll_sum += base.nll;
    s->top1_same += (uint32_t)qf_argmax_f32(logits, s->vocab) == base.ids[0];
    return QF_STATUS_OK;
}

static qf_status qf_eval_save(qf_eval_state *s, const float *logits, double lse, double nll) {
    qf_logits_record r;
    r.nll = (float)nll;
    qf_topk(logits, s->vocab, s->topk, r.ids);
    for (int i = 0; i < s->topk; i++) r.logprobs[i] = (float)((double)logits[r.ids[i]] - lse);
    return qf_logits_writer_add(s->save, &r);
}

/* Logits of window positions [first, first+count): position i predicts window[i+1]. */
static qf_status qf_eval_on_logits(void *user, int64_t first, int64_t count, const float *logits) {
    qf_eval_state *s = user;
    for (int64_t j = 0; j < count; j++) {
        int64_t i = first + j;
        if (i + 1 < s->score_from || i + 1 >= s->n_window) continue;
        const float *row = logits + j * s->vocab;
        int32_t target = s->window[i + 1];
        double lse = qf_logsumexp(row, s->vocab);
        double nll = lse - (double)row[target];
        if (s->base) QF_FORWARD(qf_eval_compare(s, row, lse));
        if (s->save) QF_FORWARD(qf_eval_save(s, row, lse, nll));
        s->nll_sum += nll;
        s->n_scored++;
    }
    return QF_STATUS_OK;
}

static int qf_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Window w covers text tokens [start, end); the first scored text token is `scored`. */
typedef struct qf_window {
    int64_t start, end, scored;
} qf_window;

/* With BOS the first text token of a window is predicted from BOS and scored too. */
static int64_t qf_plan_windows(int64_t n, int64_t text_ctx, int64_t stride, int has_bos, qf_window *out) {
    int64_t count = 0, prev_end = 0, skip = has_bos ? 0 : 1;
    if (n <= text_ctx) {
        if (out) out[0] = (qf_window){0, n, skip};
        return 1;
    }
    for (int64_t start = 0; start + text_ctx <= n; start += stride) {
        /* a tail shorter than a window is dropped, as the GPTQ/AWQ evaluations do */
        int64_t end = start + text_ctx;
        if (out) out[count] = (qf_window){start, end, prev_end > start + skip ? prev_end : start + skip};
        count++;
        prev_end = end;
    }
    return count;
}

qf_status qf_eval_perplexity(qf_runtime *rt, const int32_t *tokens, int64_t n,
                             const qf_eval_options *opt, qf_eval_result *res) {
    memset(res, 0, sizeof *res);
    const qf_model_config *cfg = qf_runtime_config(rt);
    int has_bos = opt->bos_id >= 0;
    int64_t ctx = opt->ctx, stride = opt->stride ? opt->stride : opt->ctx;
    QF_RETURN_IF(ctx < 2 + has_bos, QF_STATUS_INVALID_ARG, "--ctx must be at least %d", 2 + has_bos);
    QF_RETURN_IF(ctx > qf_runtime_max_ctx(rt), QF_STATUS_INVALID_ARG,
                 "--ctx %lld exceeds the model's context (%lld tokens)", (long long)ctx,
                 (long long)qf_runtime_max_ctx(rt));
    QF_RETURN_IF(stride < 1 || stride > ctx - has_bos, QF_STATUS_INVALID_ARG,
                 "--stride must be between 1 and the window's text length (%lld)",
                 (long long)(ctx - has_bos));
    QF_RETURN_IF(n < 2, QF_STATUS_INVALID_ARG, "the text has %lld token(s): nothing to score",
                 (long long)n);
    int topk = opt->topk ? opt->topk : QF_EVAL_DEFAULT_TOPK;
    QF_RETURN_IF(topk < 1 || topk > QF_LOGITS_MAX_TOPK || topk > cfg->vocab_size, QF_STATUS_INVALID_ARG,
                 "top-k must be between 1 and %d", QF_LOGITS_MAX_TOPK);
    int64_t text_ctx = ctx - has_bos;
    int64_t all_windows = qf_plan_windows(n, text_ctx, stride, has_bos, NULL);
    int64_t n_windows = opt->max_chunks > 0 && all_windows > opt->max_chunks ? opt->max_chunks : all_windows;

    qf_eval_state s = {.vocab = cfg->vocab_size, .topk = topk};
    qf_window *plan = malloc((size_t)all_windows * sizeof *plan);
    int32_t *win = malloc((size_t)ctx * sizeof *win);
    qf_status st = (!plan || !win) ? qf_error_set(QF_STATUS_NOMEM, "out of memory") : QF_STATUS_OK;
    if (st == QF_STATUS_OK) qf_plan_windows(n, text_ctx, stride, has_bos, plan);
    int64_t max_scored = 0;
    for (int64_t w = 0; st == QF_STATUS_OK && w < n_windows; w++) max_scored += plan[w].end - plan[w].scored;

    qf_logits_header hdr = {.topk = (uint32_t)s.topk, .vocab = (uint64_t)s.vocab, .ctx = ctx,
                            .stride = stride, .bos_id = opt->bos_id};
    snprintf(hdr.text_sha256, sizeof hdr.text_sha256, "%s", opt->text_sha256 ? opt->text_sha256 : "");
    if (st == QF_STATUS_OK && opt->kl_base) {
        st = qf_logits_reader_open(opt->kl_base, &s.base);
        if (st == QF_STATUS_OK) {
            const qf_logits_header *b = qf_logits_reader_header(s.base);
            if (b->vocab != hdr.vocab || b->ctx != ctx || b->stride != stride || b->bos_id != opt->bos_id ||
                strcmp(b->text_sha256, hdr.text_sha256) != 0 || b->n_positions != (uint64_t)max_scored)
                st = qf_error_set(QF_STATUS_INVALID_ARG,
                                  "'%s' was saved with vocab %llu, ctx %lld, stride %lld, bos %lld, text %.12s, "
                                  "%llu positions; this run has vocab %lld, ctx %lld, stride %lld, bos %lld, "
                                  "text %.12s, %lld positions",
                                  opt->kl_base, (unsigned long long)b->vocab, (long long)b->ctx,
                                  (long long)b->stride, (long long)b->bos_id, b->text_sha256,
                                  (unsigned long long)b->n_positions, (long long)hdr.vocab, (long long)ctx,
                                  (long long)stride, (long long)opt->bos_id, hdr.text_sha256,
                                  (long long)max_scored);
        }
        if (st == QF_STATUS_OK) {
            s.kl_values = malloc((size_t)(max_scored ? max_scored : 1) * sizeof *s.kl_values);
            if (!s.kl_values) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
        }
    }
    if (st == QF_STATUS_OK && opt->save_logits) st = qf_logits_writer_open(opt->save_logits, &hdr, &s.save);

    const double t0 = qf_clock_seconds();
    int64_t run_tokens = 0;
    for (int64_t w = 0; st == QF_STATUS_OK && w < n_windows; w++) {
        const qf_window *pw = &plan[w];
        int64_t len = 0;
        if (has_bos) win[len++] = opt->bos_id;
        memcpy(win + len, tokens + pw->start, (size_t)(pw->end - pw->start) * sizeof *win);
        len += pw->end - pw->start;
        s.window = win;
        s.n_window = len;
        s.score_from = has_bos + (pw->scored - pw->start);
        qf_runtime_reset(rt);
        st = qf_runtime_forward(rt, win, len, s.score_from - 1, qf_eval_on_logits, &s);
        run_tokens += len;
        char what[96];
        const double el = qf_clock_seconds() - t0;
        snprintf(what, sizeof what, "ppl %.4f, %.0f tokens/s",
                 s.n_scored ? exp(s.nll_sum / (double)s.n_scored) : 0.0, el > 0 ? (double)run_tokens / el : 0.0);
        if (st == QF_STATUS_OK && qf_progress_report(&opt->progress, what, (uint64_t)w + 1, (uint64_t)n_windows))
            st = qf_error_set(QF_STATUS_INTERRUPTED, "interrupted");
    }
    const double t1 = qf_clock_seconds();
    if (st == QF_STATUS_OK && s.base) st = qf_logits_reader_finish(s.base);
    if (s.save) {
        if (st == QF_STATUS_OK) st = qf_logits_writer_finish(s.save);
        else qf_logits_writer_abort(s.save);
    }
    if (st == QF_STATUS_OK) {
        res->n_tokens = n;
        res->n_windows = n_windows;
        res->n_scored = s.n_scored;
        res->nll_sum = s.nll_sum;
        res->ppl = exp(s.nll_sum / (double)s.n_scored);
        res->seconds = t1 - t0;
        res->tokens_per_s = res->seconds > 0 ? (double)run_tokens / res->seconds : 0.0;
        if (s.base) {
            res->has_kl = 1;
            res->base_ppl = exp(s.base_nll_sum / (double)s.n_scored);
            res->kld_mean = s.kl_sum / (double)s.n_scored;
            qsort(s.kl_values, (size_t)s.n_scored, sizeof *s.kl_values, qf_cmp_double);
            res->kld_p99 = s.kl_values[(int64_t)floor(0.99 * (double)(s.n_scored - 1))];
            res->kld_max = s.kl_values[s.n_scored - 1];
            res->top1_agree = (double)s.top1_same / (double)s.n_scored;
            res->topk_coverage = s.coverage_sum / (double)s.n_scored;
        }
    }
    qf_logits_reader_free(s.base);
    free(s.kl_values);
    free(plan);
    free(win);
    return st;
}
