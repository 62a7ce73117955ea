/* Prefill/decode timing of the runtime (bench.h). Decode feeds back the argmax so the
 * work equals real greedy generation. */
#include "core/clock.h"
#include "runtime/bench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "runtime/sampling.h"

#define QF_BENCH_MAX_REPEATS 100

typedef struct qf_bench_argmax {
    int64_t vocab;
    int32_t token;
} qf_bench_argmax;

static qf_status qf_bench_on_logits(void *user, int64_t first, int64_t count, const float *logits) {
    qf_bench_argmax *a = user;
    a->token = (int32_t)qf_argmax_f32(logits + (count - 1) * a->vocab, a->vocab);
    (void)first;
    return QF_STATUS_OK;
}

static int qf_cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double qf_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, qf_cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

qf_status qf_bench_run(qf_runtime *rt, const qf_bench_options *opt, qf_bench_result *res) {
    memset(res, 0, sizeof *res);
    int64_t vocab = qf_runtime_config(rt)->vocab_size;
    QF_RETURN_IF(opt->prompt < 1 || opt->gen < 0 || opt->repeats < 1 || opt->repeats > QF_BENCH_MAX_REPEATS,
                 QF_STATUS_INVALID_ARG, "need --prompt >= 1, --gen >= 0, 1 <= --repeats <= %d",
                 QF_BENCH_MAX_REPEATS);
    QF_RETURN_IF(opt->prompt + opt->gen > qf_runtime_max_ctx(rt), QF_STATUS_INVALID_ARG,
                 "--prompt + --gen = %lld exceeds the context of %lld tokens",
                 (long long)(opt->prompt + opt->gen), (long long)qf_runtime_max_ctx(rt));
    int32_t *prompt = malloc((size_t)opt->prompt * sizeof *prompt);
    QF_RETURN_IF(!prompt, QF_STATUS_NOMEM, "out of memory");
    uint64_t x = 0x5eed;
    for (int64_t i = 0; i < opt->prompt; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        prompt[i] = (int32_t)((x >> 33) % (uint64_t)vocab);
    }
    double pre[QF_BENCH_MAX_REPEATS], dec[QF_BENCH_MAX_REPEATS];
    qf_status st = QF_STATUS_OK;
    for (int r = 0; r < opt->repeats && st == QF_STATUS_OK; r++) {
        qf_bench_argmax a = {vocab, 0};
        qf_runtime_reset(rt);
        double t0 = qf_clock_seconds();
        st = qf_runtime_forward(rt, prompt, opt->prompt, opt->prompt - 1, qf_bench_on_logits, &a);
        double t1 = qf_clock_seconds();
        for (int64_t g = 0; g < opt->gen && st == QF_STATUS_OK; g++) {
            int32_t tok = a.token;
            st = qf_runtime_forward(rt, &tok, 1, 0, qf_bench_on_logits, &a);
        }
        double t2 = qf_clock_seconds();
        pre[r] = t1 - t0;
        dec[r] = t2 - t1;
    }
    free(prompt);
    QF_FORWARD(st);
    res->prefill_s = qf_median(pre, opt->repeats);
    res->decode_s = qf_median(dec, opt->repeats);
    res->prefill_tok_s = (double)opt->prompt / res->prefill_s;
    res->decode_tok_s = opt->gen ? (double)opt->gen / res->decode_s : 0.0;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) res->peak_rss_bytes = (int64_t)ru.ru_maxrss * 1024;
    return QF_STATUS_OK;
}
