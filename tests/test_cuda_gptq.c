/* The GPU GPTQ (gptq/cuda/) against the CPU GPTQ (gptq/, the ground truth), on a GPU;
 * without one it prints "CUDA GPTQ: SKIPPED (no GPU: <reason>)" and exits 77 (ctest:
 * skipped).
 *  - Hessian: qf_cuda_gptq_hessian_add (cublasSsyrk, two batches) vs qf_gptq_hessian_add
 *    (OpenBLAS): both sum the same fp32 products in other orders; each entry of either is
 *    within (rows + 4) 2^-24 A_ij of the exact value, A_ij = (2 / rows) sum |x_i| |x_j|
 *    (recursive summation plus the few roundings of the running mean's scaling), so they
 *    differ by at most 2 (rows + 4) 2^-24 A_ij; the untouched lower triangle stays 0.
 *  - Quantization: both implementations on the fixture of tests/fixtures/quant (every
 *    llm-compressor GPTQ case; the GPU's codes also against the reference's, with
 *    test_quant.c's 0.1%) and on random problems (in = 200, 300, 1000, 1100: not
 *    multiples of 128; bits 4/3/8, groups 32/128/per-channel, act-order and static
 *    groups on/off, sym, MSE, zero_min, f32 scales, block 64), held to the bounds
 *    derived in tests/test_cuda_gptq_util.h: fixed parameters bit-identical, codes and
 *    moved parameters differing in <= GQ_CODE_FRAC (or GQ_CODE_ROWS rows), output error
 *    within GQ_ERR_REL, the same damping and RTN error. Also from the GPU's Hessian.
 *  - Damping: the indefinite / hopeless / singular 2x2 Hessians of test_quant.c give the
 *    same damp_percent or the same failure; a non-finite Hessian and a too wide block
 *    are refused. */
#include <stdint.h>

#include "gptq/cuda/gptq_cuda.h"
#include "runtime/cuda/cuda_kernels.h"
#include "tests/test.h"
#include "tests/test_cuda_gptq_util.h"

static double worst_h;

static float *to_device(const float *src, size_t n) {
    float *d = NULL;
    CHECK_OK(qf_cuda_malloc((void **)&d, n * sizeof(float), "test buffer"));
    CHECK_OK(qf_cuda_upload(d, src, n * sizeof(float)));
    return d;
}

/* the GPU Hessian of p's activations (same batches as gq_random) vs p's CPU one */
static void check_hessian(const gq_problem *p, qf_cuda_gptq_hessian *dh) {
    const int64_t in = p->in, rows = p->rows, m1 = rows / 3;
    float *dx = to_device(p->x, (size_t)(rows * in));
    CHECK_OK(qf_cuda_gptq_hessian_init(dh, in));
    CHECK_OK(qf_cuda_gptq_hessian_add(dh, dx, m1));
    CHECK_OK(qf_cuda_gptq_hessian_add(dh, dx + m1 * in, rows - m1));
    CHECK_OK(qf_cuda_gptq_hessian_add(dh, dx, 0));
    qf_gptq_hessian h;
    CHECK_OK(qf_gptq_hessian_init(&h, in));
    CHECK_OK(qf_cuda_gptq_hessian_download(dh, &h));
    CHECK(h.count == rows);
    int64_t bad = 0;
    for (int64_t i = 0; i < in; i++)
        for (int64_t j = 0; j < in; j++) {
            const size_t k = (size_t)(i * in + j);
            if (j < i) {
                bad += h.h[k] != 0.0f;
                continue;
            }
            double a = 0.0;
            for (int64_t r = 0; r < rows; r++)
                a += fabs((double)p->x[r * in + i] * (double)p->x[r * in + j]);
            const double tol = 2.0 * (double)(rows + 4) * ldexp(1.0, -24) * 2.0 * a / (double)rows;
            const double d = fabs((double)h.h[k] - (double)p->h.h[k]);
            if (tol > 0.0 && d / tol > worst_h) worst_h = d / tol;
            bad += d > tol;
        }
    CHECK_MSG(bad == 0, "%s: %lld Hessian entries off", p->name, (long long)bad);
    qf_gptq_hessian_free(&h);
    qf_cuda_free(dx);
}

static void run_options(const gq_problem *p, const qf_cuda_gptq_hessian *dh,
                        const qf_gptq_options *opts, int n) {
    for (int i = 0; i < n; i++) {
        qf_qweight ref, got;
        qf_gptq_stats sr, sg;
        CHECK_OK(qf_gptq_quantize(p->w, p->out, p->in, &p->h, &opts[i], &ref, &sr));
        CHECK_OK(qf_cuda_gptq_quantize(p->w, p->out, p->in, &p->h, &opts[i], &got, &sg));
        gq_compare("gpu", p, &opts[i], &ref, &sr, &got, &sg, GQ_RTN_SAME_H);
        CHECK_OK(qf_qweight_validate(&got, p->name));
        qf_qweight_free(&got);
        if (dh && (i % 4 == 0)) { /* from the GPU's Hessian: another perturbation of H */
            CHECK_OK(qf_cuda_gptq_quantize_dev(p->w, p->out, p->in, dh, &opts[i], &got, &sg));
            gq_compare("gpu-H", p, &opts[i], &ref, &sr, &got, &sg, GQ_RTN_GPU_H);
            qf_qweight_free(&got);
        }
        qf_qweight_free(&ref);
    }
}

static void test_fixture(void) {
    cJSON *m = gq_manifest();
    gq_problem fx = gq_fixture(m);
    qf_gptq_options opts[64];
    const char *names[64];
    const int n = gq_fixture_options(m, opts, names, 64);
    CHECK(n >= 5);
    run_options(&fx, NULL, opts, n);
    for (int i = 0; i < n; i++) { /* the reference's codes, as test_quant.c holds the CPU */
        qf_qweight got;
        CHECK_OK(qf_cuda_gptq_quantize(fx.w, fx.out, fx.in, &fx.h, &opts[i], &got, NULL));
        char file[128];
        snprintf(file, sizeof file, "%s.codes.u8", names[i]);
        uint8_t *codes = gq_load(file, (size_t)(fx.out * fx.in));
        int64_t bad = 0;
        for (int64_t k = 0; k < fx.out * fx.in; k++) bad += codes[k] != got.q[k];
        printf("  %-28s vs llm-compressor: %lld codes differ\n", names[i], (long long)bad);
        CHECK_MSG(bad <= fx.out * fx.in / 1000, "%s: %lld codes differ from the reference",
                  names[i], (long long)bad);
        free(codes);
        qf_qweight_free(&got);
    }
    gq_problem_free(&fx);
    cJSON_Delete(m);
}

static void test_random(void) {
    static const int64_t shapes[][2] = {{64, 200}, {96, 300}, {256, 1000}, {512, 1100}};
    qf_gptq_options opts[64];
    for (int s = 0; s < 4; s++) {
        gq_problem p = gq_random(shapes[s][0], shapes[s][1], 2 * shapes[s][1]);
        qf_cuda_gptq_hessian dh;
        check_hessian(&p, &dh);
        const int n = gq_options(opts, 64);
        run_options(&p, &dh, opts, n);
        qf_cuda_gptq_hessian_free(&dh);
        qf_cuda_gptq_hessian_free(&dh);
        gq_problem_free(&p);
    }
}

static void test_damping(void) {
    float hm[4] = {1.0f, 1.021f, 1.021f, 1.0f}; /* indefinite: needs 2.25% */
    float w[4] = {0.5f, -0.25f, 0.1f, 0.3f};
    qf_gptq_hessian h = {2, 10, hm};
    qf_gptq_options o = qf_gptq_options_default();
    o.quant.group_size = -1;
    qf_qweight q;
    qf_gptq_stats st;
    CHECK_OK(qf_cuda_gptq_quantize(w, 2, 2, &h, &o, &q, &st));
    CHECK_NEAR(st.damp_percent, 0.0225, 1e-9);
    qf_qweight_free(&q);
    o.damp_auto_increment = 0.0;
    CHECK_FAILS(qf_cuda_gptq_quantize(w, 2, 2, &h, &o, &q, &st), QF_STATUS_INVALID_ARG,
                "not positive definite");
    CHECK(q.q == NULL);
    float bad[4] = {1.0f, 3.0f, 3.0f, 1.0f};
    h.h = bad;
    o.damp_auto_increment = 0.0025;
    CHECK_FAILS(qf_cuda_gptq_quantize(w, 2, 2, &h, &o, &q, NULL), QF_STATUS_INVALID_ARG,
                "not positive definite");
    float sing[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    h.h = sing;
    CHECK_OK(qf_cuda_gptq_quantize(w, 2, 2, &h, &o, &q, &st));
    CHECK_NEAR(st.damp_percent, 0.01, 1e-12);
    qf_qweight_free(&q);
    float inf[4] = {1.0f, INFINITY, 0.0f, 1.0f};
    h.h = inf;
    CHECK_FAILS(qf_cuda_gptq_quantize(w, 2, 2, &h, &o, &q, NULL), QF_STATUS_INVALID_ARG,
                "non-finite");
    h.h = sing;
    h.n = 3;
    CHECK_FAILS(qf_cuda_gptq_quantize(w, 2, 2, &h, &o, &q, NULL), QF_STATUS_INVALID_ARG, "width");
    /* a block wider than the kernel stages (the block is clamped to in first) */
    const int64_t wide = QF_CUDA_GPTQ_MAX_BLOCK + 1;
    qf_gptq_hessian hw;
    CHECK_OK(qf_gptq_hessian_init(&hw, wide));
    hw.count = 1;
    float *ww = calloc((size_t)wide, sizeof(float));
    o.block_size = wide;
    CHECK_FAILS(qf_cuda_gptq_quantize(ww, 1, wide, &hw, &o, &q, NULL), QF_STATUS_UNSUPPORTED,
                "block_size");
    o.block_size = 128; /* the same H (all dead columns: identity after the fix) works */
    CHECK_OK(qf_cuda_gptq_quantize(ww, 1, wide, &hw, &o, &q, NULL));
    qf_qweight_free(&q);
    free(ww);
    qf_gptq_hessian_free(&hw);
}

int main(void) {
    if (qf_cuda_device_check() != QF_STATUS_OK) {
        printf("CUDA GPTQ: SKIPPED (no GPU: %s)\n", qf_error_message());
        return 77;
    }
    test_damping();
    test_fixture();
    test_random();
    printf("worst Hessian difference %.3g of its bound; worst code mismatch %.5f (bound %.2f); "
           "worst output error difference %.2e (bound %.2f)\n",
           worst_h, gq_worst_code_frac, GQ_CODE_FRAC, gq_worst_err_rel, GQ_ERR_REL);
    TEST_END();
}
