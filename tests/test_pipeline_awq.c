/* `qforge quantize --method awq / awq+gptq` end to end on tiny checkpoints whose norm
 * weights have outlier channels (the activations AWQ is for):
 *   - the artifact opens and validates as a GPTQ checkpoint; two runs are byte-identical;
 *   - the folded scales are an exact rewrite: at 8 bits the logits stay as close to the
 *     source's as RTN's do (a wrong fold moves them by the scale ratios);
 *   - at 4 bits AWQ's logits are closer to the source's than RTN's (the point of AWQ);
 *   - every searched group's block error is at most its identity (RTN) error, v -> o is
 *     searched with as many kv heads as heads and not with GQA, clipping skips q and k;
 *   - awq+gptq runs and never clips. */
#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

#include "formats/model.h"
#include "pipeline/pipeline.h"
#include "runtime/runtime.h"
#include "tests/test.h"
#include "tests/test_quantize_util.h"
#include "tests/test_pipeline_util.h"


static char tmp[] = "/tmp/qf_test_pipeline_awq_XXXXXX";
#define path_in(name) qf_test_path(tmp, name)


static qf_quantize_options small(qf_quant_method m, int bits) {
    qf_quantize_options o = qf_test_small_options(m);
    o.calib.n_samples = 8;
    o.awq.search_samples = 4;
    o.gptq.quant.bits = bits;
    return o;
}

/* Checks every layer's AWQ entries; returns how many layers searched v -> o. */
static int check_report(const char *dir, int expect_clip) {
    cJSON *j = qf_test_report(dir);
    int vo = 0, layers = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(j, "layers")) {
        layers++;
        const cJSON *awq = cJSON_GetObjectItem(l, "awq"), *g;
        CHECK(cJSON_GetObjectItem(awq, "input_layernorm->q_proj,k_proj,v_proj") != NULL);
        CHECK(cJSON_GetObjectItem(awq, "post_attention_layernorm->gate_proj,up_proj") != NULL);
        CHECK(cJSON_GetObjectItem(awq, "up_proj->down_proj") != NULL);
        vo += cJSON_GetObjectItem(awq, "v_proj->o_proj") != NULL;
        cJSON_ArrayForEach(g, awq) {
            const double e = cJSON_GetObjectItem(g, "error")->valuedouble;
            const double e0 = cJSON_GetObjectItem(g, "identity_error")->valuedouble;
            CHECK_MSG(e <= e0 && e >= 0.0, "%s: error %g > identity %g", g->string, e, e0);
        }
        const cJSON *lin = cJSON_GetObjectItem(l, "linears");
        static const char *const clipped[] = {"self_attn.v_proj", "self_attn.o_proj",
                                              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
        for (int i = 0; i < 5; i++)
            CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(lin, clipped[i]),
                                                   "awq_clipped")) == expect_clip);
        CHECK(!cJSON_GetObjectItem(cJSON_GetObjectItem(lin, "self_attn.q_proj"), "awq_clipped"));
        CHECK(!cJSON_GetObjectItem(cJSON_GetObjectItem(lin, "self_attn.k_proj"), "awq_clipped"));
    }
    CHECK(layers == 2);
    cJSON_Delete(j);
    return vo;
}


int main(void) {
    if (!mkdtemp(tmp)) return 1;
    char *mha = strdup(path_in("mha")), *gqa = strdup(path_in("gqa"));
    CHECK_OK(qf_test_make_model_kv(mha, 2, 64, 4, 1, 3));
    CHECK_OK(qf_test_make_model_kv(gqa, 2, 64, 2, 1, 4));
    int64_t vocab = 0;
    float *fp = qf_test_logits(mha, &vocab);
    if (!fp) TEST_END();

    double err[2][2]; /* [bits 8, 4][rtn, awq] */
    const int bits[2] = {8, 4};
    for (int b = 0; b < 2; b++) {
        char name[64];
        snprintf(name, sizeof name, "rtn%d", bits[b]);
        qf_quantize_options o = small(QF_QUANT_METHOD_RTN, bits[b]);
        CHECK_OK(qf_quantize_model(mha, path_in(name), &o));
        err[b][0] = qf_test_logit_error(path_in(name), fp);
        snprintf(name, sizeof name, "awq%d", bits[b]);
        o = small(QF_QUANT_METHOD_AWQ, bits[b]);
        CHECK_OK(qf_quantize_model(mha, path_in(name), &o));
        err[b][1] = qf_test_logit_error(path_in(name), fp);
        CHECK(check_report(path_in(name), 1) == 2);
        printf("W%d mean |logit - source|: rtn %.5f awq %.5f\n", bits[b], err[b][0], err[b][1]);
    }
    CHECK_MSG(err[0][1] <= 1.5 * err[0][0], "W8: awq %g vs rtn %g", err[0][1], err[0][0]);
    CHECK_MSG(err[1][1] < err[1][0], "W4: awq %g not below rtn %g", err[1][1], err[1][0]);

    /* deterministic */
    qf_quantize_options o = small(QF_QUANT_METHOD_AWQ, 4);
    CHECK_OK(qf_quantize_model(mha, path_in("awq4-again"), &o));
    char a[600], b2[600];
    snprintf(a, sizeof a, "%s/model.safetensors", path_in("awq4"));
    snprintf(b2, sizeof b2, "%s/model.safetensors", path_in("awq4-again"));
    CHECK(qf_test_same_file(a, b2));

    /* GQA: no v -> o; awq+gptq: no clipping, and it opens */
    o = small(QF_QUANT_METHOD_AWQ, 4);
    CHECK_OK(qf_quantize_model(gqa, path_in("gqa-awq"), &o));
    CHECK(check_report(path_in("gqa-awq"), 1) == 0);
    o = small(QF_QUANT_METHOD_AWQ_GPTQ, 4);
    CHECK_OK(qf_quantize_model(mha, path_in("awq-gptq"), &o));
    CHECK(check_report(path_in("awq-gptq"), 0) == 2);
    const double eg = qf_test_logit_error(path_in("awq-gptq"), fp);
    printf("W4 awq+gptq mean |logit - source| %.5f\n", eg);
    CHECK(eg < err[1][0]);

    /* the AutoAWQ GEMM layout: the same codes as GPTQ v2, so the same logits */
    o = small(QF_QUANT_METHOD_AWQ, 4);
    o.format = QF_QUANT_FORMAT_GPTQ_V2;
    CHECK_OK(qf_quantize_model(mha, path_in("awq-v2"), &o));
    o.format = QF_QUANT_FORMAT_AWQ;
    o.skip_regex = "layers\\.1\\.mlp\\.down_proj";
    CHECK_OK(qf_quantize_model(mha, path_in("awq-gemm"), &o));
    o.skip_regex = NULL;
    CHECK_OK(qf_quantize_model(mha, path_in("awq-gemm-all"), &o));
    {
        int64_t v1 = 0, v2 = 0;
        float *la = qf_test_logits(path_in("awq-v2"), &v1), *lb = qf_test_logits(path_in("awq-gemm-all"), &v2);
        int same = la && lb && v1 == v2;
        for (int64_t k = 0; same && k < QF_TEST_N_TOK * v1; k++) same = la[k] == lb[k];
        CHECK_MSG(same, "AWQ GEMM artifact and GPTQ v2 artifact of the same run differ");
        free(la), free(lb);
        char p[600], *text = NULL;
        size_t n = 0;
        snprintf(p, sizeof p, "%s/config.json", path_in("awq-gemm"));
        CHECK_OK(qf_file_read_all(p, 1u << 20, &text, &n));
        cJSON *cfg = text ? cJSON_ParseWithLength(text, n) : NULL;
        const cJSON *qc = cJSON_GetObjectItem(cfg, "quantization_config");
        const cJSON *nc = cJSON_GetObjectItem(qc, "modules_to_not_convert");
        CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(qc, "quant_method")), "awq") &&
              !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(qc, "version")), "gemm") &&
              cJSON_GetArraySize(nc) == 1 &&
              !strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(nc, 0)), "model.layers.1.mlp.down_proj"));
        cJSON_Delete(cfg);
        free(text);
        snprintf(p, sizeof p, "%s/quantize_config.json", path_in("awq-gemm"));
        CHECK(!qf_path_exists(p));
        qf_model *q = NULL;
        CHECK_OK(qf_model_open(path_in("awq-gemm"), &q));
        if (q) {
            CHECK(qf_model_find_tensor(q, "model.layers.1.mlp.down_proj.weight") != NULL);
            const qf_model_tensor *t = qf_model_find_tensor(q, "model.layers.0.mlp.up_proj.qweight");
            CHECK(t && t->ndim == 2 && t->shape[0] == 64 && t->shape[1] == 96 / 8);
            qf_model_free(q);
        }
        CHECK(qf_test_logit_error(path_in("awq-gemm"), fp) < err[1][0] * 1.5);
    }
    o = small(QF_QUANT_METHOD_AWQ, 3);
    o.format = QF_QUANT_FORMAT_AWQ;
    CHECK_FAILS(qf_quantize_model(mha, path_in("bad"), &o), QF_STATUS_UNSUPPORTED, "4-bit weights only");
    o = small(QF_QUANT_METHOD_AWQ, 4);
    o.format = QF_QUANT_FORMAT_AWQ;
    o.gptq.quant.group_size = 40; /* 64 % 40 != 0 */
    CHECK_FAILS(qf_quantize_model(mha, path_in("bad"), &o), QF_STATUS_UNSUPPORTED, "dividing");
    o = small(QF_QUANT_METHOD_GPTQ, 4);
    o.format = QF_QUANT_FORMAT_AWQ;
    o.gptq.desc_act = 1;
    CHECK_FAILS(qf_quantize_model(mha, path_in("bad"), &o), QF_STATUS_INVALID_ARG, "static-groups");
    CHECK(!qf_path_exists(path_in("bad")) && !qf_path_exists(path_in("bad.qforge-tmp")));

    /* options out of range */
    o = small(QF_QUANT_METHOD_AWQ, 4);
    o.awq.clip_max_shrink = 1.5f;
    CHECK_FAILS(qf_quantize_model(mha, path_in("bad"), &o), QF_STATUS_INVALID_ARG, "AWQ options");
    CHECK(!qf_path_exists(path_in("bad")));

    free(fp);
    free(mha);
    free(gqa);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (!qf_test_failures) CHECK(system(cmd) == 0);
    TEST_END();
}
