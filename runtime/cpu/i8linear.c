/* W8A8 linears (i8linear.h): the packed layout, per-token activation quantization, the
 * scalar reference kernel and the dispatch. */
#include "runtime/cpu/i8linear.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"

qf_status qf_cpu_i8linear_init(qf_cpu_i8linear *l, const int8_t *w, const float *scale,
                               float in_scale, int64_t out, int64_t in) {
    memset(l, 0, sizeof *l);
    QF_RETURN_IF(out <= 0 || in <= 0 || in > QF_CPU_I8_MAX_IN || out > (INT64_C(1) << 30),
                 QF_STATUS_INVALID_ARG, "int8 linear: bad shape (%lld, %lld) (at most %lld inputs)",
                 (long long)out, (long long)in, (long long)QF_CPU_I8_MAX_IN);
    QF_RETURN_IF(!(in_scale >= 0.0f) || isinf(in_scale), QF_STATUS_INVALID_ARG,
                 "int8 linear: bad activation scale %g", (double)in_scale);
    l->out = out, l->in = in, l->in_scale = in_scale;
    l->kp = (in + QF_CPU_I8_BLOCK - 1) / QF_CPU_I8_BLOCK * QF_CPU_I8_BLOCK;
    l->op = (out + QF_CPU_I8_ROWS - 1) / QF_CPU_I8_ROWS * QF_CPU_I8_ROWS;
    l->w = aligned_alloc(64, (size_t)(l->op * l->kp));
    l->scale = calloc((size_t)l->op, sizeof *l->scale);
    l->wsum = calloc((size_t)l->op, sizeof *l->wsum);
    if (!l->w || !l->scale || !l->wsum) {
        qf_cpu_i8linear_free(l);
        return qf_error_set(QF_STATUS_NOMEM, "int8 linear: out of memory");
    }
    memset(l->w, 0, (size_t)(l->op * l->kp));
    for (int64_t o = 0; o < out; o++) {
        const int8_t *row = w + o * in;
        int8_t *dst = l->w + qf_cpu_i8_at(l, o, 0);
        for (int64_t i = 0; i < in; i += 4) /* 4 codes at a time, 64 bytes apart */
            memcpy(dst + i * QF_CPU_I8_ROWS, row + i, (size_t)(in - i < 4 ? in - i : 4));
        int32_t s = 0;
        for (int64_t i = 0; i < in; i++) s += row[i];
        l->wsum[o] = s;
        l->scale[o] = scale[o];
    }
    return QF_STATUS_OK;
}

void qf_cpu_i8linear_free(qf_cpu_i8linear *l) {
    free(l->w);
    free(l->scale);
    free(l->wsum);
    memset(l, 0, sizeof *l);
}

void qf_cpu_i8linear_unpack(const qf_cpu_i8linear *l, int8_t *dst) {
    for (int64_t o = 0; o < l->out; o++)
        for (int64_t i = 0; i < l->kp; i++) dst[o * l->kp + i] = l->w[qf_cpu_i8_at(l, o, i)];
}

float qf_cpu_i8_token_scale(const float *x, int64_t in) {
    float mx = 0.0f;
    for (int64_t i = 0; i < in; i++) {
        const float a = fabsf(x[i]);
        mx = a > mx ? a : mx;
    }
    return mx / 127.5f;
}

void qf_cpu_i8_quantize(const float *x, int64_t in, int64_t kp, float scale, int8_t *q) {
    if (scale > 0.0f)
        for (int64_t i = 0; i < in; i++) q[i] = qf_cpu_i8_code(x[i], scale);
    else
        memset(q, 0, (size_t)in);
    memset(q + in, 0, (size_t)(kp - in));
}

float qf_cpu_i8_quantize_ref(const float *x, int64_t in, int64_t kp, float in_scale, int8_t *q) {
    const float s = in_scale > 0.0f ? in_scale : qf_cpu_i8_token_scale(x, in);
    qf_cpu_i8_quantize(x, in, kp, s, q);
    return s;
}

void qf_cpu_i8_rows_ref(const qf_cpu_i8linear *l, const int8_t *q, const float *xs, int nt,
                        float *y, int64_t ldy, int64_t r0, int64_t r1) {
    for (int t = 0; t < nt; t++)
        for (int64_t o = r0; o < r1; o++) {
            const int8_t *qt = q + t * l->kp;
            int32_t acc = 0;
            for (int64_t i = 0; i < l->kp; i++)
                acc += (int32_t)qt[i] * (int32_t)l->w[qf_cpu_i8_at(l, o, i)];
            y[t * ldy + o] = (float)acc * (xs[t] * l->scale[o]);
        }
}

int qf_cpu_i8_level(void) {
    static _Atomic int cached = -1;
    int level = atomic_load_explicit(&cached, memory_order_relaxed);
    if (level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl"))
            level = 2;
        else if (__builtin_cpu_supports("avx2"))
            level = 1;
        else
            level = 0;
        atomic_store_explicit(&cached, level, memory_order_relaxed);
    }
    return level;
}

int64_t qf_cpu_i8linear_scratch_bytes(const qf_cpu_i8linear *l) {
    return QF_CPU_I8_TOKENS * (l->kp + (int64_t)sizeof(float)) + 64;
}

qf_cpu_i8_quantizer *qf_cpu_i8_quantizer_best(void) {
    static qf_cpu_i8_quantizer *const quantizers[] = {
        qf_cpu_i8_quantize_ref, qf_cpu_i8_quantize_avx2, qf_cpu_i8_quantize_avx512};
    return quantizers[qf_cpu_i8_level()];
}

void qf_cpu_i8linear_rows(const qf_cpu_i8linear *l, const float *x, int64_t m, float *y,
                          int64_t r0, int64_t r1, void *scratch) {
    static qf_cpu_i8_kernel *const kernels[] = {qf_cpu_i8_rows_ref, qf_cpu_i8_rows_avx2,
                                                qf_cpu_i8_rows_avx512vnni};
    const int level = qf_cpu_i8_level();
    qf_cpu_i8_quantizer *const quantize = qf_cpu_i8_quantizer_best();
    int8_t *q = (int8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *xs = (float *)(q + QF_CPU_I8_TOKENS * l->kp);
    for (int64_t t0 = 0; t0 < m; t0 += QF_CPU_I8_TOKENS) {
        const int nt = m - t0 < QF_CPU_I8_TOKENS ? (int)(m - t0) : QF_CPU_I8_TOKENS;
        for (int t = 0; t < nt; t++)
            xs[t] = quantize(x + (t0 + t) * l->in, l->in, l->kp, l->in_scale, q + t * l->kp);
        kernels[level](l, q, xs, nt, y + t0 * l->out, l->out, r0, r1);
    }
}
