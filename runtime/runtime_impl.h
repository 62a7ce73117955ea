/* The qf_runtime object shared by runtime/runtime.c (loading, KV cache, accessors) and
 * runtime/forward.c (the forward pass). Private to the runtime. */
#ifndef QF_RUNTIME_IMPL_H
#define QF_RUNTIME_IMPL_H

#include "runtime/cpu/linear.h"
#include "runtime/cpu/pool.h"
#include "runtime/runtime.h"

/* Tokens of one internal prefill step: bounds the activation buffers whatever n is. */
#define QF_RUNTIME_CHUNK 256
/* Upper bound on the bytes of one block of logits handed to the callback. */
#define QF_RUNTIME_LOGITS_BYTES ((size_t)16 << 20)
#define QF_RUNTIME_MAX_THREADS 256

typedef struct qf_runtime_layer {
    float *attn_norm, *mlp_norm; /* (hidden) */
    qf_cpu_linear q, k, v, o, gate, up, down;
} qf_runtime_layer;

struct qf_runtime {
    qf_model_config cfg;
    /* non-NULL: a GPU runtime (runtime/cuda/forward.h) runs the forward pass; cfg, max_ctx
     * and pos are kept here, none of the CPU weights and buffers below are allocated */
    struct qf_cuda_runtime *cuda;
    int n_threads;
    qf_cpu_pool *pool; /* n_threads threads, the caller's included */
    int64_t max_ctx, pos;
    qf_dtype weight_dtype; /* of the linears; F16 runs keep a tensor F32 when... */
    int weight_auto;       /* ...it does not fit F16 and the dtype was not asked for */

    qf_cpu_linear embed;          /* (vocab, hidden), no bias */
    qf_cpu_linear lm_head_own;    /* untied lm_head */
    const qf_cpu_linear *lm_head; /* &embed when tied, else &lm_head_own */
    float *final_norm;            /* (hidden) */
    qf_runtime_layer *layers;     /* (L) */

    int64_t kv_cap;           /* max_ctx rounded up to whole attention key blocks */
    float *k_cache, *v_cache; /* (L, n_kv, kv_cap, head_dim), layouts of qf_cpu_attention_store */

    /* activations of one chunk of up to QF_RUNTIME_CHUNK tokens */
    int64_t chunk;
    /* the residual stream and its normalised copy, one private copy per thread (every
     * thread updates and normalises all rows itself: no barrier around the norms); the
     * logits read thread 0's xn */
    float *x, *xn; /* (n_threads, chunk, hidden) */
    float *tmp;    /* (chunk, hidden) attention / MLP output, shared */
    float *q, *att;      /* (chunk, n_heads * head_dim) */
    /* decode steps split over the keys (runtime/forward.c): per (kv head, key range) task
     * the softmax state of its query heads, and each thread's merged attention output */
    float *part_acc;            /* (tasks, group, head_dim), tasks < 2 * n_threads + n_kv */
    float *part_max, *part_sum; /* (tasks, group) */
    float *att_own;             /* (n_threads, n_heads * head_dim) */
    float *k, *v;        /* (chunk, n_kv * head_dim) */
    float *gate, *up;    /* (chunk, intermediate) */
    float *rope_cos, *rope_sin, *inv_freq; /* (chunk, head_dim/2) x2, (head_dim/2) */
    int64_t logits_rows;
    float *logits; /* (logits_rows, vocab) */
    size_t scratch_floats;
    float *scratch; /* (n_threads, scratch_floats) */
};

#endif
