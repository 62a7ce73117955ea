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
 * gate/up and down inputs (those with h == NULL are not summed; H may be NULL for the
 * FULL pass, which sums none); sink_weight: the
 * Hessian weight of the window's first position (1: unweighted). */
qf_status qf_cuda_qlayer_pass(qf_cuda_qlayer *q, qf_layer_pass p, int64_t i,
                              qf_cuda_gptq_hessian H[4], float sink_weight);

/* Sample i's kept attention output (seqlen, heads * head_dim) and MLP hidden (seqlen,
 * intermediate) (host buffers; only when kept): what the tests compare with the CPU's. */
qf_status qf_cuda_qlayer_get_kept(qf_cuda_qlayer *q, int64_t i, float *att, float *h);

/* ---- AWQ's scale search on the GPU (awq_cuda.cu): awq+gptq with --device cuda ---------- */
/* The RTN grid of one linear (qf_quant_params without the MSE search). */
typedef struct qf_cuda_awq_grid {
    int bits, sym, scale_f32, zero_min;
    int64_t group_size; /* <= 0 or >= in: one group per row */
} qf_cuda_awq_grid;

typedef struct qf_cuda_awq qf_cuda_awq;

/* Search state for the layer loaded in q: the first ns samples' group inputs and FP
 * block outputs, the |x| sums, and (clip_tokens > 0) every N / clip_tokens-th row of all
 * N = n_samples x seqlen rows for the clip search (pipeline/awq_layer.c's qf_awq_data, on
 * the device). */
qf_status qf_cuda_awq_init(qf_cuda_qlayer *q, int64_t ns, int64_t clip_tokens,
                           qf_cuda_awq **out);
void qf_cuda_awq_free(qf_cuda_awq *a); /* NULL is fine */
/* The FP layer on sample i, X left as it is: |x| summed per channel at the inputs of the
 * four scaling groups (0 q/k/v, 1 o, 2 gate/up, 3 down: qf_layer_scale_group); for i < ns
 * those inputs and the self_attn / mlp block outputs kept. Samples in order 0..n-1 give
 * the CPU's double sums bit for bit (each channel summed row by row). */
qf_status qf_cuda_awq_stats(qf_cuda_awq *a, int64_t i);
/* dst (host, (*nc, the group's width)) = the group's clip tokens (init's clip_tokens > 0). */
qf_status qf_cuda_awq_clip_tokens(const qf_cuda_awq *a, int group, float *dst, int64_t *nc);
/* x_mean (host, the group's input width) = the sums / (n_samples * seqlen), as float. */
qf_status qf_cuda_awq_x_mean(const qf_cuda_awq *a, int group, float *x_mean);
/* The mean squared error of the group's block output over the ns samples with its linears
 * lin[0..n) replaced by Q(W diag(s)) diag(s)^-1 on grids g[0..n), s (host, the group's
 * width): qf_awq_loss1's blocks (self_attn, o_proj, mlp, down_proj). */
qf_status qf_cuda_awq_loss(qf_cuda_awq *a, int group, const int *lin, int n,
                           const qf_cuda_awq_grid *g, const float *s, double *loss);
/* dst (device, (out, in)) = Q(w diag(s)) diag(s)^-1 with RTN on grid g (w, s device; s
 * NULL = ones): qf_awq_fake_quant bit for bit (gptq/cuda/gptq_math.h's row parameters). */
qf_status qf_cuda_awq_fake_quant(const float *w, int64_t out, int64_t in, const float *s,
                                 const qf_cuda_awq_grid *g, float *dst, void *stream);

/* The attention's softmax (causal_softmax.cu): each of `rows` rows (heads x positions, row
 * r = position r % seqlen) of the device scores (rows, seqlen) in place, as
 * qf_layer_softmax_rows (pipeline/layer.h) does on the CPU. */
qf_status qf_cuda_causal_softmax(float *scores, int64_t rows, int64_t seqlen, int64_t window,
                                 void *stream);

#ifdef __cplusplus
}
#endif

#endif
