/* Real-model test (label "model"): SmolLM2-135M-Instruct.Q4_1.gguf (scripts/get-model.sh)
 * vs transformers 5.24.0 loading the same GGUF (float32, eager attention;
 * fixtures/runtime/smollm2.json by fixtures/scripts/make_runtime_fixtures.py), for token
 * sequences of 1, 17 and 300 tokens (300 > the runtime's 256-token internal chunk and
 * several logits blocks):
 *   per position: argmax, logsumexp and mean of the 49152 logits;
 *   at 3 positions per sequence: the logits at every 61st id and the 16 largest.
 * Modes: one prefill, token by token through the KV cache, two chunks.
 * Tolerance, F32 weights: 5e-4 absolute on logits (|logit| up to ~30) and logsumexp, 1e-4
 * on the mean. Same weights bit for bit (tested in test_gguf_smollm2); 30 layers of float32
 * with different summation orders (OpenBLAS blocking vs torch's, online softmax) drift by
 * ~1e-6 relative per layer (observed max 5e-5 on the logits); a real bug (mask, RoPE, norm) moves
 * them by > 0.1. Argmax must agree except where transformers' top two are within 5e-4.
 * F16 weights in memory: vs the F32 run, 0.1 absolute on logits (observed 0.04; weights
 * rounded to 11 bits through 30 layers), argmax agreement >= 95%. A missing model is a failure. */
#include <cJSON.h>

#include "formats/model.h"
#include "runtime/runtime.h"
#include "tests/test_gguf_util.h"

#define TOL_LOGIT 5e-4
#define TOL_MEAN 1e-4
#define TOL_F16 0.1

typedef struct sink {
    float *logits; /* (n, vocab) */
    int64_t base, vocab, n;
} sink;

static qf_status collect(void *user, int64_t first, int64_t count, const float *logits) {
    sink *s = user;
    if (first < 0 || s->base + first + count > s->n) exit(1);
    memcpy(s->logits + (s->base + first) * s->vocab, logits,
           (size_t)(count * s->vocab) * sizeof(float));
    return QF_STATUS_OK;
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static double logsumexp(const float *x, int64_t n) {
    const double mx = x[argmax(x, n)];
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

static double num(const cJSON *arr, int i) { return cJSON_GetArrayItem(arr, i)->valuedouble; }

/* Compares logits (n, vocab) with the fixture entry; returns the max abs logit diff. */
static double compare(const cJSON *seq, const float *lg, int64_t n, int64_t vocab, int stride,
                      const char *what) {
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(seq, "argmax");
    const cJSON *lse = cJSON_GetObjectItemCaseSensitive(seq, "logsumexp");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(seq, "sum");
    double worst = 0.0;
    for (int64_t t = 0; t < n; t++) {
        const float *row = lg + t * vocab;
        const int64_t a = argmax(row, vocab), want = (int64_t)num(am, (int)t);
        CHECK_MSG(a == want || fabs((double)row[a] - row[want]) <= TOL_LOGIT,
                  "%s pos %lld: argmax %lld (%.6g), transformers %lld (%.6g)", what,
                  (long long)t, (long long)a, row[a], (long long)want, row[want]);
        const double l = logsumexp(row, vocab);
        worst = fmax(worst, fabs(l - num(lse, (int)t)));
        CHECK_MSG(fabs(l - num(lse, (int)t)) <= TOL_LOGIT, "%s pos %lld: logsumexp %.9g vs %.9g",
                  what, (long long)t, l, num(lse, (int)t));
        double s = 0.0;
        for (int64_t i = 0; i < vocab; i++) s += row[i];
        CHECK_MSG(fabs(s - num(sum, (int)t)) / (double)vocab <= TOL_MEAN,
                  "%s pos %lld: mean logit %.9g vs %.9g", what, (long long)t, s / (double)vocab,
                  num(sum, (int)t) / (double)vocab);
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(seq, "positions")) {
        const int64_t t = (int64_t)qf_test_json_num(p, "pos");
        const float *row = lg + t * vocab;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(p, "strided");
        for (int i = 0; i < cJSON_GetArraySize(st); i++)
            worst = fmax(worst, fabs(row[(int64_t)i * stride] - num(st, i)));
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(p, "top_ids");
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(p, "top_logits");
        for (int i = 0; i < cJSON_GetArraySize(ids); i++)
            worst = fmax(worst, fabs(row[(int64_t)num(ids, i)] - num(tl, i)));
    }
    if (isnan(worst)) worst = INFINITY;
    CHECK_MSG(worst <= TOL_LOGIT, "%s: max logit diff %.3g > %g", what, worst, TOL_LOGIT);
    return worst;
}

int main(void) {
    qf_model *m = NULL;
    qf_status st = qf_model_open(QF_TEST_SMOLLM2_GGUF, &m);
    if (st != QF_STATUS_OK) {
        fprintf(stderr, "cannot open %s (run scripts/get-model.sh): %s\n", QF_TEST_SMOLLM2_GGUF,
                qf_error_message());
        return 1;
    }
    cJSON *j = qf_test_load_json(QF_FIXTURES_DIR "/runtime/smollm2.json");
    const int64_t vocab = (int64_t)qf_test_json_num(j, "vocab_size");
    const int stride = (int)qf_test_json_num(j, "stride");
    qf_runtime *rt = NULL, *rt16 = NULL;
    qf_runtime_options o = {.n_threads = 2, .max_ctx = 512, .weight_dtype = QF_DTYPE_F32};
    CHECK_OK(qf_runtime_init(m, &o, &rt));
    o.weight_dtype = 0; /* default for a quantized GGUF: F16 */
    CHECK_OK(qf_runtime_init(m, &o, &rt16));
    if (!rt || !rt16) TEST_END();
    CHECK(qf_runtime_config(rt)->vocab_size == vocab);
    const cJSON *seq;
    cJSON_ArrayForEach(seq, cJSON_GetObjectItemCaseSensitive(j, "sequences")) {
        const cJSON *toks = cJSON_GetObjectItemCaseSensitive(seq, "tokens");
        const int64_t n = cJSON_GetArraySize(toks);
        int32_t *tok = malloc((size_t)n * sizeof *tok);
        for (int64_t i = 0; i < n; i++) tok[i] = (int32_t)num(toks, (int)i);
        sink s = {.logits = malloc((size_t)(n * vocab) * sizeof(float)), .vocab = vocab, .n = n};
        char what[64];
        /* prefill */
        qf_runtime_reset(rt);
        CHECK_OK(qf_runtime_forward(rt, tok, n, 0, collect, &s));
        snprintf(what, sizeof what, "n=%lld prefill", (long long)n);
        printf("%-18s F32 max |logits - transformers| = %.3g\n", what,
               compare(seq, s.logits, n, vocab, stride, what));
        float *f32 = malloc((size_t)(n * vocab) * sizeof(float));
        memcpy(f32, s.logits, (size_t)(n * vocab) * sizeof(float));
        /* logits only from n - 10 on (in the second internal chunk when n = 300); the same
         * rows up to float32 rounding (sgemm blocks by the number of rows differently) */
        if (n > 10) {
            qf_runtime_reset(rt);
            memset(s.logits, 0xff, (size_t)(n * vocab) * sizeof(float));
            CHECK_OK(qf_runtime_forward(rt, tok, n, n - 10, collect, &s));
            double d = 0.0;
            for (size_t i = (size_t)((n - 10) * vocab); i < (size_t)(n * vocab); i++)
                d = fmax(d, isnan(s.logits[i]) ? INFINITY : fabs(s.logits[i] - f32[i]));
            CHECK_MSG(d <= 1e-4, "logits_from n-10: %.3g from the full prefill", d);
        }
        /* token by token */
        qf_runtime_reset(rt);
        for (int64_t i = 0; i < n; i++) {
            s.base = i;
            CHECK_OK(qf_runtime_forward(rt, tok + i, 1, 0, collect, &s));
        }
        snprintf(what, sizeof what, "n=%lld decode", (long long)n);
        printf("%-18s F32 max |logits - transformers| = %.3g\n", what,
               compare(seq, s.logits, n, vocab, stride, what));
        /* two chunks */
        if (n > 1) {
            qf_runtime_reset(rt);
            s.base = 0;
            CHECK_OK(qf_runtime_forward(rt, tok, n / 3, 0, collect, &s));
            s.base = n / 3;
            CHECK_OK(qf_runtime_forward(rt, tok + n / 3, n - n / 3, 0, collect, &s));
            snprintf(what, sizeof what, "n=%lld 2 chunks", (long long)n);
            printf("%-18s F32 max |logits - transformers| = %.3g\n", what,
                   compare(seq, s.logits, n, vocab, stride, what));
        }
        /* F16 weights vs the F32 run */
        qf_runtime_reset(rt16);
        s.base = 0;
        CHECK_OK(qf_runtime_forward(rt16, tok, n, 0, collect, &s));
        double worst = 0.0;
        int64_t agree = 0;
        for (int64_t t = 0; t < n; t++) {
            agree += argmax(s.logits + t * vocab, vocab) == argmax(f32 + t * vocab, vocab);
            for (int64_t i = 0; i < vocab; i++)
                worst = fmax(worst, fabs(s.logits[t * vocab + i] - f32[t * vocab + i]));
        }
        printf("n=%-3lld F16 weights: max |logits - F32 run| = %.3g, argmax agreement %lld/%lld\n",
               (long long)n, worst, (long long)agree, (long long)n);
        CHECK_MSG(worst <= TOL_F16, "F16 n=%lld: %.3g", (long long)n, worst);
        CHECK(agree * 100 >= n * 95);
        free(f32), free(s.logits), free(tok);
    }
    qf_runtime_free(rt);
    qf_runtime_free(rt16);
    qf_model_free(m);
    cJSON_Delete(j);
    TEST_END();
}
