/* Test helpers shared by the quantize tests (test_pipeline*.c): paths in the test's temp
 * dir, byte comparison of two files, small quantize options, the report of a run, and
 * the logits of a checkpoint on a fixed token sequence (to measure how far a quantized
 * artifact moved them). */
#ifndef QF_TEST_QUANTIZE_UTIL_H
#define QF_TEST_QUANTIZE_UTIL_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "formats/model.h"
#include "pipeline/pipeline.h"
#include "runtime/runtime.h"
#include "tests/test.h"
#include "tests/test_logits_util.h"

#define QF_TEST_N_TOK 32

/* dir/name in one of 8 rotating buffers. */
static inline char *qf_test_path(const char *dir, const char *name) {
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

/* Method m on 4 windows of 48 tokens of the shared TinyStories sample, group size 32, one
 * thread: a few seconds on the tiny models. */
static inline qf_quantize_options qf_test_small_options(qf_quant_method m) {
    static const char *paths[1] = {QF_SHARED_DIR "/data/calib/tinystories-sample.txt"};
    qf_quantize_options o = qf_quantize_options_default();
    o.method = m;
    o.calib_paths = paths;
    o.n_calib_paths = 1;
    o.calib.n_samples = 4;
    o.calib.seqlen = 48;
    o.gptq.quant.group_size = 32;
    o.n_threads = 1;
    return o;
}

/* dir/quantize_report.json parsed (NULL, with a failed check, if it cannot be). */
static inline cJSON *qf_test_report(const char *dir) {
    char path[600], *text = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/quantize_report.json", dir);
    CHECK_OK(qf_file_read_all(path, 16u << 20, &text, &n));
    cJSON *j = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    CHECK(j != NULL);
    return j;
}

static inline int qf_test_same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int same = qf_file_read_all(a, 64u << 20, &x, &nx) == QF_STATUS_OK &&
               qf_file_read_all(b, 64u << 20, &y, &ny) == QF_STATUS_OK && nx == ny &&
               memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

/* (QF_TEST_N_TOK, vocab) logits of the model in dir (F32 weights, one prefill). */
static inline float *qf_test_logits(const char *dir, int64_t *vocab) {
    int32_t tok[QF_TEST_N_TOK];
    for (int i = 0; i < QF_TEST_N_TOK; i++) tok[i] = 100 + (i * 7919) % 31000;
    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    CHECK_OK(qf_model_open(dir, &m));
    const qf_runtime_options o = {.n_threads = 1, .max_ctx = 64, .weight_dtype = QF_DTYPE_F32};
    if (m) CHECK_OK(qf_runtime_init(m, &o, &rt));
    float *v = NULL;
    if (rt) {
        *vocab = qf_runtime_config(rt)->vocab_size;
        v = malloc((size_t)(QF_TEST_N_TOK * *vocab) * sizeof *v);
        logits_buf b = {v, *vocab};
        CHECK_OK(qf_runtime_forward(rt, tok, QF_TEST_N_TOK, 0, keep, &b));
    }
    qf_runtime_free(rt);
    qf_model_free(m);
    return v;
}

/* mean |logits(dir) - ref| */
static inline double qf_test_logit_error(const char *dir, const float *ref) {
    int64_t vocab = 0;
    float *v = qf_test_logits(dir, &vocab);
    if (!v) return INFINITY;
    double e = 0.0;
    for (int64_t k = 0; k < QF_TEST_N_TOK * vocab; k++) e += fabs((double)v[k] - ref[k]);
    free(v);
    return e / (double)(QF_TEST_N_TOK * vocab);
}

#endif
