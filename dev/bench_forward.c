/* Forward-pass timing playground: prefill tokens/s for P tokens and decode tokens/s for G
 * single-token steps after it, on any model qf_model_open accepts.
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -I. dev/bench_forward.c build-fwd/libqforge.a \
 *          $(pkg-config --libs openblas libzstd libcjson libpcre2-8 libutf8proc lapacke) -lpthread -lm
 * Run:   ./bench_forward MODEL [threads=2] [f32|f16] [P=256] [G=64] [all]
 *        ("all": the prefill asks for the logits of every position, as perplexity does) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/model.h"
#include "runtime/runtime.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static qf_status sink(void *user, int64_t first, int64_t count, const float *logits) {
    (void)first, (void)count;
    *(float *)user += logits[0];
    return QF_STATUS_OK;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const int threads = argc > 2 ? atoi(argv[2]) : 2;
    const qf_dtype dt = argc > 3 && strcmp(argv[3], "f32") == 0 ? QF_DTYPE_F32 : QF_DTYPE_F16;
    const int64_t P = argc > 4 ? atoll(argv[4]) : 256, G = argc > 5 ? atoll(argv[5]) : 64;
    const int all = argc > 6 && strcmp(argv[6], "all") == 0;
    qf_model *m;
    qf_runtime *rt;
    if (qf_model_open(argv[1], &m) != QF_STATUS_OK) return fprintf(stderr, "%s\n", qf_error_message()), 1;
    qf_runtime_options o = {.n_threads = threads, .max_ctx = P + G, .weight_dtype = dt};
    if (qf_runtime_init(m, &o, &rt) != QF_STATUS_OK) return fprintf(stderr, "%s\n", qf_error_message()), 1;
    int32_t *tok = malloc((size_t)(P + G) * sizeof *tok);
    for (int64_t i = 0; i < P + G; i++) tok[i] = (int32_t)((i * 7919 + 13) % 40000);
    float acc = 0;
    for (int rep = 0; rep < 2; rep++) {
        qf_runtime_reset(rt);
        double t0 = now();
        qf_runtime_forward(rt, tok, P, all ? 0 : P - 1, sink, &acc);
        double t1 = now();
        for (int64_t i = 0; i < G; i++) qf_runtime_forward(rt, tok + P + i, 1, 0, sink, &acc);
        double t2 = now();
        printf("%s threads %d: prefill %lld tok%s %.1f tok/s, decode %lld tok %.1f tok/s (%.2f ms/tok)\n",
               dt == QF_DTYPE_F32 ? "F32" : "F16", threads, (long long)P,
               all ? " (all logits)" : "", P / (t1 - t0),
               (long long)G, G / (t2 - t1), 1e3 * (t2 - t1) / G);
    }
    qf_runtime_free(rt);
    qf_model_free(m);
    free(tok);
    return acc == 12345.0f;
}
