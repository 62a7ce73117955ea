/* Times qf_gptq_quantize on SmolLM2-135M-sized layers: W (out, in) random, H from 4096
 * random rows; prints the best of 3 runs per shape. Built and run by gptq_kernel.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gptq/gptq.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float randn(unsigned *s) {
    float u = 0.0f;
    for (int k = 0; k < 12; k++) u += (float)rand_r(s) / (float)RAND_MAX;
    return u - 6.0f;
}

int main(void) {
    const long shapes[2][2] = {{1536, 576}, {576, 1536}};
    unsigned seed = 1;
    for (int s = 0; s < 2; s++) {
        long out = shapes[s][0], in = shapes[s][1], rows = 4096;
        float *w = malloc(sizeof(float) * (size_t)(out * in));
        float *x = malloc(sizeof(float) * (size_t)(rows * in));
        for (long k = 0; k < out * in; k++) w[k] = 0.02f * randn(&seed);
        for (long k = 0; k < rows * in; k++) x[k] = randn(&seed);
        qf_gptq_hessian h;
        if (qf_gptq_hessian_init(&h, in) || qf_gptq_hessian_add(&h, x, rows)) return 1;
        for (int act = 0; act <= 1; act++) {
            qf_gptq_options o = qf_gptq_options_default();
            o.desc_act = act;
            o.quant.group_size = 64; /* llm-compressor needs in % g == 0; 576 % 128 != 0 */
            o.static_groups = 1; /* llm-compressor's semantics */
            double best = 1e9;
            for (int r = 0; r < 3; r++) {
                qf_qweight q;
                double t0 = now();
                if (qf_gptq_quantize(w, out, in, &h, &o, &q, NULL)) return 1;
                double t = now() - t0;
                best = t < best ? t : best;
                qf_qweight_free(&q);
            }
            printf("qforge gptq (%ld, %ld) 4-bit g64 asym desc_act=%d: %.4f s\n", out, in, act,
                   best);
        }
        qf_gptq_hessian_free(&h);
        free(w);
        free(x);
    }
    return 0;
}
