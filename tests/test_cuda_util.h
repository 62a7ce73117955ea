/* Shared by test_cuda_w4_layout.c (CPU) and test_cuda_kernels.c (GPU): random 4-bit
 * qf_qweights with every column order the CUDA W4 layout handles, random activations,
 * and the magnitude sums the tolerances are stated in. */
#ifndef QF_TEST_CUDA_UTIL_H
#define QF_TEST_CUDA_UTIL_H

#include <stdint.h>

#include "core/dtype.h"
#include "core/qweight.h"
#include "runtime/cuda/w4_layout.h"
#include "tests/test.h"

static uint64_t cu_rng = 0x9E3779B97F4A7C15ull;

static uint64_t cu_next(void) {
    cu_rng ^= cu_rng << 13;
    cu_rng ^= cu_rng >> 7;
    cu_rng ^= cu_rng << 17;
    return cu_rng;
}

/* uniform in [-1, 1) */
static float cu_frand(void) { return (float)((cu_next() >> 40) * (1.0 / (1 << 23)) - 1.0); }

enum { CU_ORDER_PLAIN, CU_ORDER_ACT, CU_ORDER_RANDOM };

/* A random 4-bit (out, in) weight. order: PLAIN (no g_idx), ACT (GPTQ desc_act: group of
 * each column's rank in a random permutation), RANDOM (every column in a random group:
 * uneven, possibly empty groups). fp16_scales: scales exactly representable in fp16 (as
 * GPTQ / AWQ checkpoints store them); else arbitrary floats in [0.01, 0.21). */
static qf_qweight cu_make_qweight(int sym, int64_t out, int64_t in, int64_t gs, int order,
                                  int fp16_scales) {
    qf_qweight w;
    CHECK_OK(qf_qweight_init(&w, 4, sym, out, in, gs, order != CU_ORDER_PLAIN));
    for (int64_t k = 0; k < out * in; k++) w.q[k] = (uint8_t)(cu_next() % 16);
    for (int64_t k = 0; k < w.n_groups * out; k++) {
        float s = 0.01f + 0.1f * (cu_frand() + 1.0f);
        w.scales[k] = fp16_scales ? qf_fp16_to_fp32(qf_fp32_to_fp16(s)) : s;
        w.zeros[k] = sym ? 8 : (uint8_t)(cu_next() % 16);
    }
    if (order == CU_ORDER_ACT) {
        int64_t *perm = malloc((size_t)in * sizeof *perm);
        for (int64_t i = 0; i < in; i++) perm[i] = i;
        for (int64_t i = in - 1; i > 0; i--) {
            const int64_t j = (int64_t)(cu_next() % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int64_t r = 0; r < in; r++) w.g_idx[perm[r]] = (int32_t)(r / w.group_size);
        free(perm);
    } else if (order == CU_ORDER_RANDOM) {
        for (int64_t i = 0; i < in; i++) w.g_idx[i] = (int32_t)(cu_next() % (uint64_t)w.n_groups);
    }
    return w;
}

/* mag (m, out) = sum_c s |q - z| |x| over the layout's columns (fp16 scales, exact zeros):
 * the size of the terms of y, which every GEMV tolerance is a multiple of. */
static void cu_mag(const qf_cuda_w4 *l, const float *x, int64_t m, double *mag) {
    for (int64_t t = 0; t < m; t++)
        for (int64_t o = 0; o < l->out; o++) {
            double a = 0.0;
            for (int64_t c = 0; c < l->kp; c++) {
                if (l->perm[c] < 0) continue;
                const uint16_t *sz = l->sz + (o * l->n_groups + c / l->gp) * 2;
                const double s = qf_fp16_to_fp32(sz[0]), z = qf_fp16_to_fp32(sz[1]) - 1024.0;
                a += s * fabs(qf_cuda_w4_code(l, o, c) - z) * fabs(x[t * l->in + l->perm[c]]);
            }
            mag[t * l->out + o] = a;
        }
}

/* The fp32 part of the kernel's error alone: each lane sums 8 terms per 32-column chunk
 * it reads (ceil(kp / 32 / 32) chunks) one after the other, then 5 shuffle additions;
 * recursive summation of n terms is off by at most n 2^-24 of their absolute sum (mag,
 * to first order); plus the reference's own rounding to float. */
static double cu_fp32_tol(const qf_cuda_w4 *l, double mag, double y) {
    const double n_lane = 8.0 * (double)((l->kp / QF_CUDA_W4_CHUNK + 31) / 32) + 6.0;
    return n_lane * ldexp(1.0, -24) * mag + ldexp(1.0, -24) * fabs(y);
}

/* The largest scale of the layout. */
static double cu_smax(const qf_cuda_w4 *l) {
    double smax = 0.0;
    for (int64_t k = 0; k < l->out * l->n_groups; k++)
        if (qf_fp16_to_fp32(l->sz[2 * k]) > smax) smax = qf_fp16_to_fp32(l->sz[2 * k]);
    return smax;
}

/* The tolerance the GEMV kernel is held to (derivation in tests/test_cuda_kernels.c), for
 * one output of magnitude mag (cu_mag) and reference value y; smax = cu_smax(l). */
static double cu_kernel_tol(const qf_cuda_w4 *l, double smax, double mag, double y) {
    return 5.1 * ldexp(1.0, -11) * mag + (double)l->kp * smax * ldexp(1.0, -15) +
           cu_fp32_tol(l, mag, y);
}

#endif
