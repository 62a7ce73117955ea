/* `quantize --device cuda`: GPTQ's passes of the calibration samples through one decoder
 * layer on the GPU (built only with CUDA: QF_HAVE_CUDA), pass for pass the CPU's
 * qf_layer_* functions (pipeline/layer.h) and the pipeline's Hessian sums:
 *   - every sample's layer input X stays in device memory from layer to layer, and so do
 *     the attention outputs and MLP hiddens that true_sequential keeps between passes
 *     when they fit (else those passes recompute them: the same values, more work);
 *   - linears are cuBLAS sgemm on fp32 weights, attention is two batched GEMMs per
 *     group of heads (scores of all keys, one masked causal softmax kernel, then the
 *     values), RMSNorm / RoPE / SwiGLU are the runtime's kernels (runtime/cuda);
 *   - Hessians are the GPTQ ones on the device (gptq/cuda: cublasSsyrk), weighted rows
 *     as the CPU's qf_gptq_hessian_add_weighted.
 * With tf32 the GEMMs and the Hessian sums use TF32 tensor cores (fp32 storage and range,
 * 10-bit products, fp32 sums); without it everything is fp32 and only summation orders
 * differ from the CPU (tests/test_cuda_qlayer.c states the bounds of both). */
#ifndef QF_PIPELINE_CUDA_LAYER_CUDA_H
#define QF_PIPELINE_CUDA_LAYER_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the C headers below have no guards of their own */
#endif

#include "core/status.h"
#include "gptq/cuda/gptq_cuda.h"
#include "pipeline/layer_pass.h"

/* The layer shape (a model config's fields) and the run's sizes. */
typedef struct qf_cuda_qshape {
    int64_t hidden, heads, kv_heads, head_dim, intermediate;
    int64_t window;            /* sliding window, 0: none */
    float eps;                 /* RMSNorm epsilon */
    int64_t n_samples, seqlen;
    int keep;                  /* keep att and h between the sequential passes if they
                                  fit (qf_cuda_qlayer_keeps says), else recompute them */
    int tf32;
} qf_cuda_qshape;

/* One layer's float weights on the host, as qf_layer_weights holds them (by linear
 * q, k, v, o, gate, up, down). */
typedef struct qf_cuda_qweights {
    const float *w[7], *b[7]; /* (out, in), (out) or NULL */
    const float *ln1, *ln2;   /* (hidden) */
} qf_cuda_qweights;

typedef struct qf_cuda_qlayer qf_cuda_qlayer;

/* Allocates the device state; cos_t, sin_t (host, (seqlen, head_dim / 2)): the RoPE
 * tables of positions 0..seqlen-1 (qf_layer_ctx's). NOMEM names what did not fit. */
qf_status qf_cuda_qlayer_init(const qf_cuda_qshape *s, const float *cos_t, const float *sin_t,
                              qf_cuda_qlayer **out);
void qf_cuda_qlayer_free(qf_cuda_qlayer *q); /* NULL is fine */

/* Whether the attention outputs and MLP hiddens are kept between passes. */
int qf_cuda_qlayer_keeps(const qf_cuda_qlayer *q);

/* Sample i's layer input X (host, (seqlen, hidden)) to / from the device. */
qf_status qf_cuda_qlayer_put_x(qf_cuda_qlayer *q, int64_t i, const float *x);
qf_status qf_cuda_qlayer_get_x(qf_cuda_qlayer *q, int64_t i, float *x);

/* Uploads a layer's weights, biases and norms. */
qf_status qf_cuda_qlayer_load(qf_cuda_qlayer *q, const qf_cuda_qweights *w);
/* Replaces linear i's weight (host, (out, in)): the dequantized one after quantizing. */
qf_status qf_cuda_qlayer_set_weight(qf_cuda_qlayer *q, int i, const float *w);

/* Sample i through pass p (pipeline/layer_pass.h). H: the Hessians of the q/k/v, o,
 * gate/up and down inputs (those with h == NULL are not summed); sink_weight: the
 * Hessian weight of the window's first position (1: unweighted). */
qf_status qf_cuda_qlayer_pass(qf_cuda_qlayer *q, qf_layer_pass p, int64_t i,
                              qf_cuda_gptq_hessian H[4], float sink_weight);

/* Sample i's kept attention output (seqlen, heads * head_dim) and MLP hidden (seqlen,
 * intermediate) (host buffers; only when kept): what the tests compare with the CPU's. */
qf_status qf_cuda_qlayer_get_kept(qf_cuda_qlayer *q, int64_t i, float *att, float *h);

/* The attention's softmax (causal_softmax.cu): each of `rows` rows (heads x positions, row
 * r = position r % seqlen) of the device scores (rows, seqlen) in place, as
 * qf_layer_softmax_rows (pipeline/layer.h) does on the CPU. */
qf_status qf_cuda_causal_softmax(float *scores, int64_t rows, int64_t seqlen, int64_t window,
                                 void *stream);

#ifdef __cplusplus
}
#endif

#endif
