/* Helpers shared by the interop tests that check our quantized checkpoints against the
 * real consumer's logits (test_gptq_interop.c, test_awq_interop.c; fixtures made by
 * fixtures/scripts/make_{gptq,awq}_interop_fixtures.py): loading the consumer's logits,
 * running our runtime on the same tokens, and comparing two checkpoints' bytes. */
#ifndef QF_TEST_INTEROP_UTIL_H
#define QF_TEST_INTEROP_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "formats/model.h"
#include "formats/safetensors.h"
#include "runtime/runtime.h"
#include "tests/test.h"
#include "tests/test_logits_util.h"

/* The consumer ran IO_N_TOK tokens as one sequence from position 0; our runtime runs the
 * first IO_N_PRE as a prefill, then one KV-cache decode step per remaining token. */
#define IO_N_TOK 16
#define IO_N_PRE 12

typedef struct consumer_logits {
    int32_t tokens[IO_N_TOK];
    float *logits; /* (IO_N_TOK, vocab) */
    int64_t vocab;
} consumer_logits;

/* Reads `tokens` (I32 (IO_N_TOK)) and the F32 (IO_N_TOK, vocab) tensor `key` of the
 * logits file at path into *c (c->logits malloc'd). 0 on failure (reported). */
static inline int io_load_consumer(const char *path, const char *key, consumer_logits *c) {
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(path, &f));
    if (!f) return 0;
    const qf_st_tensor *tt = qf_st_find(f, "tokens", 6), *lt = qf_st_find(f, key, strlen(key));
    int ok = tt && lt && tt->dtype == QF_DTYPE_I32 && tt->numel == IO_N_TOK &&
             lt->dtype == QF_DTYPE_F32 && lt->ndim == 2 && lt->shape[0] == IO_N_TOK;
    CHECK_MSG(ok, "%s: tokens I32 (%d) and %s F32 (%d, vocab) expected", path, IO_N_TOK, key,
              IO_N_TOK);
    if (ok) {
        memcpy(c->tokens, tt->data, sizeof c->tokens); /* the mapping may be unaligned */
        c->vocab = lt->shape[1];
        c->logits = malloc((size_t)lt->numel * sizeof *c->logits);
        memcpy(c->logits, lt->data, (size_t)lt->numel * sizeof *c->logits);
    }
    qf_st_close(f);
    return ok;
}

/* Our logits (IO_N_TOK, vocab) for the model in dir (F32 weights, 1 thread). NULL on
 * failure (already reported). */
static inline float *io_run_ours(const char *dir, const consumer_logits *c) {
    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    CHECK_OK(qf_model_open(dir, &m));
    const qf_runtime_options o = {.n_threads = 1, .max_ctx = 64, .weight_dtype = QF_DTYPE_F32};
    if (m) CHECK_OK(qf_runtime_init(m, &o, &rt));
    float *v = NULL;
    if (rt && qf_runtime_config(rt)->vocab_size == c->vocab) {
        v = malloc((size_t)(IO_N_TOK * c->vocab) * sizeof *v);
        logits_buf b = {v, c->vocab};
        CHECK_OK(qf_runtime_forward(rt, c->tokens, IO_N_PRE, 0, keep, &b));
        for (int i = IO_N_PRE; i < IO_N_TOK; i++) {
            logits_buf one = {v + i * c->vocab, c->vocab};
            CHECK_OK(qf_runtime_forward(rt, c->tokens + i, 1, 0, keep, &one));
        }
    } else if (rt) {
        CHECK_MSG(0, "%s: vocab %lld, the consumer's logits have %lld", dir,
                  (long long)qf_runtime_config(rt)->vocab_size, (long long)c->vocab);
    }
    qf_runtime_free(rt);
    qf_model_free(m);
    return v;
}

/* max |ours[e] - consumer's[e]| over all logits; also checks that the consumer's logits
 * are not all ~0 (then any tolerance would pass). */
static inline double io_max_diff(const char *what, const float *ours, const consumer_logits *c) {
    double w = 0.0, spread = 0.0;
    for (int64_t e = 0; e < IO_N_TOK * c->vocab; e++) {
        w = fmax(w, fabs((double)ours[e] - c->logits[e]));
        spread = fmax(spread, fabs((double)c->logits[e]));
    }
    CHECK_MSG(spread > 1.0, "%s: the consumer's logits are all ~0 (max %.3g)", what, spread);
    return w;
}

/* max |ours - consumer's| for the model in dir, or -1 if it could not run. */
static inline double io_diff_vs_consumer(const char *dir, const consumer_logits *c) {
    float *ours = io_run_ours(dir, c);
    if (!ours) return -1.0;
    const double w = io_max_diff(dir, ours, c);
    free(ours);
    return w;
}

static inline int io_same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    CHECK_OK(qf_file_read_all(a, 64u << 20, &x, &nx));
    CHECK_OK(qf_file_read_all(b, 64u << 20, &y, &ny));
    const int same = x && y && nx == ny && memcmp(x, y, nx) == 0;
    free(x), free(y);
    return same;
}

/* Compares the tensors (not the metadata: it records the calibration path as given) of
 * two checkpoints. Returns the number of tensors whose bytes differ, or -1 if the two do
 * not hold the same names, dtypes and shapes (which is checked). */
static inline int io_tensors_differing(const char *a, const char *b) {
    qf_st_file *fa = NULL, *fb = NULL;
    CHECK_OK(qf_st_open(a, &fa));
    CHECK_OK(qf_st_open(b, &fb));
    int n_diff = -1;
    if (fa && fb && qf_st_count(fa) == qf_st_count(fb)) {
        n_diff = 0;
        for (size_t i = 0; i < qf_st_count(fa) && n_diff >= 0; i++) {
            const qf_st_tensor *x = qf_st_get(fa, i);
            const qf_st_tensor *y = qf_st_find(fb, x->name, x->name_len);
            if (!y || y->dtype != x->dtype || y->ndim != x->ndim ||
                memcmp(y->shape, x->shape, (size_t)x->ndim * sizeof x->shape[0]) != 0) {
                n_diff = -1;
            } else if (x->end - x->begin != y->end - y->begin ||
                       (x->end > x->begin &&
                        memcmp(x->data, y->data, (size_t)(x->end - x->begin)) != 0)) {
                n_diff++;
            }
        }
    }
    CHECK_MSG(n_diff >= 0, "%s and %s: different tensor names, dtypes or shapes", a, b);
    qf_st_close(fa);
    qf_st_close(fb);
    return n_diff;
}

/* Runs `qforge quantize source fresh opts --threads 1`; 1 if it succeeded (else
 * reported). */
static inline int io_quantize(const char *source, const char *fresh, const char *opts) {
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s quantize %s %s %s --threads 1", QF_QFORGE_BIN, source, fresh,
             opts);
    const int rc = qf_test_run(cmd, &out);
    CHECK_MSG(rc == 0, "%s: exit %d: %s", cmd, rc, out ? out : "");
    free(out);
    return rc == 0;
}

/* A fresh temp directory (template /tmp/qf_test_<tag>_XXXXXX) in buf; 0 on failure. */
static inline int io_mkdtemp(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "/tmp/qf_test_%s_XXXXXX", tag);
    return mkdtemp(buf) != NULL;
}

static inline int io_rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0;
}

#endif
