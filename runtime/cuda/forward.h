/* The GPU runtime (runtime/cuda/forward*.cu; built only with CUDA): the Llama-family
 * forward pass of runtime/forward.c on one NVIDIA GPU, with every weight uploaded once at
 * init. qf_runtime_init with device QF_RUNTIME_DEVICE_CUDA wraps it (runtime/runtime.c),
 * so eval / bench / generate drive it through the ordinary qf_runtime API.
 *
 * Arithmetic: activations fp32 between kernels; float linears either fp16 weights with
 * the activations rounded to fp16 and an fp32-accumulating cuBLAS GEMM (weight dtype F16),
 * or fp32 weights and SGEMM (F32); 4-bit GPTQ / AWQ linears in the W4A16 layout
 * (w4_layout.h) through the W4 GEMV below QF_CUDA_W4_GEMM_MIN_M tokens, dequantized to
 * fp16 + cuBLAS from there; W8A8 (compressed-tensors int8) linears through the CPU's
 * integer arithmetic with cuBLAS's int8 GEMM (i8_linear.cu); 2/3/8-bit GPTQ linears
 * dequantized on the host at load time and run as float linears; RMSNorm, RoPE
 * (host-computed tables of the CPU code), SwiGLU in fp32; attention over an fp16 KV cache
 * (prefill kernel for n > 1, split-K decode kernel for n == 1), sliding window included.
 * Not supported (UNSUPPORTED with a message): quantized embeddings, head_dim other than
 * 64 / 128 (the attention kernels'). */
#ifndef QF_CUDA_FORWARD_H
#define QF_CUDA_FORWARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/dtype.h"
#include "core/status.h"
#include "formats/model.h"
#include "runtime/runtime.h"

typedef struct qf_cuda_runtime qf_cuda_runtime;

typedef struct qf_cuda_runtime_options {
    int64_t max_ctx;       /* KV cache capacity in tokens, > 0 */
    qf_dtype weight_dtype; /* QF_DTYPE_F16 or QF_DTYPE_F32: float linears in device memory */
    int weight_auto;       /* with F16: a tensor past the F16 range stays F32 (else an error) */
} qf_cuda_runtime_options;

/* Checks for a usable GPU (UNSUPPORTED with the CUDA error otherwise), uploads every
 * weight of m (which has a checked config) and allocates the KV cache and activations. */
qf_status qf_cuda_runtime_init(const qf_model *m, const qf_cuda_runtime_options *opt,
                               qf_cuda_runtime **out);
void qf_cuda_runtime_free(qf_cuda_runtime *rt); /* NULL is fine */

/* qf_runtime_forward's contract (runtime.h) with the position explicit: tokens[0..n) at
 * positions pos..pos+n-1 (the cache must hold 0..pos-1 from earlier calls), logits for
 * input indices >= logits_from handed to fn in blocks, (count, vocab) fp32 row-major on
 * the host. The caller tracks the position. */
qf_status qf_cuda_runtime_forward(qf_cuda_runtime *rt, const int32_t *tokens, int64_t n,
                                  int64_t pos, int64_t logits_from, qf_logits_fn fn,
                                  void *user);

#ifdef __cplusplus
}
#endif

#endif
