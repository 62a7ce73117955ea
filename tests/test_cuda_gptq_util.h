/* Shared by test_cuda_gptq_host.c (CPU) and test_cuda_gptq.c (GPU): random GPTQ
 * problems, the GPTQ fixtures of tests/fixtures/quant (llm-compressor), the option sets
 * both run, and the comparison of a GPTQ result with the CPU's (gptq/, the ground truth)
 * under the bounds below.
 *
 * Why the results may differ at all: the GPU side computes every scalar exactly as the
 * CPU does (gptq/cuda/gptq_math.h, checked bit for bit by test_cuda_gptq_host.c), but
 * its sums run in other orders (cuSOLVER's Cholesky and triangular inverse, cuBLAS's
 * SGEMM vs LAPACK / OpenBLAS). Those perturb Hinv and the propagated weights by float
 * noise. A code flips where a weight's x / s lands within that noise of a rounding
 * boundary; the flipped column then feeds an error differing by one grid step into the
 * rest of its row, so the row continues on another, equally valid trajectory (GPTQ
 * corrects it: the output error stays the same to within the spread of the rounding).
 * Hence:
 *  - scales / zeros of groups taken from the original W (static groups, per-channel,
 *    and the first group of every row: nothing is propagated yet) are bit-identical;
 *    with the MSE search CUDA's powf (<= 2 ulp from glibc's) may swap two nearly equal
 *    shrink candidates: up to GQ_PARAM_MSE_FRAC of them may differ;
 *  - codes: the perturbation is measured on the CPU by test_cuda_gptq_host.c with Hinv
 *    factored in double instead of float (a float factorization by another library is
 *    off from LAPACK's by about as much as LAPACK's is from the exact one, ~sqrt(2)
 *    times). Measured on every option set and shape of test_cuda_gptq.c (fixture,
 *    64x200 ... 512x1100): at most 0.31% of the codes differ (0.10% for in >= 1000),
 *    and the output errors by at most 1.7e-4 relative. Asserted: at most
 *    GQ_CODE_FRAC of the codes differ (3x the worst measured), or GQ_CODE_ROWS whole
 *    rows' worth on small problems (one diverged row is 1/out of the codes). Not by how
 *    much: once diverged, a row's codes differed by up to 6 steps (printed as "max");
 *  - dynamically computed group parameters move with their rows: the (group, row) pairs
 *    whose zero differs or whose scale differs by more than GQ_SCALE_REL (float noise
 *    in f32 scales is ~1e-7, a diverged row's ~1e-2) are bounded the same way (0.28%
 *    measured);
 *  - the relative output error tr((W - Q) H (W - Q)^T) / tr(W H W^T) (= |WX - QX|^2 /
 *    |WX|^2 on the calibration rows) agrees within GQ_ERR_REL (50x the worst measured:
 *    a diverged row's error is another draw of the same rounding, and on a small
 *    problem a row is a large share of the total). */
#ifndef QF_TEST_CUDA_GPTQ_UTIL_H
#define QF_TEST_CUDA_GPTQ_UTIL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/qweight.h"
#include "gptq/gptq.h"
#include "tests/test.h"

#define GQ_CODE_FRAC 0.01      /* differing codes (and moved dynamic parameters) */
#define GQ_CODE_ROWS 2         /* ... or this many rows' worth, if more */
#define GQ_SCALE_REL 1e-4      /* a dynamic scale this close is the same */
#define GQ_PARAM_MSE_FRAC 0.01 /* fixed parameters that may differ with the MSE search */
#define GQ_ERR_REL 0.01        /* |err_gpu - err_cpu| <= GQ_ERR_REL err_cpu */
#define GQ_RTN_SAME_H 1e-12    /* RTN errors through one Hessian: summation order only */
#define GQ_RTN_GPU_H 1e-6      /* ... through the GPU's float Hessian: 3.7e-8 worst, H200 */

static uint64_t gq_rng = 0x2545F4914F6CDD1Dull;

static uint64_t gq_next(void) {
    gq_rng ^= gq_rng << 13;
    gq_rng ^= gq_rng >> 7;
    gq_rng ^= gq_rng << 17;
    return gq_rng;
}

/* uniform in [-1, 1) */
static float gq_frand(void) { return (float)((gq_next() >> 40) * (1.0 / (1 << 23)) - 1.0); }

/* about N(0, 1) (sum of 3 uniforms) */
static float gq_gauss(void) { return gq_frand() + gq_frand() + gq_frand(); }

typedef struct gq_problem {
    char name[64];
    int64_t out, in, rows;
    float *w; /* (out, in) */
    float *x; /* (rows, in), NULL for the fixture (only its H is used) */
    qf_gptq_hessian h;
} gq_problem;

static void gq_problem_free(gq_problem *p) {
    free(p->w);
    free(p->x);
    qf_gptq_hessian_free(&p->h);
}

/* Activations like a linear's inputs: column scales spread over ~e^{+-2} (act-order
 * matters), neighbouring columns correlated (H far from diagonal), one dead column;
 * weights ~ N(0, 0.05^2) with a few outliers. H from two batches (the running mean). */
static gq_problem gq_random(int64_t out, int64_t in, int64_t rows) {
    gq_problem p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "random %lldx%lld", (long long)out, (long long)in);
    p.out = out, p.in = in, p.rows = rows;
    p.w = malloc((size_t)(out * in) * sizeof(float));
    p.x = malloc((size_t)(rows * in) * sizeof(float));
    float *scale = malloc((size_t)in * sizeof(float));
    for (int64_t i = 0; i < in; i++) scale[i] = expf(0.7f * gq_gauss());
    for (int64_t r = 0; r < rows; r++) {
        float prev = gq_gauss();
        for (int64_t i = 0; i < in; i++) {
            const float z = 0.6f * prev + 0.8f * gq_gauss();
            p.x[r * in + i] = i == in / 3 ? 0.0f : scale[i] * z;
            prev = z;
        }
    }
    for (int64_t k = 0; k < out * in; k++)
        p.w[k] = 0.05f * gq_gauss() * (gq_next() % 97 == 0 ? 6.0f : 1.0f);
    CHECK_OK(qf_gptq_hessian_init(&p.h, in));
    CHECK_OK(qf_gptq_hessian_add(&p.h, p.x, rows / 3));
    CHECK_OK(qf_gptq_hessian_add(&p.h, p.x + rows / 3 * in, rows - rows / 3));
    free(scale);
    return p;
}

#define GQ_FIX QF_FIXTURES_DIR "/quant/"

static void *gq_load(const char *name, size_t want) {
    char path[1024];
    snprintf(path, sizeof path, GQ_FIX "%s", name);
    FILE *f = fopen(path, "rb");
    void *buf = malloc(want ? want : 1);
    size_t got = f && buf ? fread(buf, 1, want, f) : 0;
    if (f) fclose(f);
    if (got != want) {
        fprintf(stderr, "%s: cannot read %zu bytes\n", path, want);
        exit(2);
    }
    return buf;
}

static cJSON *gq_manifest(void) {
    FILE *f = fopen(GQ_FIX "manifest.json", "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    cJSON *m = cJSON_Parse(buf);
    if (!m) {
        fprintf(stderr, "%smanifest.json: unreadable\n", GQ_FIX);
        exit(2);
    }
    return m;
}

static int gq_jint(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k)->valueint;
}
static const char *gq_jstr(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k)->valuestring;
}

/* The fixture's W and H (48 x 256, a dead column; tests/test_quant.c). */
static gq_problem gq_fixture(const cJSON *m) {
    gq_problem p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "fixture");
    p.out = gq_jint(m, "out"), p.in = gq_jint(m, "in"), p.rows = gq_jint(m, "rows");
    p.w = gq_load(gq_jstr(m, "w"), (size_t)(p.out * p.in) * 4);
    p.h.n = p.in;
    p.h.count = p.rows;
    p.h.h = gq_load(gq_jstr(m, "h"), (size_t)(p.in * p.in) * 4);
    return p;
}

/* The fixture's GPTQ cases' options (llm-compressor's: no damping increase). */
static int gq_fixture_options(const cJSON *m, qf_gptq_options *opts, const char **names,
                              int max) {
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(m, "cases")) {
        if (strcmp(gq_jstr(c, "kind"), "gptq") || n == max) continue;
        qf_gptq_options o = qf_gptq_options_default();
        o.quant.bits = gq_jint(c, "bits");
        o.quant.sym = gq_jint(c, "sym");
        o.quant.group_size = gq_jint(c, "group_size");
        o.quant.mse = gq_jint(c, "mse");
        o.quant.scale_f32 = gq_jint(c, "scale_f32");
        o.desc_act = gq_jint(c, "desc_act");
        o.static_groups = gq_jint(c, "static_groups");
        o.damp_auto_increment = 0.0;
        names[n] = gq_jstr(c, "name");
        opts[n++] = o;
    }
    return n;
}

/* The random problems' option sets: bits {4, 3, 8} x group {32, 128, per-channel} x
 * act-order x static groups, then sym, MSE, zero_min 1, f32 scales, block 64. */
static int gq_options(qf_gptq_options *opts, int max) {
    static const int bits[] = {4, 3, 8};
    static const int64_t groups[] = {32, 128, -1};
    int n = 0;
    for (int b = 0; b < 3; b++)
        for (int g = 0; g < 3; g++)
            for (int v = 0; v < 4 && n < max; v++) {
                qf_gptq_options o = qf_gptq_options_default();
                o.quant.bits = bits[b];
                o.quant.group_size = groups[g];
                o.desc_act = v & 1;
                o.static_groups = v >> 1;
                opts[n++] = o;
            }
    for (int e = 0; e < 5 && n < max; e++) {
        qf_gptq_options o = qf_gptq_options_default();
        o.desc_act = e & 1;
        if (e == 0) o.quant.sym = 1;
        if (e == 1) o.quant.mse = 1, o.quant.group_size = 64;
        if (e == 2) o.quant.zero_min = 1, o.quant.bits = 3;
        if (e == 3) o.quant.scale_f32 = 1, o.quant.sym = 1;
        if (e == 4) o.block_size = 64, o.quant.group_size = 32;
        opts[n++] = o;
    }
    return n;
}

static void gq_describe(const qf_gptq_options *o, char *buf, size_t size) {
    snprintf(buf, size, "b%d g%lld act%d static%d sym%d mse%d zmin%d f32%d bs%lld",
             o->quant.bits, (long long)o->quant.group_size, o->desc_act, o->static_groups,
             o->quant.sym, o->quant.mse, o->quant.zero_min, o->quant.scale_f32,
             (long long)o->block_size);
}

/* Observed extremes over every comparison (printed at the end). */
static double gq_worst_code_frac, gq_worst_err_rel;

/* Holds got to ref (both of problem p with options o) under the bounds above; their RTN
 * errors (the same W and grid through each side's Hessian) within rtn_rel relative:
 * GQ_RTN_SAME_H where both used one Hessian, GQ_RTN_GPU_H where got's was built on the GPU. */
static void gq_compare(const char *what, const gq_problem *p, const qf_gptq_options *o,
                       const qf_qweight *ref, const qf_gptq_stats *sr, const qf_qweight *got,
                       const qf_gptq_stats *sg, double rtn_rel) {
    char cfg[128];
    gq_describe(o, cfg, sizeof cfg);
    CHECK_MSG(got->group_size == ref->group_size && got->n_groups == ref->n_groups &&
                  !got->g_idx == !ref->g_idx,
              "%s %s %s: shape of the result", what, p->name, cfg);
    if (got->n_groups != ref->n_groups || !got->g_idx != !ref->g_idx) return;
    const int64_t out = p->out, in = p->in, ng = ref->n_groups;
    const int is_static = ng == 1 || o->static_groups;
    int64_t codes = 0, fixed_bad = 0, fixed = 0, moved = 0;
    int dmax = 0;
    for (int64_t k = 0; k < out * in; k++) {
        const int d = abs((int)got->q[k] - (int)ref->q[k]);
        codes += d != 0;
        dmax = d > dmax ? d : dmax;
    }
    for (int64_t k = 0; k < ng * out; k++) {
        const float ds = fabsf(got->scales[k] - ref->scales[k]);
        if (is_static || k < out) { /* from the original W */
            fixed++;
            fixed_bad += ds != 0.0f || got->zeros[k] != ref->zeros[k];
        } else {
            moved += ds > GQ_SCALE_REL * ref->scales[k] || got->zeros[k] != ref->zeros[k];
        }
    }
    int64_t gbad = 0;
    for (int64_t i = 0; got->g_idx && i < in; i++) gbad += got->g_idx[i] != ref->g_idx[i];
    const double frac = (double)codes / (double)(out * in);
    const double mfrac = ng * out > fixed ? (double)moved / (double)(ng * out - fixed) : 0.0;
    const double erel = fabs(sg->gptq_error - sr->gptq_error) / sr->gptq_error;
    if (frac > gq_worst_code_frac) gq_worst_code_frac = frac;
    if (erel > gq_worst_err_rel) gq_worst_err_rel = erel;
    printf("  %-9s %-16s %-52s codes %.5f (max %d) params %.5f err %.6f vs %.6f (%+.2e) "
           "damp %g\n",
           what, p->name, cfg, frac, dmax, mfrac, sg->gptq_error, sr->gptq_error, erel,
           sg->damp_percent);
    CHECK_MSG(gbad == 0, "%s %s %s: %lld g_idx differ", what, p->name, cfg, (long long)gbad);
    const double fixed_allowed = o->quant.mse ? GQ_PARAM_MSE_FRAC * (double)fixed : 0.0;
    CHECK_MSG((double)fixed_bad <= fixed_allowed, "%s %s %s: %lld of %lld fixed parameters differ",
              what, p->name, cfg, (long long)fixed_bad, (long long)fixed);
    const double rows_frac = (double)GQ_CODE_ROWS / (double)out; /* whole rows' share */
    const double allowed = GQ_CODE_FRAC > rows_frac ? GQ_CODE_FRAC : rows_frac;
    CHECK_MSG(frac <= allowed, "%s %s %s: %.4f of the codes differ", what, p->name, cfg, frac);
    CHECK_MSG(mfrac <= allowed, "%s %s %s: %.4f of the dynamic parameters differ", what,
              p->name, cfg, mfrac);
    CHECK_MSG(erel <= GQ_ERR_REL, "%s %s %s: output error %g vs %g", what, p->name, cfg,
              sg->gptq_error, sr->gptq_error);
    CHECK_MSG(sg->damp_percent == sr->damp_percent, "%s %s %s: damping %g vs %g", what,
              p->name, cfg, sg->damp_percent, sr->damp_percent);
    CHECK_MSG(fabs(sg->rtn_error - sr->rtn_error) <= rtn_rel * sr->rtn_error,
              "%s %s %s: RTN error %.17g vs %.17g", what, p->name, cfg, sg->rtn_error,
              sr->rtn_error);
}

#endif
