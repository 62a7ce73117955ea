/* AWQ's scale search on the GPU (layer_cuda.h): pipeline/awq_layer.c's statistics pass
 * and block-output losses with the calibration layer's device state and building blocks
 * (layer_cuda_impl.h), the fake quantization a kernel with core/quant.c's arithmetic
 * (gptq/cuda/gptq_math.h). The scale grid, the choice and the folding stay on the host
 * (awq/search.c, pipeline/layer_fold.c). */
#include <stdlib.h>
#include <string.h>

#include "gptq/cuda/gptq_math.h"
#include "pipeline/cuda/layer_cuda_impl.h"

#define QF_AWQ_GROUPS 4

struct qf_cuda_awq {
    qf_cuda_qlayer *q;
    int64_t ns, width[QF_AWQ_GROUPS];
    int64_t step, nc;           /* clip tokens: every step-th row of all samples, nc of them */
    double *sum[QF_AWQ_GROUPS]; /* (device) (width) sums of |x| */
    float *in[QF_AWQ_GROUPS];   /* (device) (ns, S, width) the search samples' inputs */
    float *clip[QF_AWQ_GROUPS]; /* (device) (nc, width) the clip tokens, or NULL */
    float *y_attn, *y_mlp;      /* (device) (ns, S, hidden) FP block outputs */
    float *y;                   /* (device) (S, hidden) scratch block output */
    float *s;                   /* (device) (widest) the candidate's scales */
    float *fq[3];               /* (device) a group's fake-quantized weights */
    double *acc;                /* (device) the squared error */
};

extern "C" void qf_cuda_awq_free(qf_cuda_awq *a) {
    if (!a) return;
    for (int g = 0; g < QF_AWQ_GROUPS; g++)
        qf_cuda_free(a->sum[g]), qf_cuda_free(a->in[g]), qf_cuda_free(a->clip[g]);
    for (int j = 0; j < 3; j++) qf_cuda_free(a->fq[j]);
    qf_cuda_free(a->y_attn), qf_cuda_free(a->y_mlp), qf_cuda_free(a->y), qf_cuda_free(a->s);
    qf_cuda_free(a->acc);
    for (int i = 0; i < QL_N; i++) a->q->w_use[i] = NULL;
    free(a);
}

extern "C" qf_status qf_cuda_awq_init(qf_cuda_qlayer *q, int64_t ns, int64_t clip_tokens,
                                      qf_cuda_awq **out) {
    *out = NULL;
    const qf_cuda_qshape *s = &q->s;
    QF_RETURN_IF(ns < 1 || ns > s->n_samples, QF_STATUS_INVALID_ARG,
                 "GPU AWQ: %lld search samples of %lld", (long long)ns, (long long)s->n_samples);
    qf_cuda_awq *a = (qf_cuda_awq *)calloc(1, sizeof *a);
    QF_RETURN_IF(!a, QF_STATUS_NOMEM, "out of memory");
    a->q = q, a->ns = ns;
    const int64_t S = s->seqlen, hid = s->hidden, qd = s->heads * s->head_dim;
    const int64_t N = s->n_samples * S;
    a->step = clip_tokens > 0 && N / clip_tokens > 1 ? N / clip_tokens : 1;
    a->nc = clip_tokens > 0 ? (N + a->step - 1) / a->step : 0;
    const int64_t w[QF_AWQ_GROUPS] = {hid, qd, hid, s->intermediate};
    int64_t widest = 0, wmax = 0;
    for (int i = 0; i < QL_N; i++) wmax = q->out[i] * q->in[i] > wmax ? q->out[i] * q->in[i] : wmax;
    qf_status st = QF_STATUS_OK;
    for (int g = 0; g < QF_AWQ_GROUPS && st == QF_STATUS_OK; g++) {
        a->width[g] = w[g];
        widest = w[g] > widest ? w[g] : widest;
        st = qf_cuda_malloc((void **)&a->sum[g], (size_t)w[g] * sizeof(double), "GPU AWQ: sums");
        if (st == QF_STATUS_OK && cudaMemset(a->sum[g], 0, (size_t)w[g] * sizeof(double)) != cudaSuccess)
            st = qf_error_set(QF_STATUS_IO, "GPU AWQ: clearing the sums failed");
        if (st == QF_STATUS_OK) st = qf_ql_alloc(&a->in[g], ns * S * w[g], "GPU AWQ: search inputs");
        if (st == QF_STATUS_OK && a->nc)
            st = qf_ql_alloc(&a->clip[g], a->nc * w[g], "GPU AWQ: clip tokens");
    }
    if (st == QF_STATUS_OK) st = qf_ql_alloc(&a->y_attn, ns * S * hid, "GPU AWQ: block outputs");
    if (st == QF_STATUS_OK) st = qf_ql_alloc(&a->y_mlp, ns * S * hid, "GPU AWQ: block outputs");
    if (st == QF_STATUS_OK) st = qf_ql_alloc(&a->y, S * hid, "GPU AWQ: scratch");
    if (st == QF_STATUS_OK) st = qf_ql_alloc(&a->s, widest, "GPU AWQ: scales");
    for (int j = 0; j < 3 && st == QF_STATUS_OK; j++)
        st = qf_ql_alloc(&a->fq[j], wmax, "GPU AWQ: fake-quantized weights");
    if (st == QF_STATUS_OK) st = qf_cuda_malloc((void **)&a->acc, sizeof(double), "GPU AWQ: error");
    if (st != QF_STATUS_OK) {
        qf_cuda_awq_free(a);
        return st;
    }
    *out = a;
    return QF_STATUS_OK;
}

/* sum[j] += |x[t][j]| over the rows t in order, in double (qf_awq_collect's order). */
static __global__ void qf_absum_kernel(const float *x, int64_t rows, int64_t w, double *sum) {
    const int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= w) return;
    double acc = sum[j];
    for (int64_t t = 0; t < rows; t++) acc += (double)fabsf(x[t * w + j]);
    sum[j] = acc;
}

/* |x| of sample i's rows into group g's sums; the clip tokens among them and, for a search
 * sample, all its rows kept too (qf_awq_collect). */
static qf_status qf_awq_collect(qf_cuda_awq *a, int g, int64_t i, const float *x) {
    const int64_t S = a->q->s.seqlen, w = a->width[g];
    qf_absum_kernel<<<(unsigned)((w + 255) / 256), 256>>>(x, S, w, a->sum[g]);
    QF_CUDA_LAUNCHED("GPU AWQ: |x| sums");
    for (int64_t t = 0; a->nc && t < S; t++) {
        const int64_t tok = i * S + t;
        if (tok % a->step == 0)
            QF_CUDA_TRY(cudaMemcpyAsync(a->clip[g] + (tok / a->step) * w, x + t * w, qf_ql_f(w),
                                        cudaMemcpyDeviceToDevice, 0),
                        "GPU AWQ: keeping a clip token");
    }
    if (i < a->ns)
        QF_CUDA_TRY(cudaMemcpy(a->in[g] + i * S * w, x, qf_ql_f(S * w), cudaMemcpyDeviceToDevice),
                    "GPU AWQ: keeping a search input");
    return QF_STATUS_OK;
}

extern "C" qf_status qf_cuda_awq_stats(qf_cuda_awq *a, int64_t i) {
    qf_cuda_qlayer *q = a->q;
    const int64_t S = q->s.seqlen, hid = q->s.hidden;
    QF_RETURN_IF(i < 0 || i >= q->s.n_samples, QF_STATUS_INVALID_ARG, "GPU AWQ: sample %lld",
                 (long long)i);
    QF_CUDA_TRY(cudaMemcpy(q->x, qf_ql_x(q, i), qf_ql_f(S * hid), cudaMemcpyDeviceToDevice),
                "GPU AWQ: copying the input");
    float *y = i < a->ns ? a->y_attn + i * S * hid : a->y;
    QF_FORWARD(qf_ql_norm(q, q->x, q->ln1));
    QF_FORWARD(qf_awq_collect(a, 0, i, q->xn));
    QF_FORWARD(qf_ql_attention(q, q->xn));
    QF_FORWARD(qf_awq_collect(a, 1, i, q->att));
    QF_FORWARD(qf_ql_linear(q, QL_O, q->att, y, 0));
    QF_FORWARD(qf_cuda_add_rows(q->x, y, S, hid, hid, NULL));
    QF_FORWARD(qf_ql_norm(q, q->x, q->ln2));
    QF_FORWARD(qf_awq_collect(a, 2, i, q->xn));
    QF_FORWARD(qf_ql_mlp_hidden(q, q->xn, q->gate));
    QF_FORWARD(qf_awq_collect(a, 3, i, q->gate));
    return i < a->ns ? qf_ql_linear(q, QL_DOWN, q->gate, a->y_mlp + i * S * hid, 0)
                     : QF_STATUS_OK;
}

extern "C" qf_status qf_cuda_awq_x_mean(const qf_cuda_awq *a, int group, float *x_mean) {
    QF_RETURN_IF(group < 0 || group >= QF_AWQ_GROUPS, QF_STATUS_INVALID_ARG, "GPU AWQ: group %d",
                 group);
    const int64_t w = a->width[group];
    double *sum = (double *)malloc((size_t)w * sizeof *sum);
    QF_RETURN_IF(!sum, QF_STATUS_NOMEM, "out of memory");
    const qf_status st = qf_cuda_download(sum, a->sum[group], (size_t)w * sizeof *sum);
    const double n = (double)(a->q->s.n_samples * a->q->s.seqlen);
    for (int64_t j = 0; st == QF_STATUS_OK && j < w; j++) x_mean[j] = (float)(sum[j] / n);
    free(sum);
    return st;
}

extern "C" qf_status qf_cuda_awq_clip_tokens(const qf_cuda_awq *a, int group, float *dst,
                                             int64_t *nc) {
    QF_RETURN_IF(group < 0 || group >= QF_AWQ_GROUPS || !a->nc, QF_STATUS_INVALID_ARG,
                 "GPU AWQ: no clip tokens for group %d", group);
    *nc = a->nc;
    return qf_cuda_download(dst, a->clip[group], qf_ql_f(a->nc * a->width[group]));
}

/* One (row, group) of qf_awq_fake_quant (gptq_math.h's qf_gcu_fake_quant_group). */
static __global__ void qf_awq_fq_kernel(const float *w, int64_t out, int64_t in, int64_t gs,
                                        int64_t n_groups, const float *s, qf_gcu_grid grid,
                                        float *dst) {
    const int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (k >= out * n_groups) return;
    const int64_t o = k / n_groups, c0 = (k % n_groups) * gs;
    const int64_t nc = in - c0 < gs ? in - c0 : gs;
    qf_gcu_fake_quant_group(w + o * in + c0, s ? s + c0 : NULL, nc, &grid, dst + o * in + c0);
}

extern "C" qf_status qf_cuda_awq_fake_quant(const float *w, int64_t out, int64_t in,
                                            const float *s, const qf_cuda_awq_grid *g,
                                            float *dst, void *stream) {
    QF_RETURN_IF(out < 1 || in < 1 || g->bits < 2 || g->bits > 8, QF_STATUS_INVALID_ARG,
                 "GPU AWQ: fake quantization of %lld x %lld at %d bits", (long long)out,
                 (long long)in, g->bits);
    const int64_t gs = g->group_size <= 0 || g->group_size > in ? in : g->group_size;
    const int64_t n_groups = (in + gs - 1) / gs, n = out * n_groups;
    const qf_gcu_grid grid = {g->bits, g->sym, 0, g->scale_f32, g->zero_min};
    qf_awq_fq_kernel<<<(unsigned)((n + 127) / 128), 128, 0, (cudaStream_t)stream>>>(
        w, out, in, gs, n_groups, s, grid, dst);
    QF_CUDA_LAUNCHED("GPU AWQ: fake quantization");
    return QF_STATUS_OK;
}

/* *acc += sum (a - b)^2 over n, in double. */
static __global__ void qf_sq_diff_kernel(const float *a, const float *b, int64_t n, double *acc) {
    __shared__ double part[256];
    double v = 0.0;
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n;
         k += (int64_t)gridDim.x * blockDim.x) {
        const double e = (double)a[k] - (double)b[k];
        v += e * e;
    }
    part[threadIdx.x] = v;
    __syncthreads();
    for (int h = 128; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(acc, part[0]);
}

static qf_status qf_awq_sq_diff(qf_cuda_awq *a, const float *y, const float *ref) {
    const int64_t n = a->q->s.seqlen * a->q->s.hidden;
    const int64_t blocks = (n + 255) / 256 < 1024 ? (n + 255) / 256 : 1024;
    qf_sq_diff_kernel<<<(unsigned)blocks, 256>>>(y, ref, n, a->acc);
    QF_CUDA_LAUNCHED("GPU AWQ: squared error");
    return QF_STATUS_OK;
}

/* The group's block on search sample i (its linears already swapped), its error added. */
static qf_status qf_awq_block(qf_cuda_awq *a, int group, int64_t i) {
    qf_cuda_qlayer *q = a->q;
    const int64_t S = q->s.seqlen, hid = q->s.hidden;
    const float *in = a->in[group] + i * S * a->width[group];
    const float *ref = (group < 2 ? a->y_attn : a->y_mlp) + i * S * hid;
    switch (group) {
    case 0: /* self_attn: q, k, v -> attention -> o_proj */
        QF_FORWARD(qf_ql_attention(q, in));
        QF_FORWARD(qf_ql_linear(q, QL_O, q->att, a->y, 0));
        break;
    case 1: QF_FORWARD(qf_ql_linear(q, QL_O, in, a->y, 0)); break;
    case 2: /* mlp: gate, up -> SwiGLU -> down_proj */
        QF_FORWARD(qf_ql_mlp_hidden(q, in, q->gate));
        QF_FORWARD(qf_ql_linear(q, QL_DOWN, q->gate, a->y, 0));
        break;
    default: QF_FORWARD(qf_ql_linear(q, QL_DOWN, in, a->y, 0)); break;
    }
    return qf_awq_sq_diff(a, a->y, ref);
}

extern "C" qf_status qf_cuda_awq_loss(qf_cuda_awq *a, int group, const int *lin, int n,
                                      const qf_cuda_awq_grid *g, const float *s, double *loss) {
    QF_RETURN_IF(group < 0 || group >= QF_AWQ_GROUPS || n < 0 || n > 3, QF_STATUS_INVALID_ARG,
                 "GPU AWQ: group %d with %d linears", group, n);
    qf_cuda_qlayer *q = a->q;
    QF_FORWARD(qf_cuda_upload(a->s, s, qf_ql_f(a->width[group])));
    QF_CUDA_TRY(cudaMemset(a->acc, 0, sizeof(double)), "GPU AWQ: clearing the error");
    qf_status st = QF_STATUS_OK;
    for (int j = 0; j < n && st == QF_STATUS_OK; j++) {
        const int i = lin[j];
        st = i >= 0 && i < QL_N ? qf_cuda_awq_fake_quant(q->w[i], q->out[i], q->in[i], a->s, &g[j],
                                                         a->fq[j], NULL)
                                : qf_error_set(QF_STATUS_INVALID_ARG, "GPU AWQ: linear %d", i);
        if (st == QF_STATUS_OK) q->w_use[i] = a->fq[j];
    }
    for (int64_t i = 0; i < a->ns && st == QF_STATUS_OK; i++) st = qf_awq_block(a, group, i);
    for (int j = 0; j < n; j++)
        if (lin[j] >= 0 && lin[j] < QL_N) q->w_use[lin[j]] = NULL;
    double sum = 0.0;
    if (st == QF_STATUS_OK) st = qf_cuda_download(&sum, a->acc, sizeof sum);
    *loss = sum / (double)(a->ns * q->s.seqlen * q->s.hidden);
    return st;
}
