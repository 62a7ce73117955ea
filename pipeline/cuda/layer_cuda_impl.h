/* The GPU calibration layer's state and building blocks (private to pipeline/cuda/),
 * shared by layer_cuda.cu (the passes) and awq_cuda.cu (AWQ's scale search). */
#ifndef QF_PIPELINE_CUDA_LAYER_CUDA_IMPL_H
#define QF_PIPELINE_CUDA_LAYER_CUDA_IMPL_H

#include <cublas_v2.h>

#include "pipeline/cuda/layer_cuda.h"
#include "runtime/cuda/cuda_check.h"

extern "C" {
#include "pipeline/layer_gemms.h"
}

enum { QL_Q, QL_K, QL_V, QL_O, QL_GATE, QL_UP, QL_DOWN, QL_N };

/* Score memory of one batch of heads: heads are processed in groups that fit. */
#define QF_QLAYER_SCORE_BYTES ((size_t)256 << 20)

struct qf_cuda_qlayer {
    qf_cuda_qshape s;
    cublasHandle_t blas;
    int64_t out[QL_N], in[QL_N];
    float *w[QL_N], *b[QL_N]; /* (device) weights, biases (NULL: none) */
    const float *w_use[QL_N]; /* NULL, or the weight linear i uses instead of w[i] (the AWQ
                                 search's fake-quantized ones) */
    int has_b[QL_N];
    float *ln1, *ln2;         /* (device) (hidden) */
    float *X;                 /* (device) (n, S, hidden): every sample's layer input */
    float *att_keep, *h_keep; /* (device) (n, S, qd), (n, S, inter) when kept, else NULL
                                 (recomputed where a later pass needs them) */
    float *x, *xn;            /* (S, hidden): ALL_H's copy of X, the normalised input */
    float *q, *k, *v, *att;   /* (S, qd), (S, kvd) x2, (S, qd) */
    float *gate, *up;         /* (S, inter) */
    float *scores;            /* (attn.batch, S, S) */
    qf_attn_shape attn;       /* the attention's GEMMs (pipeline/layer_gemms.h) */
    const float **ptr;        /* (device) 6 x heads pointers: K, Q, scores; V, scores, att */
    float *cos_t, *sin_t;     /* (S, head_dim / 2) */
    float *row;               /* (widest Hessian input) the sink row scaled */
};

qf_status qf_ql_blas(cublasStatus_t st, const char *what);
size_t qf_ql_f(int64_t n); /* bytes of n floats */
qf_status qf_ql_alloc(float **p, int64_t n, const char *what);
/* Sample i's rows of X. */
float *qf_ql_x(const qf_cuda_qlayer *q, int64_t i);
/* y (S, out) = x (S, in) W_i^T + b_i, or y += that; W_i is q->w_use[i] when set. */
qf_status qf_ql_linear(qf_cuda_qlayer *q, int i, const float *x, float *y, int acc);
/* q->att (S, qd) = attention of xn's q, k, v projections, before o_proj. */
qf_status qf_ql_attention(qf_cuda_qlayer *q, const float *xn);
/* h (S, inter) = silu(gate(xn)) * up(xn). */
qf_status qf_ql_mlp_hidden(qf_cuda_qlayer *q, const float *xn, float *h);
/* q->xn = RMSNorm(x) with weight w. */
qf_status qf_ql_norm(qf_cuda_qlayer *q, const float *x, const float *w);

#endif
