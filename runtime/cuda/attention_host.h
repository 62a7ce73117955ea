/* Host side of the CUDA attention (plain C, built with or without CUDA): the shape and
 * the device KV cache layouts, the shape check every kernel wrapper runs, the decode
 * split plan, and the CPU references the kernels are tested against
 * (tests/test_cuda_attention_ref.c on the CPU, tests/test_cuda_attention.c on a GPU).
 *
 * Semantics are qf_cpu_attention_ref's (runtime/cpu/attention.c): query at position p sees
 * keys j with j <= p and, when window > 0, p - j < window; query head h uses kv head
 * h / (n_heads / n_kv); scores q.k * scale, softmax, weighted sum of values.
 *
 * Device KV cache of one layer, per kv head, position-major (unlike the CPU's transposed
 * key blocks): fp16: k, v (n_kv, cap, head_dim) fp16 bits. int8: k, v (n_kv, cap,
 * head_dim) int8 codes and ks, vs (n_kv, cap) fp32 scales, symmetric per (token, kv head):
 * value = code * scale, scale = max|x| / 127 (1 for an all-zero row: never 0 or NaN). */
#ifndef QF_CUDA_ATTENTION_HOST_H
#define QF_CUDA_ATTENTION_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" { /* also when included on its own from a .cu */
#endif

#ifdef __CUDACC__
#define QF_CUDA_HD __host__ __device__
#else
#define QF_CUDA_HD
#endif

#define QF_CUDA_ATTN_KEYS 64        /* keys per tile (shared memory), both kernels */
#define QF_CUDA_ATTN_ROWS 64        /* (token, head) rows per prefill block */
#define QF_CUDA_ATTN_HEADS 8        /* query heads per decode block (a GQA group or part) */
#define QF_CUDA_ATTN_MAX_SPLITS 1024 /* decode key ranges */

typedef struct qf_cuda_attn {
    int64_t n_heads, n_kv, head_dim; /* head_dim 64 or 128 */
    int64_t cap;                     /* positions per kv head in the cache */
    int64_t window;                  /* > 0: query at p sees keys j with p - j < window */
    float scale;                     /* applied to q.k (head_dim^-0.5) */
} qf_cuda_attn;

/* An int8 KV cache of one layer (device or host memory, layout above). */
typedef struct qf_cuda_kv_i8 {
    int8_t *k, *v; /* (n_kv, cap, head_dim) */
    float *ks, *vs; /* (n_kv, cap) */
} qf_cuda_kv_i8;

/* First key visible from position p. */
static inline QF_CUDA_HD int64_t qf_cuda_attn_first_key(int64_t window, int64_t p) {
    return (window > 0 && p - window + 1 > 0) ? p - window + 1 : 0;
}

/* Decode at position p in `splits` key ranges: the visible keys [first, p] in whole
 * QF_CUDA_ATTN_KEYS tiles (aligned to position 0), tiles dealt out evenly and in order;
 * range s is [*lo, *hi) (clipped to the visible keys; empty when splits > tiles). */
static inline QF_CUDA_HD void qf_cuda_attn_split_range(int64_t window, int64_t p, int64_t splits,
                                                       int64_t s, int64_t *lo, int64_t *hi) {
    const int64_t first = qf_cuda_attn_first_key(window, p);
    const int64_t t0 = first / QF_CUDA_ATTN_KEYS, tiles = p / QF_CUDA_ATTN_KEYS - t0 + 1;
    int64_t a = (t0 + tiles * s / splits) * QF_CUDA_ATTN_KEYS;
    int64_t b = (t0 + tiles * (s + 1) / splits) * QF_CUDA_ATTN_KEYS;
    a = a > first ? a : first;
    b = b < p + 1 ? b : p + 1;
    *lo = a;
    *hi = b > a ? b : a;
}

/* INVALID_ARG with a message unless: n_kv >= 1, n_heads a multiple of n_kv, head_dim 64
 * or 128, window >= 0, a finite scale, queries at p0..p0+m-1 (m >= 0, p0 >= 0) inside the
 * cache (p0 + m <= cap). `what` names the caller in the message. */
qf_status qf_cuda_attn_check(const qf_cuda_attn *a, int64_t p0, int64_t m, const char *what);

/* Key ranges for a decode step at position p on a GPU of n_sm multiprocessors: enough
 * blocks (ranges x kv heads x head chunks) for two per multiprocessor, at most one range
 * per key tile, within [1, QF_CUDA_ATTN_MAX_SPLITS]. */
int64_t qf_cuda_attn_splits(const qf_cuda_attn *a, int64_t p, int64_t n_sm);
/* Floats of device workspace qf_cuda_attention_decode* needs for `splits` ranges:
 * acc (splits, n_heads, head_dim), then max and sum (splits, n_heads). */
size_t qf_cuda_attn_work_floats(const qf_cuda_attn *a, int64_t splits);

/* ---- CPU references (runtime/cuda/attention_ref.c) ------------------------------------ */
/* The fp16 cache append: k, v (m, n_kv, head_dim) fp32 at token stride kv_stride floats
 * go to positions p0..p0+m-1 of kc, vc, rounded to fp16 to nearest even. */
void qf_cuda_kv_append_f16_ref(const qf_cuda_attn *a, const float *k, const float *v,
                               int64_t kv_stride, int64_t m, int64_t p0, uint16_t *kc,
                               uint16_t *vc);
/* The int8 cache append: per (token, kv head) scale = max|x| / 127 (1 if that is 0 or
 * not finite), code = x / scale rounded to nearest even, clamped to [-127, 127]. */
void qf_cuda_kv_append_i8_ref(const qf_cuda_attn *a, const float *k, const float *v,
                              int64_t kv_stride, int64_t m, int64_t p0, const qf_cuda_kv_i8 *c);
/* Attention of m queries q (m, n_heads, head_dim) fp32 at positions p0..p0+m-1 over the
 * fp16 cache, in double from the definition (plain softmax): out (m, n_heads, head_dim). */
qf_status qf_cuda_attention_ref(const qf_cuda_attn *a, const float *q, int64_t m, int64_t p0,
                                const uint16_t *kc, const uint16_t *vc, double *out);
/* The same over the int8 cache (values code * scale). NOMEM if p0 + m doubles of
 * scratch cannot be allocated. */
qf_status qf_cuda_attention_i8_ref(const qf_cuda_attn *a, const float *q, int64_t m, int64_t p0,
                                   const qf_cuda_kv_i8 *c, double *out);

#ifdef __cplusplus
}
#endif

#endif
