/* GPTQ of one linear on the GPU (built only with CUDA: QF_HAVE_CUDA): the Hessian
 * accumulated on the device (cublasSsyrk) and the quantization of a weight with the same
 * options, output and statistics as qf_gptq_quantize, so a caller can use either.
 * The algorithm and its numerics mirror gptq/: the same column order, damping and retry,
 * upper Cholesky factor of the damped inverse (cuSOLVER potrf + trtri on the reversed
 * matrix, like hinv.c with LAPACK), group parameters (gptq_math.h: bit-identical
 * arithmetic to core/quant.c but for powf in the MSE search), per-column errors and lazy
 * block updates (cublasSgemm, FP32, no TF32). Only summation orders differ (cuBLAS /
 * cuSOLVER vs OpenBLAS / LAPACK), so a code can differ where a propagated weight lands
 * within float noise of a rounding boundary; tests/test_cuda_gptq.c states the bounds.
 * Every function returns a qf_status and fills the message; none prints. */
#ifndef QF_GPTQ_CUDA_H
#define QF_GPTQ_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the C headers below have no guards of their own */
#endif

#include "gptq/gptq.h"

/* qf_gptq_hessian on the device: after rows x_1..x_n, h = (2/n) sum x_j x_j^T, the
 * upper triangle of the row-major (n, n) matrix maintained (the same running mean). */
typedef struct qf_cuda_gptq_hessian {
    int64_t n;     /* input width */
    int64_t count; /* rows accumulated so far */
    float *h;      /* (device) (n, n) */
    void *blas;    /* cublasHandle_t */
    int tf32;      /* sums on TF32 tensor cores (qf_cuda_gptq_hessian_tf32) */
} qf_cuda_gptq_hessian;

qf_status qf_cuda_gptq_hessian_init(qf_cuda_gptq_hessian *h, int64_t n);
void qf_cuda_gptq_hessian_free(qf_cuda_gptq_hessian *h); /* NULL and zeroed are fine */
/* Adds m rows x (device, (m, n) row-major): cublasSsyrk, FP32 throughout; after
 * qf_cuda_gptq_hessian_tf32 a TF32 tensor-core GEMM of the whole matrix instead (twice
 * syrk's products, several times its speed; the lower triangle is written too). */
qf_status qf_cuda_gptq_hessian_add(qf_cuda_gptq_hessian *h, const float *x, int64_t m);
/* Makes the sums TF32 tensor-core GEMMs (fp32 storage and sums, products of inputs
 * rounded to 10-bit mantissas). */
qf_status qf_cuda_gptq_hessian_tf32(qf_cuda_gptq_hessian *h);
/* dst (initialised by the caller with the same n) = h, count included. */
qf_status qf_cuda_gptq_hessian_download(const qf_cuda_gptq_hessian *h, qf_gptq_hessian *dst);

/* qf_gptq_quantize on the GPU: w (host, (out, in)), h (host), dst and stats as there.
 * The block (block_size, at most in) is limited to QF_CUDA_GPTQ_MAX_BLOCK (UNSUPPORTED
 * above: the kernel stages rows of a block in shared memory). */
qf_status qf_cuda_gptq_quantize(const float *w, int64_t out, int64_t in,
                                const qf_gptq_hessian *h, const qf_gptq_options *opt,
                                qf_qweight *dst, qf_gptq_stats *stats);
/* The same with the Hessian on the device (not modified; stats download it). */
qf_status qf_cuda_gptq_quantize_dev(const float *w, int64_t out, int64_t in,
                                    const qf_cuda_gptq_hessian *h, const qf_gptq_options *opt,
                                    qf_qweight *dst, qf_gptq_stats *stats);

#define QF_CUDA_GPTQ_MAX_BLOCK 4096

#ifdef __cplusplus
}
#endif

#endif
