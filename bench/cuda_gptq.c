/* GPTQ solve time on the GPU (gptq/cuda/) vs the CPU (gptq/, OpenBLAS threads) for the
 * 7B-sized shapes (out, in) = 4096 x 4096 and 4096 x 11008 (down_proj), 2048 calibration
 * rows, 4-bit g128 asym (act-order with --act). Timed apart: the Hessian (the GPU's from
 * activations already on the device) and the quantization (the GPU's including the
 * weight's upload and the result's download; no statistics on either side). Prints the
 * share of codes that differ (tests/test_cuda_gptq_util.h: expected < 1%) and, from a
 * second untimed run with statistics, each side's relative output error
 * tr((W - Q) H (W - Q)^T) / tr(W H W^T) with its own Hessian, and RTN's. Exits 77
 * without a GPU. Built by CMake (target cuda_gptq), run by bench/cuda_gptq.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gptq/cuda/gptq_cuda.h"
#include "runtime/cuda/cuda_kernels.h"

#define TRY(call)                                                                         \
    do {                                                                                  \
        if ((call) != QF_STATUS_OK) {                                                     \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, qf_error_message()); \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1 << 23)) - 1.0);
}

static void run(int64_t out, int64_t in, int64_t rows, int act) {
    float *x = malloc((size_t)(rows * in) * 4), *w = malloc((size_t)(out * in) * 4);
    float *scale = malloc((size_t)in * 4);
    if (!x || !w || !scale) exit(1);
    for (int64_t i = 0; i < in; i++) scale[i] = expf(1.2f * frand());
    for (int64_t r = 0; r < rows; r++) { /* correlated neighbours, spread column scales */
        float prev = frand();
        for (int64_t i = 0; i < in; i++) {
            prev = 0.6f * prev + 0.8f * frand();
            x[r * in + i] = scale[i] * prev;
        }
    }
    for (int64_t k = 0; k < out * in; k++) w[k] = 0.05f * frand();
    qf_gptq_options o = qf_gptq_options_default();
    o.desc_act = act;

    double t0 = now();
    qf_gptq_hessian h;
    TRY(qf_gptq_hessian_init(&h, in));
    TRY(qf_gptq_hessian_add(&h, x, rows));
    double t1 = now();
    qf_qweight qc, qg;
    TRY(qf_gptq_quantize(w, out, in, &h, &o, &qc, NULL));
    double t2 = now();

    float *dx = NULL;
    TRY(qf_cuda_malloc((void **)&dx, (size_t)(rows * in) * 4, "activations"));
    TRY(qf_cuda_upload(dx, x, (size_t)(rows * in) * 4));
    TRY(qf_cuda_sync());
    qf_cuda_gptq_hessian dh;
    double g0 = now();
    TRY(qf_cuda_gptq_hessian_init(&dh, in));
    TRY(qf_cuda_gptq_hessian_add(&dh, dx, rows));
    TRY(qf_cuda_sync());
    double g1 = now();
    TRY(qf_cuda_gptq_quantize_dev(w, out, in, &dh, &o, &qg, NULL));
    double g2 = now();

    int64_t diff = 0;
    for (int64_t k = 0; k < out * in; k++) diff += qc.q[k] != qg.q[k];
    /* untimed again with statistics: each side's relative output error (its own Hessian) */
    qf_qweight qs;
    qf_gptq_stats sc, sg;
    TRY(qf_gptq_quantize(w, out, in, &h, &o, &qs, &sc));
    qf_qweight_free(&qs);
    TRY(qf_cuda_gptq_quantize_dev(w, out, in, &dh, &o, &qs, &sg));
    qf_qweight_free(&qs);
    printf("%5lld x %5lld, %lld rows, act-order %d: Hessian CPU %.3f s GPU %.3f s | "
           "quantize CPU %.3f s GPU %.3f s (x%.1f) | codes differing %.4f%% | output error "
           "CPU %.6f GPU %.6f (RTN %.6f)\n",
           (long long)out, (long long)in, (long long)rows, act, t1 - t0, g1 - g0, t2 - t1,
           g2 - g1, (t2 - t1) / (g2 - g1), 100.0 * (double)diff / (double)(out * in),
           sc.gptq_error, sg.gptq_error, sc.rtn_error);
    qf_cuda_gptq_hessian_free(&dh);
    qf_cuda_free(dx);
    qf_gptq_hessian_free(&h);
    qf_qweight_free(&qc);
    qf_qweight_free(&qg);
    free(x), free(w), free(scale);
}

int main(int argc, char **argv) {
    const int act = argc > 1 && !strcmp(argv[1], "--act");
    if (qf_cuda_device_check() != QF_STATUS_OK) {
        printf("cuda_gptq: SKIPPED (no GPU: %s)\n", qf_error_message());
        return 77;
    }
    run(256, 512, 512, act); /* warm-up: context, cuBLAS / cuSOLVER kernels */
    run(4096, 4096, 2048, act);
    run(4096, 11008, 2048, act);
    return 0;
}
