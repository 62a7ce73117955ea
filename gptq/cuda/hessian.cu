/* The running GPTQ Hessian on the GPU: gptq/hessian.c's running mean with cublasSsyrk
 * (FP32 in and out) into the same upper triangle of a row-major (n, n) H, or (after
 * qf_cuda_gptq_hessian_tf32) a TF32 tensor-core GEMM into the whole of it. */
#include <limits.h>
#include <string.h>

#include "gptq/cuda/internal.h"

qf_status qf_cuda_gptq_hessian_init(qf_cuda_gptq_hessian *h, int64_t n) {
    memset(h, 0, sizeof *h);
    QF_RETURN_IF(n <= 0 || n > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq hessian: width %lld outside [1, %d]", (long long)n, INT_MAX);
    QF_RETURN_IF((uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)n, QF_STATUS_NOMEM,
                 "gptq hessian: %lld x %lld overflows", (long long)n, (long long)n);
    const size_t bytes = (size_t)n * (size_t)n * sizeof(float);
    cublasHandle_t blas = NULL;
    qf_status st = qf_cuda_malloc((void **)&h->h, bytes, "gptq hessian: device memory");
    cudaError_t e = st == QF_STATUS_OK ? cudaMemset(h->h, 0, bytes) : cudaSuccess;
    if (e != cudaSuccess) st = qf_cuda_status(e, "gptq hessian: clearing");
    if (st == QF_STATUS_OK && cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS)
        st = qf_error_set(QF_STATUS_UNSUPPORTED, "gptq hessian: cublasCreate failed");
    h->blas = blas;
    if (st == QF_STATUS_OK && cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS)
        st = qf_error_set(QF_STATUS_IO, "gptq hessian: cublasSetMathMode failed");
    if (st != QF_STATUS_OK) {
        qf_cuda_gptq_hessian_free(h);
        return st;
    }
    h->n = n;
    return QF_STATUS_OK;
}

void qf_cuda_gptq_hessian_free(qf_cuda_gptq_hessian *h) {
    if (!h) return;
    qf_cuda_free(h->h);
    if (h->blas) cublasDestroy((cublasHandle_t)h->blas);
    memset(h, 0, sizeof *h);
}

qf_status qf_cuda_gptq_hessian_add(qf_cuda_gptq_hessian *h, const float *x, int64_t m) {
    QF_RETURN_IF(!h->h, QF_STATUS_INVALID_ARG, "gptq hessian: not initialised");
    QF_RETURN_IF(m < 0 || m > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq hessian: %lld rows outside [0, %d]", (long long)m, INT_MAX);
    if (m == 0) return QF_STATUS_OK;
    const int64_t total = h->count + m;
    /* running mean: H <- H * count / total + (2 / total) x^T x, as hessian.c */
    const float beta = (float)((double)h->count / (double)total);
    const float alpha = (float)(2.0 / (double)total);
    const int n = (int)h->n;
    /* row-major x (m, n) is column-major (n, m): x^T x = X X^T, op N; row-major upper
     * is column-major lower */
    if (h->tf32)
        QF_GCU_BLAS_TRY(cublasGemmEx((cublasHandle_t)h->blas, CUBLAS_OP_N, CUBLAS_OP_T, n, n,
                                     (int)m, &alpha, x, CUDA_R_32F, n, x, CUDA_R_32F, n, &beta,
                                     h->h, CUDA_R_32F, n, CUBLAS_COMPUTE_32F_FAST_TF32,
                                     CUBLAS_GEMM_DEFAULT),
                        "gptq hessian: TF32 GEMM");
    else
        QF_GCU_BLAS_TRY(cublasSsyrk((cublasHandle_t)h->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                                    n, (int)m, &alpha, x, n, &beta, h->h, n),
                        "gptq hessian: cublasSsyrk");
    h->count = total;
    return QF_STATUS_OK;
}

qf_status qf_cuda_gptq_hessian_tf32(qf_cuda_gptq_hessian *h) {
    QF_RETURN_IF(!h->h, QF_STATUS_INVALID_ARG, "gptq hessian: not initialised");
    h->tf32 = 1;
    return QF_STATUS_OK;
}

qf_status qf_cuda_gptq_hessian_download(const qf_cuda_gptq_hessian *h, qf_gptq_hessian *dst) {
    QF_RETURN_IF(!h->h || !dst->h || dst->n != h->n, QF_STATUS_INVALID_ARG,
                 "gptq hessian: download into width %lld from %lld", (long long)dst->n,
                 (long long)h->n);
    QF_FORWARD(qf_cuda_download(dst->h, h->h, (size_t)h->n * (size_t)h->n * sizeof(float)));
    dst->count = h->count;
    return QF_STATUS_OK;
}
