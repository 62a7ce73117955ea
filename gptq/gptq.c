/* GPTQ's column loop (IST-DASLab gptq.py fasterquant; llm-compressor quantize_weight):
 * dead columns, act-order permutation, group parameters (static from the original W,
 * or at each group start on the lazily updated W), per-column quantization with the
 * error spread over the rest of the block (rows split over opt->n_threads threads: they
 * are independent within a block), and one SGEMM per block for the columns after it. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gptq/gptq.h"
#include "gptq/internal.h"
#include "runtime/cpu/linear.h"
#include "runtime/cpu/pool.h"

qf_gptq_options qf_gptq_options_default(void) {
    qf_gptq_options o;
    memset(&o, 0, sizeof o);
    o.quant.bits = 4;
    o.quant.sym = 0;
    o.quant.group_size = 128;
    o.damp_percent = 0.01;
    o.damp_auto_increment = 0.0025;
    o.block_size = 128;
    return o;
}

typedef struct gptq_work {
    int64_t *perm; /* (in) original column of each position in quantization order */
    float *wp;     /* (out, in) working weight, columns in quantization order */
    float *hp;     /* (in, in) permuted Hessian, dead diagonal set to 1 */
    float *hinv;   /* (in, in) upper factor of the damped inverse */
    float *w1;     /* (block, out) the current block, one column per row */
    float *err;    /* (block, out) scaled errors of the block's columns */
    uint8_t *code; /* (block, out) codes of the block's columns */
} gptq_work;

static void gptq_work_free(gptq_work *k) {
    free(k->perm);
    free(k->wp);
    free(k->hp);
    free(k->hinv);
    free(k->w1);
    free(k->err);
    free(k->code);
}

typedef struct gptq_diag {
    float d;
    int64_t i;
} gptq_diag;

/* diag descending; ties keep the original order (a stable argsort) */
static int gptq_diag_cmp(const void *a, const void *b) {
    const gptq_diag *x = a, *y = b;
    if (x->d != y->d) return x->d > y->d ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

qf_status qf_gptq_check_args(const float *w, int64_t out, int64_t in, int64_t count,
                             const qf_gptq_options *opt) {
    QF_RETURN_IF(out <= 0 || in <= 0 || out > INT_MAX || in > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq: weight shape (%lld, %lld) outside [1, %d]", (long long)out,
                 (long long)in, INT_MAX);
    QF_RETURN_IF(count <= 0, QF_STATUS_INVALID_ARG, "gptq: Hessian has no calibration rows");
    QF_RETURN_IF(opt->block_size <= 0, QF_STATUS_INVALID_ARG, "gptq: block_size %lld <= 0",
                 (long long)opt->block_size);
    QF_RETURN_IF(!(opt->damp_percent >= 0.0 && opt->damp_percent < 1.0), QF_STATUS_INVALID_ARG,
                 "gptq: damp_percent %g outside [0, 1)", opt->damp_percent);
    QF_RETURN_IF(!(opt->damp_auto_increment >= 0.0), QF_STATUS_INVALID_ARG,
                 "gptq: damp_auto_increment %g < 0", opt->damp_auto_increment);
    QF_RETURN_IF((uint64_t)out > SIZE_MAX / sizeof(float) / (uint64_t)in, QF_STATUS_NOMEM,
                 "gptq: weight (%lld, %lld) overflows", (long long)out, (long long)in);
    size_t nw = (size_t)out * (size_t)in;
    for (size_t k = 0; k < nw; k++)
        QF_RETURN_IF(!isfinite(w[k]), QF_STATUS_INVALID_ARG,
                     "gptq: weight (%zu, %zu) = %g is not finite", k / (size_t)in,
                     k % (size_t)in, (double)w[k]);
    return QF_STATUS_OK;
}

static qf_status gptq_check(const float *w, int64_t out, int64_t in, const qf_gptq_hessian *h,
                            const qf_gptq_options *opt) {
    QF_RETURN_IF(out <= 0 || in <= 0 || out > INT_MAX || in > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq: weight shape (%lld, %lld) outside [1, %d]", (long long)out,
                 (long long)in, INT_MAX);
    QF_RETURN_IF(!h || !h->h || h->n != in, QF_STATUS_INVALID_ARG,
                 "gptq: Hessian width %lld != weight input width %lld",
                 (long long)(h ? h->n : 0), (long long)in);
    QF_FORWARD(qf_gptq_check_args(w, out, in, h->count, opt));
    for (int64_t i = 0; i < in; i++)
        for (int64_t j = i; j < in; j++)
            QF_RETURN_IF(!isfinite(h->h[i * in + j]), QF_STATUS_INVALID_ARG,
                         "gptq: Hessian (%lld, %lld) = %g is not finite", (long long)i,
                         (long long)j, (double)h->h[i * in + j]);
    return QF_STATUS_OK;
}

qf_status qf_gptq_order(const float *diag, int64_t stride, int64_t in, int desc_act,
                        int64_t *perm, float *diag_sorted) {
    gptq_diag *dg = malloc((size_t)in * sizeof *dg);
    QF_RETURN_IF(!dg, QF_STATUS_NOMEM, "gptq: out of memory for %lld columns", (long long)in);
    for (int64_t i = 0; i < in; i++) {
        float d = diag[i * stride];
        dg[i].d = d == 0.0f ? 1.0f : d;
        dg[i].i = i;
    }
    if (desc_act) qsort(dg, (size_t)in, sizeof *dg, gptq_diag_cmp);
    for (int64_t c = 0; c < in; c++) perm[c] = dg[c].i, diag_sorted[c] = dg[c].d;
    free(dg);
    return QF_STATUS_OK;
}

/* perm, wp and hp: dead columns (H[d,d] == 0) get H[d,d] = 1 and W[:,d] = 0; with
 * desc_act the columns are ordered by diag(H) descending */
static qf_status gptq_prepare(const float *w, int64_t out, int64_t in, const float *h,
                              int desc_act, gptq_work *k) {
    float *dg = malloc((size_t)in * sizeof *dg);
    QF_RETURN_IF(!dg, QF_STATUS_NOMEM, "gptq: out of memory for %lld columns", (long long)in);
    qf_status st = qf_gptq_order(h, in + 1, in, desc_act, k->perm, dg);
    if (st != QF_STATUS_OK) {
        free(dg);
        return st;
    }
    for (int64_t c = 0; c < in; c++) { // hp[c][j] = H[perm c][perm j] from the upper triangle
        int64_t pc = k->perm[c];
        float *hr = k->hp + (size_t)c * (size_t)in;
        for (int64_t j = 0; j < in; j++) {
            int64_t pj = k->perm[j], a = pc < pj ? pc : pj, b = pc < pj ? pj : pc;
            hr[j] = h[(size_t)a * (size_t)in + (size_t)b];
        }
        hr[c] = dg[c];
    }
    for (int64_t o = 0; o < out; o++) {
        const float *src = w + (size_t)o * (size_t)in;
        float *dst = k->wp + (size_t)o * (size_t)in;
        for (int64_t c = 0; c < in; c++) {
            int64_t pc = k->perm[c];
            dst[c] = h[pc * in + pc] == 0.0f ? 0.0f : src[pc];
        }
    }
    free(dg);
    return QF_STATUS_OK;
}

/* Rows [o0, o1) of the block's column j (position c): quantized with group params s, z
 * (per row), their errors spread over the block's later columns. */
static void gptq_column(gptq_work *k, int64_t o0, int64_t o1, int64_t out, int64_t in,
                        int64_t i1, int64_t cnt, int64_t j, const float *s, const uint8_t *z,
                        int maxq) {
    int64_t c = i1 + j;
    const float *hrow = k->hinv + (size_t)c * (size_t)in;
    float dinv = 1.0f / hrow[c];
    const float *wc = k->w1 + (size_t)j * (size_t)out;
    float *ec = k->err + (size_t)j * (size_t)out;
    uint8_t *qc = k->code + (size_t)j * (size_t)out;
    for (int64_t o = o0; o < o1; o++) {
        uint8_t q = qf_quant_code(wc[o], s[o], z[o], maxq);
        qc[o] = q;
        ec[o] = (wc[o] - s[o] * (float)((int)q - (int)z[o])) * dinv;
    }
    for (int64_t t = j + 1; t < cnt; t++) {
        float hv = hrow[i1 + t];
        float *wt = k->w1 + (size_t)t * (size_t)out;
#pragma omp simd
        for (int64_t o = o0; o < o1; o++) wt[o] -= ec[o] * hv;
    }
}

/* One lazy block, columns i1 .. i1 + cnt - 1; rows are independent within it. */
typedef struct gptq_block {
    gptq_work *k;
    int64_t out, in, i1, cnt;
    const qf_quant_params *qp;
    int is_static, maxq;
    qf_qweight *dst;
} gptq_block;

/* Rows [o0, o1) of block b: copied out of wp, group parameters at each group start
 * (dynamic groups, on W as of this block's start, as gptq.py), the column loop, codes
 * into dst. Per row exactly the single-threaded arithmetic, so any split gives the same
 * bits. */
static void gptq_block_rows(const gptq_block *b, int64_t o0, int64_t o1) {
    gptq_work *k = b->k;
    const int64_t out = b->out, in = b->in, i1 = b->i1, cnt = b->cnt;
    const int64_t g = b->dst->group_size;
    for (int64_t o = o0; o < o1; o++) {
        const float *src = k->wp + (size_t)o * (size_t)in + (size_t)i1;
        for (int64_t j = 0; j < cnt; j++) k->w1[(size_t)j * (size_t)out + (size_t)o] = src[j];
    }
    for (int64_t j = 0; j < cnt; j++) {
        const int64_t c = i1 + j, gi = b->is_static ? k->perm[c] / g : c / g;
        float *s = b->dst->scales + (size_t)gi * (size_t)out;
        uint8_t *z = b->dst->zeros + (size_t)gi * (size_t)out;
        if (!b->is_static && c % g == 0)
            qf_quant_find_params(k->wp + (size_t)o0 * (size_t)in + (size_t)c, o1 - o0,
                                 in - c < g ? in - c : g, in, b->qp, s + o0, z + o0);
        gptq_column(k, o0, o1, out, in, i1, cnt, j, s, z, b->maxq);
    }
    for (int64_t j = 0; j < cnt; j++) {
        uint8_t *q = b->dst->q + k->perm[i1 + j];
        const uint8_t *qc = k->code + (size_t)j * (size_t)out;
        for (int64_t o = o0; o < o1; o++) q[(size_t)o * (size_t)in] = qc[o];
    }
}

/* Every group's parameters of the original W (static groups, per-channel). */
typedef struct gptq_params_job {
    const float *w;
    int64_t out, in;
    const qf_quant_params *qp;
    qf_qweight *dst;
} gptq_params_job;

/* Thread ith of nth: its share of the rows (multiples of 16), every group; per row the
 * single-threaded arithmetic (the MSE search is most of it), so any split gives the same
 * bits. */
static void gptq_params_fn(void *arg, int ith, int nth) {
    const gptq_params_job *j = arg;
    const int64_t g = j->dst->group_size;
    int64_t o0, o1;
    qf_cpu_share_rows(j->out, ith, nth, &o0, &o1);
    for (int64_t gi = 0; o0 < o1 && gi < j->dst->n_groups; gi++) {
        const int64_t c0 = gi * g, nc = j->in - c0 < g ? j->in - c0 : g;
        const size_t at = (size_t)gi * (size_t)j->out + (size_t)o0;
        qf_quant_find_params(j->w + (size_t)o0 * (size_t)j->in + (size_t)c0, o1 - o0, nc, j->in,
                             j->qp, j->dst->scales + at, j->dst->zeros + at);
    }
}

/* Thread ith of nth takes its share of the rows, in multiples of 16. */
static void gptq_block_fn(void *arg, int ith, int nth) {
    const gptq_block *b = arg;
    int64_t o0, o1;
    qf_cpu_share_rows(b->out, ith, nth, &o0, &o1);
    if (o0 < o1) gptq_block_rows(b, o0, o1);
}

static void gptq_run(gptq_work *k, int64_t out, int64_t in, const qf_gptq_options *opt,
                     int is_static, qf_qweight *dst, qf_cpu_pool *pool) {
    const qf_quant_params *qp = &opt->quant;
    const int64_t g = dst->group_size, bs = opt->block_size;
    gptq_block b = {k, out, in, 0, 0, qp, is_static, (1 << qp->bits) - 1, dst};
    for (int64_t i1 = 0; i1 < in; i1 += bs) {
        const int64_t cnt = in - i1 < bs ? in - i1 : bs, i2 = i1 + cnt;
        for (int64_t j = 0; j < cnt && dst->g_idx && !is_static; j++)
            dst->g_idx[k->perm[i1 + j]] = (int32_t)((i1 + j) / g);
        b.i1 = i1, b.cnt = cnt;
        if (pool) qf_cpu_pool_run(pool, gptq_block_fn, &b);
        else gptq_block_rows(&b, 0, out);
        if (i2 < in) // W[:, i2:] -= Err (out, cnt) . Hinv[i1:i2, i2:]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)(in - i2),
                        (int)cnt, -1.0f, k->err, (int)out,
                        k->hinv + (size_t)i1 * (size_t)in + (size_t)i2, (int)in, 1.0f,
                        k->wp + i2, (int)in);
    }
}

/* deq = RTN of w with static params (group i / g of the original columns): what
 * qf_quant_rtn gives, without searching the parameters (an --mse search) twice */
static void gptq_rtn_static(const float *w, int64_t out, int64_t in, const qf_qweight *p,
                            float *deq) {
    const int maxq = (1 << p->bits) - 1;
    for (int64_t o = 0; o < out; o++)
        for (int64_t c = 0; c < in; c++) {
            const size_t gi = (size_t)(c / p->group_size) * (size_t)out + (size_t)o;
            const float s = p->scales[gi];
            const int z = p->zeros[gi];
            const size_t k = (size_t)o * (size_t)in + (size_t)c;
            deq[k] = s * (float)((int)qf_quant_code(w[k], s, z, maxq) - z);
        }
}

static qf_status gptq_stats(const float *w, int64_t out, int64_t in, const qf_gptq_hessian *h,
                            const qf_gptq_options *opt, int is_static, const qf_qweight *dst,
                            qf_gptq_stats *stats) {
    float *deq = malloc((size_t)out * (size_t)in * sizeof(float));
    QF_RETURN_IF(!deq, QF_STATUS_NOMEM, "gptq: out of memory for the error statistics");
    qf_qweight rtn;
    qf_status st = QF_STATUS_OK;
    if (is_static) {
        gptq_rtn_static(w, out, in, dst, deq);
    } else if ((st = qf_quant_rtn(w, out, in, &opt->quant, &rtn)) == QF_STATUS_OK) {
        qf_qweight_dequant_ref(&rtn, deq);
        qf_qweight_free(&rtn);
    }
    if (st == QF_STATUS_OK)
        st = qf_gptq_relative_error(w, deq, out, in, h->h, &stats->rtn_error);
    if (st == QF_STATUS_OK) {
        qf_qweight_dequant_ref(dst, deq);
        st = qf_gptq_relative_error(w, deq, out, in, h->h, &stats->gptq_error);
    }
    free(deq);
    return st;
}

qf_status qf_gptq_quantize(const float *w, int64_t out, int64_t in, const qf_gptq_hessian *h,
                           const qf_gptq_options *opt, qf_qweight *dst, qf_gptq_stats *stats) {
    memset(dst, 0, sizeof *dst);
    QF_FORWARD(gptq_check(w, out, in, h, opt));
    const qf_quant_params *qp = &opt->quant;
    QF_FORWARD(qf_qweight_init(dst, qp->bits, qp->sym, out, in, qp->group_size,
                               opt->desc_act && !opt->static_groups));
    int64_t bs = opt->block_size < in ? opt->block_size : in;
    size_t nw = (size_t)out * (size_t)in, nh = (size_t)in * (size_t)in;
    size_t nb = (size_t)bs * (size_t)out;
    gptq_work k = {0};
    k.perm = malloc((size_t)in * sizeof *k.perm);
    k.wp = malloc(nw * sizeof(float));
    k.hp = malloc(nh * sizeof(float));
    k.hinv = malloc(nh * sizeof(float));
    k.w1 = malloc(nb * sizeof(float));
    k.err = malloc(nb * sizeof(float));
    k.code = malloc(nb);
    qf_status st = QF_STATUS_OK;
    if (!k.perm || !k.wp || !k.hp || !k.hinv || !k.w1 || !k.err || !k.code)
        st = qf_error_set(QF_STATUS_NOMEM, "gptq: out of memory for weight (%lld, %lld)",
                          (long long)out, (long long)in);
    qf_cpu_pool *pool = NULL; /* none: the column loop on this thread */
    if (st == QF_STATUS_OK && opt->n_threads > 1 && out >= 32)
        st = qf_cpu_pool_init(opt->n_threads, &pool);
    /* per-channel and static groups: parameters of the original W (llm-compressor's
     * observer; gptq.py does the same for per-channel) */
    int is_static = dst->n_groups == 1 || opt->static_groups;
    if (st == QF_STATUS_OK && is_static) {
        gptq_params_job j = {w, out, in, qp, dst};
        if (pool) qf_cpu_pool_run(pool, gptq_params_fn, &j);
        else gptq_params_fn(&j, 0, 1);
    }
    if (st == QF_STATUS_OK) st = gptq_prepare(w, out, in, h->h, opt->desc_act, &k);
    double damp = 0.0;
    if (st == QF_STATUS_OK)
        st = qf_gptq_factor_hinv(k.hp, in, opt->damp_percent, opt->damp_auto_increment, k.hinv,
                                 &damp);
    if (st == QF_STATUS_OK) {
        qf_gptq_options o = *opt; // the block clamped to the width
        o.block_size = bs;
        gptq_run(&k, out, in, &o, is_static, dst, pool);
        if (dst->g_idx && is_static) // act-order with one group: every column in group 0
            memset(dst->g_idx, 0, (size_t)in * sizeof(int32_t));
    }
    qf_cpu_pool_free(pool);
    gptq_work_free(&k);
    if (st == QF_STATUS_OK && stats) {
        stats->damp_percent = damp;
        st = gptq_stats(w, out, in, h, opt, is_static, dst, stats);
    }
    if (st != QF_STATUS_OK) qf_qweight_free(dst);
    return st;
}
