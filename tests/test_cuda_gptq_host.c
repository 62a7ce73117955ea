/* The CPU-checkable parts of the GPU GPTQ (gptq/cuda/), on every machine:
 *  - gptq_math.h, the scalar arithmetic the kernels run, compiled here for the host:
 *    fp16 scale rounding (every fp16 value, every midpoint and its float neighbours),
 *    group parameters (bits, sym, MSE, zero_min, f32 scales, degenerate rows) and codes
 *    bit-identical to core/quant.c; AWQ's fake quantization of a row's group (the GPU AWQ
 *    search's kernel, pipeline/cuda/awq_cuda.cu) bit-identical to qf_awq_fake_quant;
 *  - plan.c (column order with dead columns and tied diagonals, groups, g_idx, the
 *    argument checks, the statistics) against qf_gptq_quantize;
 *  - an emulation of gptq.cu's steps on the CPU (the plan, the kernels' per-row
 *    arithmetic, and cblas_sgemm with exactly the arguments gptq.cu gives cublasSgemm)
 *    with LAPACK's factor: it must reproduce qf_gptq_quantize (it checks the layouts,
 *    the group timing and the GEMM arguments that the GPU cannot be run to check here);
 *  - the same emulation with Hinv factored in double: the size of the code / error
 *    differences another float factorization causes, which the bounds of
 *    test_cuda_gptq_util.h (asserted on the GPU by test_cuda_gptq.c) are derived from. */
#include <cblas.h>
#include <lapacke.h>
#include <stdint.h>

#include "awq/awq.h"
#include "core/dtype.h"
#include "core/quant.h"
#include "gptq/cuda/gptq_math.h"
#include "gptq/cuda/plan.h"
#include "gptq/internal.h"
#include "tests/test.h"
#include "tests/test_cuda_gptq_util.h"

static void check_fp16_round(float x) {
    const float want = qf_fp16_to_fp32(qf_fp32_to_fp16(x)), got = qf_gcu_fp16_round(x);
    CHECK_MSG(got == want, "fp16 round of %a: %a, want %a", (double)x, (double)got, (double)want);
}

static void test_fp16_round(void) {
    for (uint16_t hb = 1; hb < 0x7BFF; hb++) {
        const float v = qf_fp16_to_fp32(hb), next = qf_fp16_to_fp32((uint16_t)(hb + 1));
        const float mid = 0.5f * (v + next); /* exact: one more bit than fp16 */
        check_fp16_round(v);
        check_fp16_round(mid);
        check_fp16_round(nextafterf(mid, 0.0f));
        check_fp16_round(nextafterf(mid, INFINITY));
    }
    check_fp16_round(QF_GCU_FP16_MAX);
    check_fp16_round(QF_GCU_FP16_MIN);
}

static qf_gcu_grid grid_of(const qf_quant_params *p) {
    qf_gcu_grid g = {p->bits, p->sym, p->mse, p->scale_f32, p->zero_min};
    return g;
}

/* rows of every kind, each parameter set: bit-identical scales, zeros and codes */
static void test_row_params(void) {
    static const int bits[] = {2, 3, 4, 8};
    enum { N = 64 };
    float x[N];
    int64_t bad = 0, total = 0;
    for (int kind = 0; kind < 8; kind++)
        for (int rep = 0; rep < 40; rep++) {
            const int64_t n = 1 + (int64_t)(gq_next() % N);
            const float mag = kind == 5 ? 1e-9f : (kind == 6 ? 3e5f : 0.05f);
            for (int64_t j = 0; j < n; j++) {
                x[j] = mag * gq_gauss();
                if (kind == 1) x[j] = 0.0f;                   /* all zero */
                if (kind == 2) x[j] = 0.37f;                  /* constant > 0 */
                if (kind == 3) x[j] = fabsf(x[j]);            /* no negatives */
                if (kind == 4) x[j] = -fabsf(x[j]);           /* no positives */
                if (kind == 7) x[j] = 0.01f * (float)(j % 5); /* exact ties */
            }
            for (int v = 0; v < 4 * 2 * 2 * 2 * 2; v++) {
                qf_quant_params p = {bits[v & 3], (v >> 2) & 1, n, (v >> 3) & 1, (v >> 4) & 1,
                                     (v >> 5) & 1};
                if (p.mse && rep % 4) continue; /* the search is slow-ish: every 4th row */
                const qf_gcu_grid g = grid_of(&p);
                float s_ref, s;
                uint8_t z_ref;
                int z;
                qf_quant_find_params(x, 1, n, n, &p, &s_ref, &z_ref);
                qf_gcu_row_params(x, n, &g, &s, &z);
                total++;
                if (s != s_ref || z != z_ref) {
                    if (bad++ < 5)
                        fprintf(stderr, "params kind %d n %lld v %d: %a %d, want %a %d\n", kind,
                                (long long)n, v, (double)s, z, (double)s_ref, z_ref);
                    continue;
                }
                const int maxq = (1 << p.bits) - 1;
                for (int64_t j = 0; j < n; j++) {
                    const int q = qf_gcu_code(x[j], s, z, maxq);
                    bad += q != qf_quant_code(x[j], s, z, maxq);
                    /* gptq.c's error expression, spelled as there */
                    const float dinv = 1.0f / (0.5f + (float)j);
                    bad += qf_gcu_error(x[j], s, q, z, dinv) !=
                           (x[j] - s * (float)((int)q - (int)z)) * dinv;
                }
            }
        }
    CHECK_MSG(bad == 0, "%lld of %lld parameter sets / codes differ from core/quant.c",
              (long long)bad, (long long)total);
}

/* the plan's g_idx and checks against qf_gptq_quantize's */
static void test_plan(void) {
    const int64_t out = 8, in = 40;
    gq_problem p = gq_random(out, in, 3 * in);
    /* columns 5..14 of +-1 and 20 of 0: tied diagonals (exact sums of ones; the stable
     * order matters) and a second dead column */
    for (int64_t r = 0; r < p.rows; r++)
        for (int64_t i = 5; i < 15; i++) p.x[r * in + i] = gq_next() & 1 ? 1.0f : -1.0f;
    for (int64_t r = 0; r < p.rows; r++) p.x[r * in + 20] = 0.0f;
    qf_gptq_hessian_free(&p.h);
    CHECK_OK(qf_gptq_hessian_init(&p.h, in));
    CHECK_OK(qf_gptq_hessian_add(&p.h, p.x, p.rows));
    for (int64_t g = 8; g <= 48; g += 40) {
        qf_gptq_options o = qf_gptq_options_default();
        o.desc_act = 1;
        o.quant.group_size = g;
        qf_qweight q;
        CHECK_OK(qf_gptq_quantize(p.w, out, in, &p.h, &o, &q, NULL));
        float *diag = malloc((size_t)in * sizeof(float));
        for (int64_t i = 0; i < in; i++) diag[i] = p.h.h[i * in + i];
        qf_cuda_gptq_plan plan;
        CHECK_OK(qf_cuda_gptq_plan_init(&plan, diag, in, &o));
        int32_t *g_idx = malloc((size_t)in * sizeof(int32_t));
        qf_cuda_gptq_plan_g_idx(&plan, g_idx);
        CHECK(q.g_idx && memcmp(g_idx, q.g_idx, (size_t)in * sizeof(int32_t)) == 0);
        CHECK(plan.is_static == (g >= in));
        int ties = 0;
        for (int64_t c = 1; c < in; c++) ties += plan.diag[c - 1] == plan.diag[c];
        CHECK(ties >= 9);
        for (int64_t c = 1; c < in; c++) /* descending, ties by column */
            CHECK(plan.diag[c - 1] > plan.diag[c] ||
                  (plan.diag[c - 1] == plan.diag[c] && plan.perm[c - 1] < plan.perm[c]));
        qf_cuda_gptq_plan_free(&plan);
        qf_cuda_gptq_plan_free(&plan);
        free(g_idx);
        free(diag);
        qf_qweight_free(&q);
    }
    qf_gptq_options o = qf_gptq_options_default();
    float w[2] = {1.0f, NAN};
    CHECK_FAILS(qf_cuda_gptq_check(w, 1, 2, 1, &o), QF_STATUS_INVALID_ARG, "not finite");
    CHECK_FAILS(qf_cuda_gptq_check(w, 1, 1, 0, &o), QF_STATUS_INVALID_ARG, "no calibration");
    o.damp_percent = 1.0;
    CHECK_FAILS(qf_cuda_gptq_check(w, 1, 1, 1, &o), QF_STATUS_INVALID_ARG, "damp_percent");
    gq_problem_free(&p);
}

/* hinv = upper factor of the damped inverse in double (LAPACK d*), rounded to float;
 * 0 when no damping < 1 works (qf_gptq_factor_hinv's retry), else 1 */
static int factor_double(const float *hp, int64_t n, const qf_gptq_options *o, double mean,
                         float *hinv, double *damp_used) {
    double *a = malloc((size_t)(n * n) * sizeof(double));
    double pc = o->damp_percent;
    for (;;) {
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j < n; j++) a[i * n + j] = hp[(n - 1 - i) * n + (n - 1 - j)];
            a[i * n + i] += pc * mean;
        }
        lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, a, (lapack_int)n);
        if (!info)
            info = LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', (lapack_int)n, a, (lapack_int)n);
        if (!info) break;
        if (!(o->damp_auto_increment > 0.0 && pc + o->damp_auto_increment < 1.0)) {
            free(a);
            return 0;
        }
        pc += o->damp_auto_increment;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            hinv[i * n + j] = j >= i ? (float)a[(n - 1 - j) * n + (n - 1 - i)] : 0.0f;
    free(a);
    *damp_used = pc;
    return 1;
}

/* gptq.cu's qf_cuda_gptq_quantize, step by step, on the CPU (see the top) */
static void emulate(const gq_problem *pb, const qf_gptq_options *o, int dbl, qf_qweight *dst,
                    qf_gptq_stats *st) {
    const int64_t out = pb->out, in = pb->in, bs = o->block_size < in ? o->block_size : in;
    const float *h = pb->h.h;
    const qf_quant_params *qp = &o->quant;
    const qf_gcu_grid grid = grid_of(qp);
    const int maxq = (1 << qp->bits) - 1;
    CHECK_OK(qf_cuda_gptq_check(pb->w, out, in, pb->h.count, o));
    CHECK_OK(qf_qweight_init(dst, qp->bits, qp->sym, out, in, qp->group_size,
                             o->desc_act && !o->static_groups));
    float *diag = malloc((size_t)in * 4), *wp = malloc((size_t)(out * in) * 4);
    float *hp = malloc((size_t)(in * in) * 4), *hinv = malloc((size_t)(in * in) * 4);
    float *err = malloc((size_t)(out * bs) * 4), *tile = malloc((size_t)bs * 4);
    for (int64_t i = 0; i < in; i++) diag[i] = h[i * in + i];
    qf_cuda_gptq_plan p;
    CHECK_OK(qf_cuda_gptq_plan_init(&p, diag, in, o));
    const int64_t g = p.group_size;
    for (int64_t k = 0; k < out * in; k++) { /* qf_gcu_gather_w */
        const int64_t pc = p.perm[k % in];
        wp[k] = h[pc * in + pc] == 0.0f ? 0.0f : pb->w[k / in * in + pc];
    }
    for (int64_t gi = 0; p.is_static && gi < p.n_groups; gi++) /* qf_gcu_params */
        for (int64_t r = 0; r < out; r++) {
            int z;
            const int64_t c0 = gi * g;
            qf_gcu_row_params(pb->w + r * in + c0, in - c0 < g ? in - c0 : g, &grid,
                              &dst->scales[gi * out + r], &z);
            dst->zeros[gi * out + r] = (uint8_t)z;
        }
    for (int64_t i = 0; i < in; i++) /* qf_gcu_build_a without the reversal and damping */
        for (int64_t j = 0; j < in; j++) {
            const int64_t a = p.perm[i] < p.perm[j] ? p.perm[i] : p.perm[j];
            const int64_t b = p.perm[i] < p.perm[j] ? p.perm[j] : p.perm[i];
            hp[i * in + j] = i == j ? p.diag[i] : h[a * in + b];
        }
    double damp = 0.0;
    if (dbl) CHECK(factor_double(hp, in, o, p.mean, hinv, &damp));
    else
        CHECK_OK(qf_gptq_factor_hinv(hp, in, o->damp_percent, o->damp_auto_increment, hinv,
                                     &damp));
    for (int64_t i1 = 0; i1 < in; i1 += bs) { /* gcu_run */
        const int64_t cnt = in - i1 < bs ? in - i1 : bs, i2 = i1 + cnt;
        for (int64_t c = (i1 + g - 1) / g * g; !p.is_static && c < i2; c += g)
            for (int64_t r = 0; r < out; r++) {
                int z;
                qf_gcu_row_params(wp + r * in + c, in - c < g ? in - c : g, &grid,
                                  &dst->scales[c / g * out + r], &z);
                dst->zeros[c / g * out + r] = (uint8_t)z;
            }
        for (int64_t r = 0; r < out; r++) { /* gcu_block_kernel, one row at a time */
            memcpy(tile, wp + r * in + i1, (size_t)cnt * 4);
            for (int64_t j = 0; j < cnt; j++) {
                const int64_t c = i1 + j, gi = (int64_t)p.group[c] * out + r;
                const float *hrow = hinv + c * in + i1, s = dst->scales[gi];
                const int z = dst->zeros[gi], q = qf_gcu_code(tile[j], s, z, maxq);
                dst->q[r * in + p.perm[c]] = (uint8_t)q;
                const float e = tile[j] = qf_gcu_error(tile[j], s, q, z, 1.0f / hrow[j]);
                for (int64_t t = j + 1; t < cnt; t++) tile[t] = tile[t] - e * hrow[t];
            }
            memcpy(err + r * cnt, tile, (size_t)cnt * 4);
        }
        if (i2 < in) /* cublasSgemm's arguments, column-major */
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)(in - i2), (int)out,
                        (int)cnt, -1.0f, hinv + i1 * in + i2, (int)in, err, (int)cnt, 1.0f,
                        wp + i2, (int)in);
    }
    if (dst->g_idx) qf_cuda_gptq_plan_g_idx(&p, dst->g_idx);
    CHECK_OK(qf_cuda_gptq_stats(pb->w, out, in, h, o, dst, st));
    st->damp_percent = damp;
    qf_cuda_gptq_plan_free(&p);
    free(diag), free(wp), free(hp), free(hinv), free(err), free(tile);
}

static void run_problem(const gq_problem *p, const qf_gptq_options *opts, int n,
                        double *worst_dbl) {
    for (int i = 0; i < n; i++) {
        qf_qweight ref, emu, dbl;
        qf_gptq_stats sr, se, sd;
        CHECK_OK(qf_gptq_quantize(p->w, p->out, p->in, &p->h, &opts[i], &ref, &sr));
        emulate(p, &opts[i], 0, &emu, &se);
        emulate(p, &opts[i], 1, &dbl, &sd);
        /* LAPACK's factor: the emulation is the CPU GPTQ (OpenBLAS may sum the GEMM in
         * another order for the other layout: then the bounds apply) */
        const double before = gq_worst_code_frac;
        gq_compare("emulated", p, &opts[i], &ref, &sr, &emu, &se, GQ_RTN_SAME_H);
        gq_worst_code_frac = before;
        const int64_t nq = p->out * p->in;
        CHECK_MSG(memcmp(ref.q, emu.q, (size_t)nq) == 0, "%s option set %d: emulation's codes",
                  p->name, i);
        /* double factor: the perturbation the bounds are derived from */
        gq_compare("dbl-hinv", p, &opts[i], &ref, &sr, &dbl, &sd, GQ_RTN_SAME_H);
        if (gq_worst_code_frac > *worst_dbl) *worst_dbl = gq_worst_code_frac;
        qf_qweight_free(&ref), qf_qweight_free(&emu), qf_qweight_free(&dbl);
    }
}

/* qf_gcu_fake_quant_group over every (row, group) = qf_awq_fake_quant, bit for bit, for
 * asymmetric 4-bit g32 with GPTQ v1's zero >= 1, symmetric 3-bit per-channel, 8-bit g48
 * with f32 scales; random scales, short last groups (100 = 3 x 32 + 4 = 2 x 48 + 4). */
static void test_awq_fake_quant(void) {
    const qf_quant_params ps[3] = {{.bits = 4, .sym = 0, .group_size = 32, .zero_min = 1},
                                   {.bits = 3, .sym = 1, .group_size = -1},
                                   {.bits = 8, .sym = 0, .group_size = 48, .scale_f32 = 1}};
    enum { OUT = 40, IN = 100 };
    static float w[OUT * IN], s[IN], want[OUT * IN], got[OUT * IN];
    uint64_t x = 88172645463325252ull;
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < OUT * IN + IN; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const float u = (float)((x >> 40) * (1.0 / (1 << 24)));
            if (i < OUT * IN) w[i] = u - 0.5f;
            else s[i - OUT * IN] = 0.1f + 1.8f * u;
        }
        CHECK_OK(qf_awq_fake_quant(w, OUT, IN, s, &ps[k], want));
        const qf_gcu_grid g = {ps[k].bits, ps[k].sym, 0, ps[k].scale_f32, ps[k].zero_min};
        const int64_t gs = ps[k].group_size < 0 ? IN : ps[k].group_size;
        for (int64_t o = 0; o < OUT; o++)
            for (int64_t c0 = 0; c0 < IN; c0 += gs)
                qf_gcu_fake_quant_group(w + o * IN + c0, s + c0, IN - c0 < gs ? IN - c0 : gs, &g,
                                        got + o * IN + c0);
        int differ = 0;
        for (int i = 0; i < OUT * IN; i++) differ += memcmp(&got[i], &want[i], 4) != 0;
        CHECK_MSG(differ == 0, "AWQ fake quant %d: %d of %d values differ", k, differ, OUT * IN);
    }
}

int main(void) {
    test_fp16_round();
    test_awq_fake_quant();
    test_row_params();
    test_plan();
    double worst_dbl = 0.0;
    cJSON *m = gq_manifest();
    gq_problem fx = gq_fixture(m);
    qf_gptq_options opts[64];
    const char *names[64];
    int n = gq_fixture_options(m, opts, names, 64);
    CHECK(n >= 5);
    run_problem(&fx, opts, n, &worst_dbl);
    gq_problem_free(&fx);
    cJSON_Delete(m);
    static const int64_t shapes[][2] = {{64, 200}, {96, 300}, {128, 520}};
    for (int s = 0; s < 3; s++) {
        gq_problem p = gq_random(shapes[s][0], shapes[s][1], 2 * shapes[s][1]);
        n = gq_options(opts, s == 0 ? 64 : 12 + 8 * s);
        run_problem(&p, opts, n, &worst_dbl);
        gq_problem_free(&p);
    }
    printf("double-factor perturbation: worst code mismatch %.5f (bound %.2f), worst output "
           "error difference %.2e (bound %.2f)\n",
           worst_dbl, GQ_CODE_FRAC, gq_worst_err_rel, GQ_ERR_REL);
    TEST_END();
}
