/* The damped inverse-Hessian factor on the GPU, as gptq/hinv.c computes it with LAPACK:
 * a = J (H + damp I) J (J reverses rows and columns), a = L L^T by cusolverDnSpotrf,
 * L^-1 by cusolverDnXtrtri, and the upper Cholesky factor of (H + damp I)^-1 is
 * J L^-1 J. The damping starts at damp_percent of mean(diag H) and grows by the
 * increment after each failed factorization while it stays < 1; the failure is reported
 * with hinv.c's message (the info is cuSOLVER's). Also the cuBLAS / cuSOLVER statuses. */
#include <stdlib.h>

#include "gptq/cuda/internal.h"

qf_status qf_gcu_blas_status(cublasStatus_t st, const char *what) {
    qf_status code = st == CUBLAS_STATUS_ALLOC_FAILED      ? QF_STATUS_NOMEM
                     : st == CUBLAS_STATUS_NOT_INITIALIZED ? QF_STATUS_UNSUPPORTED
                                                           : QF_STATUS_IO;
    return qf_error_set(code, "%s: %s", what, cublasGetStatusName(st));
}

qf_status qf_gcu_solver_status(cusolverStatus_t st, const char *what) {
    qf_status code = st == CUSOLVER_STATUS_ALLOC_FAILED      ? QF_STATUS_NOMEM
                     : st == CUSOLVER_STATUS_NOT_INITIALIZED ? QF_STATUS_UNSUPPORTED
                                                             : QF_STATUS_IO;
    return qf_error_set(code, "%s: cuSOLVER status %d", what, (int)st);
}

typedef struct hinv_work {
    cusolverDnHandle_t sol;
    int64_t n;
    float *a;
    void *dwork, *hwork; /* device / host workspaces, sized for both calls */
    int lwork;           /* potrf's, in floats */
    size_t tr_dev, tr_host;
    int *info;           /* (device) */
} hinv_work;

/* *info = 0 on success, else the failing call's info (potrf's leading minor, trtri's
 * zero pivot) */
static qf_status hinv_try(hinv_work *k, const float *h, const int32_t *perm, const float *diag,
                          double damp, int *info) {
    const int n = (int)k->n;
    QF_FORWARD(qf_gcu_build_a(h, perm, diag, k->n, (float)damp, k->a));
    QF_GCU_SOLVER_TRY(cusolverDnSpotrf(k->sol, CUBLAS_FILL_MODE_LOWER, n, k->a, n,
                                       (float *)k->dwork, k->lwork, k->info),
                      "gptq: cusolverDnSpotrf");
    QF_CUDA_TRY(cudaMemcpy(info, k->info, sizeof(int), cudaMemcpyDeviceToHost),
                "gptq: Cholesky status");
    if (*info != 0) return QF_STATUS_OK;
    QF_GCU_SOLVER_TRY(cusolverDnXtrtri(k->sol, CUBLAS_FILL_MODE_LOWER, CUBLAS_DIAG_NON_UNIT,
                                       k->n, CUDA_R_32F, k->a, k->n, k->dwork, k->tr_dev,
                                       k->hwork, k->tr_host, k->info),
                      "gptq: cusolverDnXtrtri");
    QF_CUDA_TRY(cudaMemcpy(info, k->info, sizeof(int), cudaMemcpyDeviceToHost),
                "gptq: triangular inverse status");
    return QF_STATUS_OK;
}

static qf_status hinv_run(hinv_work *k, const float *h, const qf_cuda_gptq_plan *p,
                          const int32_t *perm, const float *diag, double damp_percent,
                          double increment, float *hinv, double *damp_used) {
    const int n = (int)k->n;
    QF_GCU_SOLVER_TRY(cusolverDnSpotrf_bufferSize(k->sol, CUBLAS_FILL_MODE_LOWER, n, k->a, n,
                                                  &k->lwork),
                      "gptq: cusolverDnSpotrf_bufferSize");
    QF_GCU_SOLVER_TRY(cusolverDnXtrtri_bufferSize(k->sol, CUBLAS_FILL_MODE_LOWER,
                                                  CUBLAS_DIAG_NON_UNIT, k->n, CUDA_R_32F, k->a,
                                                  k->n, &k->tr_dev, &k->tr_host),
                      "gptq: cusolverDnXtrtri_bufferSize");
    size_t dev = (size_t)k->lwork * sizeof(float);
    QF_FORWARD(qf_cuda_malloc(&k->dwork, dev > k->tr_dev ? dev : k->tr_dev,
                              "gptq: cuSOLVER workspace"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->info, sizeof(int), "gptq: cuSOLVER info"));
    k->hwork = malloc(k->tr_host ? k->tr_host : 1);
    QF_RETURN_IF(!k->hwork, QF_STATUS_NOMEM, "gptq: out of memory for a cuSOLVER workspace");
    double pc = damp_percent;
    int info = 0;
    QF_FORWARD(hinv_try(k, h, perm, diag, pc * p->mean, &info));
    while (info != 0 && increment > 0.0 && pc + increment < 1.0) {
        pc += increment;
        QF_FORWARD(hinv_try(k, h, perm, diag, pc * p->mean, &info));
    }
    QF_RETURN_IF(info != 0, QF_STATUS_INVALID_ARG,
                 "gptq: Hessian (%lld x %lld) not positive definite with damping up to %g of "
                 "its mean diagonal %g (cuSOLVER info %d)",
                 (long long)n, (long long)n, pc, p->mean, info);
    QF_FORWARD(qf_gcu_extract_hinv(k->a, k->n, hinv));
    *damp_used = pc;
    return QF_STATUS_OK;
}

qf_status qf_gcu_factor_hinv(cusolverDnHandle_t sol, const float *h, const qf_cuda_gptq_plan *p,
                             const int32_t *perm, const float *diag, double damp_percent,
                             double increment, float *a, float *hinv, double *damp_used) {
    hinv_work k = {sol, p->in, a, NULL, NULL, 0, 0, 0, NULL};
    qf_status st = hinv_run(&k, h, p, perm, diag, damp_percent, increment, hinv, damp_used);
    qf_cuda_free(k.dwork);
    qf_cuda_free(k.info);
    free(k.hwork);
    return st;
}
