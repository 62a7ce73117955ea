/* The CUDA attention's host-side arithmetic: the shape check of every kernel wrapper, the
 * decode split plan and its workspace size (attention_host.h). Plain C: tested on the CPU. */
#include <math.h>

#include "runtime/cuda/attention_host.h"

qf_status qf_cuda_attn_check(const qf_cuda_attn *a, int64_t p0, int64_t m, const char *what) {
    QF_RETURN_IF(a->n_kv < 1 || a->n_kv > 65535 || a->n_heads < a->n_kv ||
                     a->n_heads % a->n_kv != 0,
                 QF_STATUS_INVALID_ARG, "%s: %lld query heads over %lld kv heads", what,
                 (long long)a->n_heads, (long long)a->n_kv);
    QF_RETURN_IF(a->head_dim != 64 && a->head_dim != 128, QF_STATUS_INVALID_ARG,
                 "%s: head_dim %lld (64 and 128 are built)", what, (long long)a->head_dim);
    QF_RETURN_IF(a->window < 0 || !isfinite(a->scale), QF_STATUS_INVALID_ARG,
                 "%s: window %lld, scale %g", what, (long long)a->window, (double)a->scale);
    QF_RETURN_IF(m < 0 || p0 < 0 || a->cap < 0 || p0 > a->cap - m || a->cap > (INT64_C(1) << 40),
                 QF_STATUS_INVALID_ARG, "%s: %lld queries at position %lld, cache of %lld", what,
                 (long long)m, (long long)p0, (long long)a->cap);
    return QF_STATUS_OK;
}

int64_t qf_cuda_attn_splits(const qf_cuda_attn *a, int64_t p, int64_t n_sm) {
    const int64_t group = a->n_heads / a->n_kv;
    const int64_t chunks = (group + QF_CUDA_ATTN_HEADS - 1) / QF_CUDA_ATTN_HEADS;
    const int64_t first = qf_cuda_attn_first_key(a->window, p);
    const int64_t tiles = p / QF_CUDA_ATTN_KEYS - first / QF_CUDA_ATTN_KEYS + 1;
    const int64_t per_range = a->n_kv * chunks, want = 2 * (n_sm > 0 ? n_sm : 1);
    int64_t s = (want + per_range - 1) / per_range;
    s = s < tiles ? s : tiles;
    s = s < QF_CUDA_ATTN_MAX_SPLITS ? s : QF_CUDA_ATTN_MAX_SPLITS;
    return s > 1 ? s : 1;
}

size_t qf_cuda_attn_work_floats(const qf_cuda_attn *a, int64_t splits) {
    return (size_t)splits * (size_t)a->n_heads * ((size_t)a->head_dim + 2);
}
