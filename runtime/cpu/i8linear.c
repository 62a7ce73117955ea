/* W8A8 linears (i8linear.h): layout, per-token activation quantization, the scalar
 * reference kernel and the dispatch. */
#include "runtime/cpu/i8linear.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"

qf_status qf_cpu_i8linear_init(qf_cpu_i8linear *l, const int8_t *w, const float *scale,
                               float in_scale, int64_t out, int64_t in) {
    memset(l, 0, sizeof *l);
    QF_RETURN_IF(out <= 0 || in <= 0 || in > (INT64_C(1) << 30), QF_STATUS_INVALID_ARG,
                 "int8 linear: bad shape (%lld, %lld)", (long long)out, (long long)in);
    QF_RETURN_IF(!(in_scale >= 0.0f) || isinf(in_scale), QF_STATUS_INVALID_ARG,
                 "int8 linear: bad activation scale %g", (double)in_scale);
    l->out = out, l->in = in, l->in_scale = in_scale;
    l->kp = (in + QF_CPU_I8_BLOCK - 1) / QF_CPU_I8_BLOCK * QF_CPU_I8_BLOCK;
    l->w = aligned_alloc(64, (size_t)(out * l->kp));
    l->scale = malloc((size_t)out * sizeof *l->scale);
    l->wsum = malloc((size_t)out * sizeof *l->wsum);
    if (!l->w || !l->scale || !l->wsum) {
        qf_cpu_i8linear_free(l);
        return qf_error_set(QF_STATUS_NOMEM, "int8 linear: out of memory");
    }
    for (int64_t o = 0; o < out; o++) {
        int8_t *row = l->w + o * l->kp;
        memcpy(row, w + o * in, (size_t)in);
        memset(row + in, 0, (size_t)(l->kp - in));
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

void qf_cpu_i8_rows_ref(const qf_cpu_i8linear *l, const int8_t *q, float xs, float *y,
                        int64_t r0, int64_t r1) {
    for (int64_t o = r0; o < r1; o++) {
        const int8_t *w = l->w + o * l->kp;
        int32_t acc = 0;
        for (int64_t i = 0; i < l->kp; i++) acc += (int32_t)q[i] * (int32_t)w[i];
        y[o] = (float)acc * (xs * l->scale[o]);
    }
}

int qf_cpu_i8_level(void) {
    static _Atomic int cached = -1;
    int level = atomic_load_explicit(&cached, memory_order_relaxed);
    if (level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) level = 2;
        else if (__builtin_cpu_supports("avx2")) level = 1;
        else level = 0;
        atomic_store_explicit(&cached, level, memory_order_relaxed);
    }
    return level;
}

void qf_cpu_i8_rows(const qf_cpu_i8linear *l, const int8_t *q, float xs, float *y, int64_t r0,
                    int64_t r1) {
    switch (qf_cpu_i8_level()) {
    case 2: qf_cpu_i8_rows_avx512vnni(l, q, xs, y, r0, r1); break;
    case 1: qf_cpu_i8_rows_avx2(l, q, xs, y, r0, r1); break;
    default: qf_cpu_i8_rows_ref(l, q, xs, y, r0, r1); break;
    }
}

int64_t qf_cpu_i8linear_scratch_bytes(const qf_cpu_i8linear *l) { return l->kp + 64; }

void qf_cpu_i8linear_rows(const qf_cpu_i8linear *l, const float *x, int64_t m, float *y,
                          int64_t r0, int64_t r1, void *scratch) {
    int8_t *q = (int8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    for (int64_t t = 0; t < m; t++) {
        const float *xt = x + t * l->in;
        const float xs = l->in_scale > 0.0f ? l->in_scale : qf_cpu_i8_token_scale(xt, l->in);
        qf_cpu_i8_quantize(xt, l->in, l->kp, xs, q);
        qf_cpu_i8_rows(l, q, xs, y + t * l->out, r0, r1);
    }
}
