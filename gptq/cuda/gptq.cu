/* qf_gptq_quantize on the GPU: the order of gptq/gptq.c's steps with the weight, the
 * Hessian and its inverse factor in device memory. Host: checks, column order, groups
 * (plan.c). Device: dead columns and the permutation, static group parameters of the
 * original W, the damped inverse factor (hinv.cu), then per block of columns: dynamic
 * group parameters at each group start (on W as of the block's start, like gptq.py),
 * the column loop (one kernel) and the lazy update of the later columns (one SGEMM).
 * Codes, scales and zeros come back into dst; g_idx and the statistics on the host. */
#include <stdlib.h>
#include <string.h>

#include "gptq/cuda/internal.h"

typedef struct gcu_work {
    cublasHandle_t blas;
    cusolverDnHandle_t sol;
    float *w, *wp;     /* (out, in) original, working (quantization order) */
    float *a, *hinv;   /* (in, in) scratch, upper factor of the damped inverse */
    float *err;        /* (out, block) scaled errors of the current block */
    float *scales;     /* (n_groups, out) */
    uint8_t *zeros, *q; /* (n_groups, out), (out, in) codes in the original columns */
    int32_t *perm, *group;
    float *diag;
    int *count;
    float *h_host;     /* downloaded H for the statistics (when not given) */
} gcu_work;

static void gcu_work_free(gcu_work *k) {
    if (k->blas) cublasDestroy(k->blas);
    if (k->sol) cusolverDnDestroy(k->sol);
    void *dev[] = {k->w, k->wp, k->a, k->hinv, k->err, k->scales, k->zeros, k->q,
                   k->perm, k->group, k->diag, k->count};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) qf_cuda_free(dev[i]);
    free(k->h_host);
}

static qf_status gcu_alloc(gcu_work *k, int64_t out, int64_t in, int64_t bs, int64_t ng) {
    const size_t nw = (size_t)out * (size_t)in, nh = (size_t)in * (size_t)in;
    QF_FORWARD(qf_cuda_malloc((void **)&k->w, nw * sizeof(float), "gptq: device weight"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->wp, nw * sizeof(float), "gptq: device weight"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->a, nh * sizeof(float), "gptq: device Hessian"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->hinv, nh * sizeof(float), "gptq: device factor"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->err, (size_t)(out * bs) * sizeof(float),
                              "gptq: device errors"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->scales, (size_t)(ng * out) * sizeof(float),
                              "gptq: device scales"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->zeros, (size_t)(ng * out), "gptq: device zeros"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->q, nw, "gptq: device codes"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->perm, (size_t)in * 4, "gptq: device order"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->group, (size_t)in * 4, "gptq: device groups"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->diag, (size_t)in * 4, "gptq: device diagonal"));
    QF_FORWARD(qf_cuda_malloc((void **)&k->count, sizeof(int), "gptq: device counter"));
    QF_GCU_BLAS_TRY(cublasCreate(&k->blas), "gptq: cublasCreate");
    /* FP32 SGEMM (TF32 would move every propagated weight by ~1e-3 relative) */
    QF_GCU_BLAS_TRY(cublasSetMathMode(k->blas, CUBLAS_DEFAULT_MATH), "gptq: cublasSetMathMode");
    QF_GCU_SOLVER_TRY(cusolverDnCreate(&k->sol), "gptq: cusolverDnCreate");
    return QF_STATUS_OK;
}

/* the column loop over every block, with the lazy updates (gptq.c's gptq_run) */
static qf_status gcu_run(gcu_work *k, int64_t out, int64_t in, int64_t bs,
                         const qf_cuda_gptq_plan *p, const qf_gcu_grid *grid) {
    const int maxq = (1 << grid->bits) - 1;
    const int64_t g = p->group_size;
    for (int64_t i1 = 0; i1 < in; i1 += bs) {
        const int64_t cnt = in - i1 < bs ? in - i1 : bs, i2 = i1 + cnt;
        /* dynamic groups starting in this block: W is not updated until the SGEMM */
        for (int64_t c = (i1 + g - 1) / g * g; !p->is_static && c < i2; c += g)
            QF_FORWARD(qf_gcu_params(k->wp + c, in, out, in - c < g ? in - c : g, grid,
                                     k->scales + (size_t)(c / g) * (size_t)out,
                                     k->zeros + (size_t)(c / g) * (size_t)out));
        QF_FORWARD(qf_gcu_block(k->wp, out, in, i1, cnt, k->hinv, k->scales, k->zeros,
                                k->group, k->perm, maxq, k->q, k->err));
        if (i2 < in) { /* W[:, i2:] -= Err (out, cnt) . Hinv[i1:i2, i2:], column-major */
            const float minus1 = -1.0f, one = 1.0f;
            QF_GCU_BLAS_TRY(cublasSgemm(k->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)(in - i2),
                                        (int)out, (int)cnt, &minus1,
                                        k->hinv + (size_t)i1 * (size_t)in + (size_t)i2, (int)in,
                                        k->err, (int)cnt, &one, k->wp + i2, (int)in),
                            "gptq: cublasSgemm");
        }
    }
    return QF_STATUS_OK;
}

static qf_status gcu_solve(gcu_work *k, const float *w, int64_t out, int64_t in,
                           const float *h, int64_t count, const float *h_host,
                           const qf_gptq_options *opt, qf_cuda_gptq_plan *p, qf_qweight *dst,
                           qf_gptq_stats *stats) {
    QF_FORWARD(qf_cuda_gptq_check(w, out, in, count, opt));
    const int64_t bs = opt->block_size < in ? opt->block_size : in; /* as gptq.c */
    QF_RETURN_IF(bs > QF_CUDA_GPTQ_MAX_BLOCK, QF_STATUS_UNSUPPORTED,
                 "gptq (CUDA): block_size %lld > %d", (long long)bs, QF_CUDA_GPTQ_MAX_BLOCK);
    const qf_quant_params *qp = &opt->quant;
    QF_FORWARD(qf_qweight_init(dst, qp->bits, qp->sym, out, in, qp->group_size,
                               opt->desc_act && !opt->static_groups));
    const int64_t ng = dst->n_groups;
    const qf_gcu_grid grid = {qp->bits, qp->sym, qp->mse, qp->scale_f32, qp->zero_min};
    QF_FORWARD(gcu_alloc(k, out, in, bs, ng));
    QF_FORWARD(qf_gcu_count_nonfinite(h, in, k->count));
    int bad = 0;
    QF_FORWARD(qf_cuda_download(&bad, k->count, sizeof bad));
    QF_RETURN_IF(bad, QF_STATUS_INVALID_ARG,
                 "gptq: Hessian has %d non-finite entries in its upper triangle", bad);
    float *diag = (float *)malloc((size_t)in * sizeof(float));
    QF_RETURN_IF(!diag, QF_STATUS_NOMEM, "gptq: out of memory for %lld columns", (long long)in);
    cudaError_t e = cudaMemcpy2D(diag, sizeof(float), h, (size_t)(in + 1) * sizeof(float),
                                 sizeof(float), (size_t)in, cudaMemcpyDeviceToHost);
    qf_status st = e == cudaSuccess ? qf_cuda_gptq_plan_init(p, diag, in, opt)
                                    : qf_cuda_status(e, "gptq: Hessian diagonal");
    free(diag);
    QF_FORWARD(st);
    QF_FORWARD(qf_cuda_upload(k->w, w, (size_t)out * (size_t)in * sizeof(float)));
    QF_FORWARD(qf_cuda_upload(k->perm, p->perm, (size_t)in * 4));
    QF_FORWARD(qf_cuda_upload(k->group, p->group, (size_t)in * 4));
    QF_FORWARD(qf_cuda_upload(k->diag, p->diag, (size_t)in * 4));
    QF_FORWARD(qf_gcu_gather_w(k->w, h, k->perm, out, in, k->wp));
    for (int64_t gi = 0; p->is_static && gi < ng; gi++) { /* on the original W (gptq.c) */
        const int64_t c0 = gi * p->group_size;
        QF_FORWARD(qf_gcu_params(k->w + c0, in, out,
                                 in - c0 < p->group_size ? in - c0 : p->group_size, &grid,
                                 k->scales + (size_t)(gi * out), k->zeros + (size_t)(gi * out)));
    }
    double damp = 0.0;
    QF_FORWARD(qf_gcu_factor_hinv(k->sol, h, p, k->perm, k->diag, opt->damp_percent,
                                  opt->damp_auto_increment, k->a, k->hinv, &damp));
    QF_FORWARD(gcu_run(k, out, in, bs, p, &grid));
    QF_FORWARD(qf_cuda_download(dst->q, k->q, (size_t)out * (size_t)in));
    QF_FORWARD(qf_cuda_download(dst->scales, k->scales, (size_t)(ng * out) * sizeof(float)));
    QF_FORWARD(qf_cuda_download(dst->zeros, k->zeros, (size_t)(ng * out)));
    if (dst->g_idx) qf_cuda_gptq_plan_g_idx(p, dst->g_idx);
    if (!stats) return QF_STATUS_OK;
    if (!h_host) {
        k->h_host = (float *)malloc((size_t)in * (size_t)in * sizeof(float));
        QF_RETURN_IF(!k->h_host, QF_STATUS_NOMEM, "gptq: out of memory for the statistics");
        QF_FORWARD(qf_cuda_download(k->h_host, h, (size_t)in * (size_t)in * sizeof(float)));
        h_host = k->h_host;
    }
    stats->damp_percent = damp;
    return qf_cuda_gptq_stats(w, out, in, h_host, opt, dst, stats);
}

static qf_status gcu_quantize(const float *w, int64_t out, int64_t in, const float *h,
                              int64_t count, const float *h_host, const qf_gptq_options *opt,
                              qf_qweight *dst, qf_gptq_stats *stats) {
    memset(dst, 0, sizeof *dst);
    gcu_work k;
    memset(&k, 0, sizeof k);
    qf_cuda_gptq_plan p;
    memset(&p, 0, sizeof p);
    qf_status st = gcu_solve(&k, w, out, in, h, count, h_host, opt, &p, dst, stats);
    gcu_work_free(&k);
    qf_cuda_gptq_plan_free(&p);
    if (st != QF_STATUS_OK) qf_qweight_free(dst);
    return st;
}

qf_status qf_cuda_gptq_quantize_dev(const float *w, int64_t out, int64_t in,
                                    const qf_cuda_gptq_hessian *h, const qf_gptq_options *opt,
                                    qf_qweight *dst, qf_gptq_stats *stats) {
    memset(dst, 0, sizeof *dst);
    QF_RETURN_IF(!h || !h->h || h->n != in, QF_STATUS_INVALID_ARG,
                 "gptq: Hessian width %lld != weight input width %lld",
                 (long long)(h ? h->n : 0), (long long)in);
    return gcu_quantize(w, out, in, h->h, h->count, NULL, opt, dst, stats);
}

qf_status qf_cuda_gptq_quantize(const float *w, int64_t out, int64_t in,
                                const qf_gptq_hessian *h, const qf_gptq_options *opt,
                                qf_qweight *dst, qf_gptq_stats *stats) {
    memset(dst, 0, sizeof *dst);
    QF_RETURN_IF(!h || !h->h || h->n != in, QF_STATUS_INVALID_ARG,
                 "gptq: Hessian width %lld != weight input width %lld",
                 (long long)(h ? h->n : 0), (long long)in);
    QF_RETURN_IF(in <= 0 || (uint64_t)in > SIZE_MAX / sizeof(float) / (uint64_t)in,
                 QF_STATUS_INVALID_ARG, "gptq: Hessian width %lld", (long long)in);
    const size_t bytes = (size_t)in * (size_t)in * sizeof(float);
    float *dh = NULL;
    QF_FORWARD(qf_cuda_malloc((void **)&dh, bytes, "gptq: device Hessian"));
    qf_status st = qf_cuda_upload(dh, h->h, bytes);
    if (st == QF_STATUS_OK) st = gcu_quantize(w, out, in, dh, h->count, h->h, opt, dst, stats);
    qf_cuda_free(dh);
    return st;
}
