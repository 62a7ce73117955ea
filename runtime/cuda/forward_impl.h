/* The qf_cuda_runtime object shared by runtime/cuda/forward_load.cu (upload, buffers) and
 * runtime/cuda/forward.cu (the forward pass). Private to the GPU runtime. */
#ifndef QF_CUDA_FORWARD_IMPL_H
#define QF_CUDA_FORWARD_IMPL_H

#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/forward.h"

/* Tokens of one internal step: bounds the activation buffers whatever n is. */
#define QF_CUDA_RUNTIME_CHUNK 512
/* Upper bound on the bytes of one block of logits handed to the callback. */
#define QF_CUDA_RUNTIME_LOGITS_BYTES ((size_t)16 << 20)

typedef enum qf_cuda_linear_kind {
    QF_CUDA_LINEAR_F16 = 1, /* w: (out, in) fp16 bits; cublasGemmEx, fp32 compute */
    QF_CUDA_LINEAR_F32,     /* w: (out, in) fp32; cublasSgemm */
    QF_CUDA_LINEAR_W4,      /* w4: the W4A16 layout; the W4 GEMV */
    QF_CUDA_LINEAR_I8,      /* i8: W8A8 (compressed-tensors int8); qf_cuda_i8_linear */
} qf_cuda_linear_kind;

typedef struct qf_cuda_linear {
    qf_cuda_linear_kind kind;
    int64_t out, in;
    void *w;           /* (device) F16 / F32 kinds */
    qf_cuda_w4_dev w4; /* W4 kind */
    qf_cuda_i8_dev i8; /* I8 kind */
    float *bias;       /* (device) (out) or NULL */
} qf_cuda_linear;

typedef struct qf_cuda_layer {
    float *attn_norm, *mlp_norm; /* (device) (hidden) */
    qf_cuda_linear q, k, v, o, gate, up, down;
} qf_cuda_layer;

struct qf_cuda_runtime {
    qf_model_config cfg;
    int64_t max_ctx; /* == the cache capacity per kv head */
    int64_t chunk;   /* tokens per internal step */
    qf_dtype weight_dtype;
    int weight_auto;
    void *cublas;  /* cublasHandle_t */
    int64_t n_sm;  /* multiprocessors, for the decode split plan */

    qf_cuda_linear embed;          /* (vocab, hidden): F16 or F32 only */
    qf_cuda_linear lm_head_own;    /* untied lm_head */
    const qf_cuda_linear *lm_head; /* &embed when tied */
    float *final_norm;             /* (device) (hidden) */
    qf_cuda_layer *layers;         /* (L), host array of device weights */

    uint16_t *k_cache, *v_cache; /* (device) (L, n_kv, max_ctx, head_dim) fp16 bits */

    /* activations of one chunk (device) */
    int32_t *tok;            /* (chunk) */
    float *x, *xn;           /* (chunk, hidden) residual stream, its normalised copy */
    float *q, *att;          /* (chunk, n_heads * head_dim) */
    float *k, *v;            /* (chunk, n_kv * head_dim) */
    float *gate, *up;        /* (chunk, intermediate) */
    float *lin_tmp;          /* (chunk, widest) W4 output before it is added to x */
    uint16_t *xh;            /* (chunk, max(widest input, widest W4 kp)) fp16 activations */
    uint16_t *w4_wh;         /* (largest W4 out * kp) fp16: a W4 weight dequantized for the
                              * prefill GEMM; NULL without W4 linears */
    qf_cuda_i8_work i8;      /* W8A8 scratch for a chunk (NULLs without W8A8 linears) */
    float *rope_cos, *rope_sin; /* (chunk, head_dim / 2) */
    float *work;             /* decode attention workspace, QF_CUDA_ATTN_MAX_SPLITS ranges */
    int64_t logits_rows;
    float *logits;           /* (device) (logits_rows, vocab) */

    /* host */
    float *h_cos, *h_sin, *inv_freq; /* (chunk, half) x2, (half) */
    float *h_logits;                 /* (logits_rows, vocab) */
};

#endif
