/* quantize --device cuda (qf_quantize_options.gptq_cuda: the calibration passes, AWQ's
 * scale search, Hessians and GPTQ solves on the GPU). Everywhere: refused for rtn,
 * smoothquant and W8A8; refused cleanly where it cannot run (built without CUDA, or no
 * usable GPU) with the reason, leaving nothing at OUTDIR. On a GPU: GPTQ, AWQ+GPTQ and AWQ
 * on a tiny random Llama (3 layers, hidden 64) from the GPU (fp32 and tf32) and from the
 * CPU; the report's per-linear numbers are held to each other: RTN errors (the same
 * weights through Hessians of the GPU's activations: fp32 1e-3 relative, as the first
 * divergent rounding moves later layers' inputs; tf32 1e-2, its products carry 11
 * significant bits) and GPTQ output errors (fp32 2%: tests/test_cuda_gptq_util.h's 1% per
 * solve and two layers of drift; tf32 5%; awq, RTN after the transform: the weight
 * errors, 2%); AWQ's search on layer 0: each group's block-output loss with and without
 * its scales within 1e-4 (tf32 1e-2) of the CPU's; the params record "device": "cuda"
 * and the precision, and both artifacts open. Without a GPU the GPU half prints SKIPPED
 * and the test exits 77 after the refusals passed. */
#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

#include "formats/model.h"
#include "pipeline/pipeline.h"
#include "tests/test.h"
#include "tests/test_pipeline_util.h"
#include "tests/test_quantize_util.h"

static char tmp[] = "/tmp/qf_test_pipeline_device_XXXXXX";
#define path_in(name) qf_test_path(tmp, name)

static qf_quantize_options small(qf_quant_method m) {
    qf_quantize_options o = qf_test_small_options(m);
    o.gptq_cuda = 1;
    return o;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* GPU run (tf32 or fp32) vs CPU run of method m: per-linear errors within rtn_tol and
 * gptq_tol relative, the recorded device and precision. */
static void compare_devices(const char *model, qf_quant_method m, const char *tag, int tf32,
                            double rtn_tol, double gptq_tol) {
    char g[64], c[64];
    snprintf(g, sizeof g, "%s-gpu-%s", tag, tf32 ? "tf32" : "fp32");
    snprintf(c, sizeof c, "%s-cpu-%s", tag, tf32 ? "tf32" : "fp32");
    const char *gd = strdup(path_in(g)), *cd = strdup(path_in(c));
    qf_quantize_options o = small(m);
    o.gpu_tf32 = tf32;
    CHECK_OK(qf_quantize_model(model, gd, &o));
    o.gptq_cuda = 0;
    CHECK_OK(qf_quantize_model(model, cd, &o));
    cJSON *jg = qf_test_report(gd), *jc = qf_test_report(cd);
    const cJSON *pg = cJSON_GetObjectItem(jg, "params"), *pc = cJSON_GetObjectItem(jc, "params");
    CHECK(cJSON_IsString(cJSON_GetObjectItem(pg, "device")) &&
          !strcmp(cJSON_GetObjectItem(pg, "device")->valuestring, "cuda"));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(pg, "gpu_precision")) &&
          !strcmp(cJSON_GetObjectItem(pg, "gpu_precision")->valuestring, tf32 ? "tf32" : "fp32"));
    CHECK(cJSON_GetObjectItem(pc, "device") == NULL);
    int n = 0;
    double worst = 0.0;
    const cJSON *lg = cJSON_GetObjectItem(jg, "layers")->child;
    const cJSON *lc = cJSON_GetObjectItem(jc, "layers")->child;
    for (; lg && lc; lg = lg->next, lc = lc->next) {
        const cJSON *a = cJSON_GetObjectItem(lg, "linears")->child;
        const cJSON *b = cJSON_GetObjectItem(lc, "linears")->child;
        for (; a && b; a = a->next, b = b->next, n++) {
            if (m == QF_QUANT_METHOD_AWQ) { /* RTN after the transform: the weights' error */
                const double wg = num(a, "weight_error"), wc = num(b, "weight_error");
                CHECK_MSG(fabs(wg - wc) <= gptq_tol * wc, "%s %s: weight error %g vs %g", g,
                          a->string, wg, wc);
                worst = fmax(worst, fabs(wg - wc) / wc);
                continue;
            }
            const double eg = num(a, "gptq_error"), ec = num(b, "gptq_error");
            const double rg = num(a, "rtn_error"), rc = num(b, "rtn_error");
            CHECK_MSG(fabs(rg - rc) <= rtn_tol * rc, "%s %s: RTN error %g vs %g", g, a->string,
                      rg, rc);
            CHECK_MSG(fabs(eg - ec) <= gptq_tol * ec, "%s %s: GPTQ error %g (GPU) vs %g (CPU)",
                      g, a->string, eg, ec);
            worst = fmax(worst, fabs(eg - ec) / ec);
        }
    }
    CHECK_MSG(n == 3 * 7, "%s: %d linears compared", tag, n);
    /* AWQ's search on layer 0 (the same embeddings on both sides): every group's loss, with
     * and without its chosen scales, as the CPU's (fp32: GEMM sums in another order) */
    const cJSON *ag = cJSON_GetObjectItem(cJSON_GetObjectItem(jg, "layers")->child, "awq");
    const cJSON *ac = cJSON_GetObjectItem(cJSON_GetObjectItem(jc, "layers")->child, "awq");
    CHECK((ag == NULL) == !qf_quant_method_awq(m) && (ac == NULL) == (ag == NULL));
    for (const cJSON *a = ag ? ag->child : NULL; a; a = a->next) {
        const cJSON *b = cJSON_GetObjectItem(ac, a->string);
        const double tol = tf32 ? 1e-2 : 1e-4;
        CHECK_MSG(b && fabs(num(a, "identity_error") - num(b, "identity_error")) <=
                           tol * num(b, "identity_error") &&
                      fabs(num(a, "error") - num(b, "error")) <= tol * num(b, "error"),
                  "%s layer 0 AWQ %s: errors %g / %g (GPU) vs %g / %g (CPU)", g, a->string,
                  num(a, "identity_error"), num(a, "error"), b ? num(b, "identity_error") : NAN,
                  b ? num(b, "error") : NAN);
    }
    printf("%s: %d linears, worst GPTQ (awq: weight) error difference %.2e relative\n", g, n,
           worst);
    qf_model *q = NULL;
    CHECK_OK(qf_model_open(gd, &q));
    qf_model_free(q);
    cJSON_Delete(jg);
    cJSON_Delete(jc);
    free((void *)gd);
    free((void *)cd);
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    char *model = strdup(path_in("model"));
    CHECK_OK(qf_test_make_model(model, 3, 64, 1));
    const char *out = path_in("out");
    static const qf_quant_method no_gptq[] = {QF_QUANT_METHOD_RTN, QF_QUANT_METHOD_SMOOTHQUANT};
    for (size_t i = 0; i < sizeof no_gptq / sizeof *no_gptq; i++) {
        qf_quantize_options o = small(no_gptq[i]);
        if (no_gptq[i] == QF_QUANT_METHOD_SMOOTHQUANT) {
            o.format = QF_QUANT_FORMAT_W8A8;
            o.gptq.quant.bits = 8, o.gptq.quant.sym = 1, o.gptq.quant.group_size = -1;
        }
        CHECK_FAILS(qf_quantize_model(model, out, &o), QF_STATUS_INVALID_ARG,
                    "only gptq, awq and awq+gptq");
        CHECK(!qf_path_exists(out));
    }
    qf_quantize_options w8 = small(QF_QUANT_METHOD_GPTQ); /* GPTQ-rounded W8A8 */
    w8.format = QF_QUANT_FORMAT_W8A8;
    w8.gptq.quant.bits = 8, w8.gptq.quant.sym = 1, w8.gptq.quant.group_size = -1;
    CHECK_FAILS(qf_quantize_model(model, out, &w8), QF_STATUS_INVALID_ARG, "W8A8");
    CHECK(!qf_path_exists(out));
    qf_quantize_options o = small(QF_QUANT_METHOD_GPTQ);
    const qf_status st = qf_quantize_model(model, out, &o);
    char why[512] = "";
    if (st != QF_STATUS_OK) {
        snprintf(why, sizeof why, "%s", qf_error_message());
        CHECK_MSG(strstr(why, "--device cuda: ") != NULL, "message: %s", why);
        CHECK(!qf_path_exists(out) && !qf_path_exists(path_in("out.qforge-tmp")));
    } else {
        compare_devices(model, QF_QUANT_METHOD_GPTQ, "gptq", 0, 1e-3, 2e-2);
        compare_devices(model, QF_QUANT_METHOD_AWQ_GPTQ, "awq+gptq", 0, 1e-3, 2e-2);
        compare_devices(model, QF_QUANT_METHOD_AWQ, "awq", 0, 1e-3, 2e-2);
        compare_devices(model, QF_QUANT_METHOD_GPTQ, "gptq", 1, 1e-2, 5e-2);
        compare_devices(model, QF_QUANT_METHOD_AWQ_GPTQ, "awq+gptq", 1, 1e-2, 5e-2);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (!qf_test_failures) CHECK(system(cmd) == 0);
    free(model);
    if (st != QF_STATUS_OK) printf("quantize --device cuda: refused here (%s)\n", why);
#ifdef QF_HAVE_CUDA
    if (st != QF_STATUS_OK && qf_test_failures == 0) {
        printf("%d checks, 0 failed; the GPU comparison SKIPPED (no GPU)\n", qf_test_checks);
        return 77;
    }
#endif
    TEST_END();
}
