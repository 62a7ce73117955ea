/* The forward pass vs transformers 5.24.0 (float32, eager attention) on tiny random
 * checkpoints of each supported flavour (fixtures/runtime/<name>/, see
 * fixtures/scripts/make_runtime_fixtures.py):
 *   llama-gqa-bias     Llama, GQA 4/2 heads, untied, attention_bias + mlp_bias, linear RoPE
 *   llama-tied-llama3  Llama, MQA, tied embeddings, llama3 RoPE scaling
 *   mistral-sliding    Mistral, head_dim 16 != hidden/heads, sliding window 24 < 150 tokens,
 *                      yarn RoPE scaling
 *   qwen2-bias         Qwen2 q/k/v bias
 *   llama-dynamic      dynamic NTK RoPE, 150 tokens > max_position_embeddings 64
 * Each sequence (150 and 37 tokens) runs as one prefill, token by token through the KV
 * cache, and as a prefill in two chunks, with 2 threads (and the first two with 1 and 3
 * threads); all must give transformers' logits.
 * (Dynamic RoPE depends on the length seen so far, as in transformers: the prefill is
 * compared with transformers' prefill, the token-by-token run with transformers' own
 * token-by-token run through its cache.)
 *
 * Tolerance, F32 weights: 1e-4 absolute on logits of magnitude ~1-10. Both sides compute
 * in float32 from identical weights; only summation order (BLAS blocking, online softmax)
 * and libm differ, which amounts to ~1e-6 relative per op over 2 layers. A wrong mask,
 * RoPE frequency or bias is >= 1e-2.
 * F16 weights in memory: compared with the F32 run (not with transformers), 0.05 abs:
 * rounding weights to 11 significant bits moves each logit by ~1e-3 relative.
 * Also: bad tokens, cache overflow, bad options, a model without config, callback errors,
 * a weight too large for F16 weights. */
#include <cJSON.h>
#include <unistd.h>

#include "core/fileio.h"
#include "formats/model.h"
#include "runtime/runtime.h"
#include "tests/test_gguf_util.h"

#define RT_DIR QF_FIXTURES_DIR "/runtime/"
#define TOL_F32 1e-4
#define TOL_F16 5e-2

typedef struct sink {
    float *logits; /* (n, vocab) */
    int64_t base, vocab, n, calls;
} sink;

static qf_status collect(void *user, int64_t first, int64_t count, const float *logits) {
    sink *s = user;
    s->calls++;
    if (first < 0 || s->base + first + count > s->n) {
        fprintf(stderr, "callback: rows %lld+%lld outside %lld\n", (long long)(s->base + first),
                (long long)count, (long long)s->n);
        exit(1);
    }
    memcpy(s->logits + (s->base + first) * s->vocab, logits,
           (size_t)(count * s->vocab) * sizeof(float));
    return QF_STATUS_OK;
}

static float *read_f32(const char *dir, const char *file, size_t want) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *buf = NULL;
    size_t len = 0;
    if (qf_file_read_all(path, 64u << 20, &buf, &len) != QF_STATUS_OK || len != want * 4) {
        fprintf(stderr, "fixture %s: cannot read %zu floats\n", path, want);
        exit(1);
    }
    float *f = malloc(want * sizeof *f);
    memcpy(f, buf, want * 4); /* little-endian, like this machine */
    free(buf);
    return f;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= w)) w = isnan(d) ? INFINITY : d; /* a NaN (row never written) fails */
    }
    return w;
}

enum { MODE_PREFILL, MODE_DECODE, MODE_CHUNKS };
static const char *mode_name[] = {"prefill", "decode", "2 chunks"};

/* Runs tokens in the given mode from an empty cache into s->logits. */
static void run_mode(qf_runtime *rt, const int32_t *tok, int64_t n, int mode, sink *s) {
    qf_runtime_reset(rt);
    memset(s->logits, 0xff, (size_t)(n * s->vocab) * sizeof(float)); /* NaN: rows not written */
    s->calls = 0;
    if (mode == MODE_PREFILL) {
        s->base = 0;
        CHECK_OK(qf_runtime_forward(rt, tok, n, 0, collect, s));
    } else if (mode == MODE_DECODE) {
        for (int64_t i = 0; i < n; i++) {
            s->base = i;
            CHECK_OK(qf_runtime_forward(rt, tok + i, 1, 0, collect, s));
        }
    } else {
        const int64_t split = n * 2 / 5;
        s->base = 0;
        CHECK_OK(qf_runtime_forward(rt, tok, split, 0, collect, s));
        s->base = split;
        CHECK_OK(qf_runtime_forward(rt, tok + split, n - split, 0, collect, s));
    }
    CHECK(qf_runtime_pos(rt) == n);
}

static void test_fixture(const char *name) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, RT_DIR "%s", name);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    cJSON *j = qf_test_load_json(path);
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(dir, &m));
    if (!m) return;
    qf_runtime *rt = NULL, *rt16 = NULL;
    /* max_ctx past max_position_embeddings for llama-dynamic (64 < 150) */
    qf_runtime_options o = {.n_threads = 2, .max_ctx = 256, .weight_dtype = QF_DTYPE_F32};
    CHECK_OK(qf_runtime_init(m, &o, &rt));
    o.weight_dtype = QF_DTYPE_F16;
    CHECK_OK(qf_runtime_init(m, &o, &rt16));
    if (!rt || !rt16) return;
    const int64_t vocab = (int64_t)qf_test_json_num(j, "vocab_size");
    CHECK(qf_runtime_config(rt)->vocab_size == vocab);
    const cJSON *seq;
    cJSON_ArrayForEach(seq, cJSON_GetObjectItemCaseSensitive(j, "sequences")) {
        const cJSON *toks = cJSON_GetObjectItemCaseSensitive(seq, "tokens");
        const int64_t n = cJSON_GetArraySize(toks);
        int32_t *tok = malloc((size_t)n * sizeof *tok);
        for (int64_t i = 0; i < n; i++)
            tok[i] = (int32_t)cJSON_GetArrayItem(toks, (int)i)->valuedouble;
        const size_t total = (size_t)(n * vocab);
        float *want = read_f32(dir, qf_test_json_str(seq, "logits"), total);
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(seq, "decode_logits");
        float *want_dec = dec ? read_f32(dir, dec->valuestring, total) : NULL;
        sink s = {.logits = malloc(total * sizeof(float)), .vocab = vocab, .n = n};
        for (int mode = MODE_PREFILL; mode <= MODE_CHUNKS; mode++) {
            /* dynamic RoPE: chunked runs have no transformers counterpart stored */
            if (want_dec && mode == MODE_CHUNKS) continue;
            const float *ref = (want_dec && mode == MODE_DECODE) ? want_dec : want;
            run_mode(rt, tok, n, mode, &s);
            const double d = max_diff(s.logits, ref, total);
            printf("%-18s n=%3lld %-8s F32 max |logits - transformers| = %.3g\n", name,
                   (long long)n, mode_name[mode], d);
            CHECK_MSG(d <= TOL_F32, "%s n=%lld %s: max diff %.3g > %g", name, (long long)n,
                      mode_name[mode], d, TOL_F32);
        }
        /* other thread counts split heads, rows and tasks differently: same logits */
        for (int k = 0; k < 2; k++) {
            qf_runtime *rtn = NULL;
            qf_runtime_options on = {.n_threads = k ? 3 : 1, .max_ctx = 256,
                                     .weight_dtype = QF_DTYPE_F32};
            CHECK_OK(qf_runtime_init(m, &on, &rtn));
            if (!rtn) continue;
            for (int mode = MODE_PREFILL; mode <= MODE_DECODE; mode++) {
                run_mode(rtn, tok, n, mode, &s);
                const float *ref = (want_dec && mode == MODE_DECODE) ? want_dec : want;
                const double d = max_diff(s.logits, ref, total);
                CHECK_MSG(d <= TOL_F32, "%s n=%lld %s, %d threads: max diff %.3g > %g", name,
                          (long long)n, mode_name[mode], on.n_threads, d, TOL_F32);
            }
            qf_runtime_free(rtn);
        }
        /* F16 weights vs the F32 path, prefill */
        float *f32 = malloc(total * sizeof(float));
        run_mode(rt, tok, n, MODE_PREFILL, &s);
        memcpy(f32, s.logits, total * sizeof(float));
        run_mode(rt16, tok, n, MODE_PREFILL, &s);
        const double d16 = max_diff(s.logits, f32, total);
        printf("%-18s n=%3lld prefill  F16 weights: max |logits - F32 run| = %.3g\n", name,
               (long long)n, d16);
        CHECK_MSG(d16 <= TOL_F16, "%s F16: max diff %.3g > %g", name, d16, TOL_F16);
        /* only the last row when logits_from = n - 1 */
        qf_runtime_reset(rt);
        s.base = 0;
        s.calls = 0;
        CHECK_OK(qf_runtime_forward(rt, tok, n, n - 1, collect, &s));
        CHECK(s.calls == 1);
        CHECK(max_diff(s.logits + (n - 1) * vocab, f32 + (n - 1) * vocab, (size_t)vocab) <= 1e-5);
        free(f32), free(s.logits), free(want), free(want_dec), free(tok);
    }
    qf_runtime_free(rt);
    qf_runtime_free(rt16);
    qf_model_free(m);
    cJSON_Delete(j);
}

static qf_status fail_cb(void *user, int64_t first, int64_t count, const float *logits) {
    (void)first, (void)count, (void)logits;
    int *calls = user;
    (*calls)++;
    return qf_error_set(QF_STATUS_INTERRUPTED, "stopped by the test");
}

static void test_bad_input(void) {
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(RT_DIR "qwen2-bias", &m));
    if (!m) return;
    qf_runtime *rt = NULL;
    qf_runtime_options o = {.n_threads = 1, .max_ctx = 40};
    CHECK_OK(qf_runtime_init(m, &o, &rt));
    if (!rt) return;
    CHECK(qf_runtime_max_ctx(rt) == 40);
    int32_t tok[64] = {0};
    for (int i = 0; i < 64; i++) tok[i] = i % 96;
    tok[5] = 96;
    CHECK_FAILS(qf_runtime_forward(rt, tok, 10, 0, NULL, NULL), QF_STATUS_INVALID_ARG,
                "token 5 has id 96");
    tok[5] = -1;
    CHECK_FAILS(qf_runtime_forward(rt, tok, 10, 0, NULL, NULL), QF_STATUS_INVALID_ARG,
                "outside the vocabulary");
    tok[5] = 5;
    CHECK(qf_runtime_pos(rt) == 0);
    CHECK_FAILS(qf_runtime_forward(rt, tok, 41, 0, NULL, NULL), QF_STATUS_INVALID_ARG,
                "KV cache overflow");
    CHECK_OK(qf_runtime_forward(rt, tok, 30, 30, NULL, NULL)); /* no logits wanted */
    CHECK_FAILS(qf_runtime_forward(rt, tok, 11, 0, NULL, NULL), QF_STATUS_INVALID_ARG,
                "KV cache overflow");
    CHECK(qf_runtime_pos(rt) == 30);
    CHECK_OK(qf_runtime_forward(rt, tok, 10, 9, NULL, NULL));
    CHECK(qf_runtime_pos(rt) == 40);
    CHECK_FAILS(qf_runtime_forward(rt, tok, 1, 0, NULL, NULL), QF_STATUS_INVALID_ARG,
                "KV cache overflow");
    qf_runtime_reset(rt);
    CHECK(qf_runtime_pos(rt) == 0);
    CHECK_FAILS(qf_runtime_forward(rt, tok, 0, 0, NULL, NULL), QF_STATUS_INVALID_ARG,
                "at least one token");
    CHECK_FAILS(qf_runtime_forward(rt, NULL, 3, 0, NULL, NULL), QF_STATUS_INVALID_ARG,
                "at least one token");
    CHECK_FAILS(qf_runtime_forward(rt, tok, 3, 4, NULL, NULL), QF_STATUS_INVALID_ARG,
                "logits_from");
    CHECK_FAILS(qf_runtime_forward(NULL, tok, 3, 0, NULL, NULL), QF_STATUS_INVALID_ARG,
                "NULL");
    int calls = 0;
    CHECK_FAILS(qf_runtime_forward(rt, tok, 20, 0, fail_cb, &calls), QF_STATUS_INTERRUPTED,
                "stopped by the test");
    CHECK(calls == 1);
    CHECK(qf_runtime_pos(rt) == 0); /* a failed call leaves the cache as it was */
    qf_runtime_free(rt);

    qf_runtime *bad = NULL;
    o = (qf_runtime_options){.n_threads = -1};
    CHECK_FAILS(qf_runtime_init(m, &o, &bad), QF_STATUS_INVALID_ARG, "n_threads");
    o = (qf_runtime_options){.weight_dtype = QF_DTYPE_BF16};
    CHECK_FAILS(qf_runtime_init(m, &o, &bad), QF_STATUS_INVALID_ARG, "weight_dtype BF16");
    o = (qf_runtime_options){.max_ctx = -5};
    CHECK_FAILS(qf_runtime_init(m, &o, &bad), QF_STATUS_INVALID_ARG, "max_ctx");
    CHECK(bad == NULL);
    CHECK_FAILS(qf_runtime_init(NULL, NULL, &bad), QF_STATUS_INVALID_ARG, "model is NULL");
    qf_runtime_free(NULL);
    /* defaults: every core, max_ctx = min(max_position_embeddings, 4096), F32 from F32 */
    CHECK_OK(qf_runtime_init(m, NULL, &bad));
    if (bad) CHECK(qf_runtime_max_ctx(bad) == 256);
    qf_runtime_free(bad);
    qf_model_free(m);

    /* a bare safetensors file has no config */
    qf_model *bare = NULL;
    CHECK_OK(qf_model_open(RT_DIR "qwen2-bias/model.safetensors", &bare));
    if (bare) {
        bad = NULL;
        CHECK_FAILS(qf_runtime_init(bare, NULL, &bad), QF_STATUS_INVALID_ARG, "no config");
        CHECK(bad == NULL);
        qf_model_free(bare);
    }
}

static void copy_file(const char *src, const char *dst, char **data, size_t *len) {
    if (qf_file_read_all(src, 64u << 20, data, len) != QF_STATUS_OK) {
        fprintf(stderr, "cannot read %s\n", src);
        exit(1);
    }
    FILE *f = fopen(dst, "wb");
    if (!f || fwrite(*data, 1, *len, f) != *len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", dst);
        exit(1);
    }
}

/* A weight past the F16 range: asking for F16 weights fails (instead of storing inf); the
 * automatic choice keeps that tensor F32 and gives the F32 run's logits. */
static void test_f16_overflow(void) {
    char dir[] = "/tmp/qf_test_runtime_XXXXXX", path[256];
    if (!mkdtemp(dir)) return;
    char *cfg = NULL, *st = NULL;
    size_t cfg_len, st_len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    copy_file(RT_DIR "qwen2-bias/config.json", path, &cfg, &cfg_len);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    copy_file(RT_DIR "qwen2-bias/model.safetensors", path, &st, &st_len);
    /* patch the first element of up_proj in layer 0 to 1e6 */
    uint64_t hlen;
    memcpy(&hlen, st, 8);
    cJSON *h = cJSON_ParseWithLength(st + 8, (size_t)hlen);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(h, "model.layers.0.mlp.up_proj.weight");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    CHECK(off != NULL);
    if (off) {
        const float big = 1e6f;
        memcpy(st + 8 + hlen + (size_t)cJSON_GetArrayItem(off, 0)->valuedouble, &big, 4);
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(st, 1, st_len, f) == st_len && fclose(f) == 0);
        qf_model *m = NULL;
        CHECK_OK(qf_model_open(dir, &m));
        qf_runtime *rt = NULL;
        qf_runtime_options o = {.n_threads = 1, .weight_dtype = QF_DTYPE_F16};
        if (m) {
            CHECK_FAILS(qf_runtime_init(m, &o, &rt), QF_STATUS_UNSUPPORTED,
                        "outside the F16 range");
            CHECK(rt == NULL);
            o.weight_dtype = QF_DTYPE_BOOL; /* automatic: F32 for this F32 checkpoint */
            CHECK_OK(qf_runtime_init(m, &o, &rt));
            qf_runtime_free(rt);
            qf_model_free(m);
        }
    }
    cJSON_Delete(h);
    free(cfg), free(st);
    remove(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    rmdir(dir);
}

int main(void) {
    static const char *fixtures[] = {"llama-gqa-bias", "llama-tied-llama3", "mistral-sliding",
                                     "qwen2-bias", "llama-dynamic"};
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) test_fixture(fixtures[i]);
    test_bad_input();
    test_f16_overflow();
    TEST_END();
}
