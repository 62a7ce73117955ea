/* GPTQ format: our unpack of GPTQModel-packed tensors gives the codes the fixture script
 * chose, our pack of those codes is byte-identical to GPTQModel's tensors (v1 and v2),
 * checkpoints open through qf_model, and the writer + reader round-trip every
 * bits / group / format combination (fixtures/scripts/make_gptq_fixtures.py). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/qweight.h"
#include "formats/gptq.h"
#include "formats/model.h"
#include "formats/safetensors.h"
#include "test.h"
#include "test_hf_util.h"

#define GPTQ_FIX QF_FIXTURES_DIR "/gptq"

static const char *const fixture_names[] = {"w4_g32_v1_act", "w4_pc_sym_v1", "w8_g64_v2",
                                            "w3_g32_v1", "w2_g32_v2"};

static const qf_st_tensor *find(const qf_st_file *f, const char *prefix, const char *suffix) {
    char name[256];
    int n = snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    if (n < 0 || (size_t)n >= sizeof name) return NULL;
    return qf_st_find(f, name, (size_t)n);
}

/* One fixture linear: unpack == expected codes; pack(expected) == consumer bytes. */
static void check_linear(const char *fx, const qf_gptq_config *c, const qf_st_file *model,
                         const qf_st_file *exp, const char *prefix) {
    const qf_st_tensor *eq = find(exp, prefix, "q"), *ez = find(exp, prefix, "zeros");
    const qf_st_tensor *es = find(exp, prefix, "scales"), *eg = find(exp, prefix, "g_idx");
    const qf_st_tensor *qw = find(model, prefix, "qweight"), *qz = find(model, prefix, "qzeros");
    const qf_st_tensor *sc = find(model, prefix, "scales"), *gi = find(model, prefix, "g_idx");
    CHECK_MSG(eq && ez && es && eg && qw && qz && sc && gi, "%s %s: tensors missing", fx, prefix);
    if (!(eq && ez && es && eg && qw && qz && sc && gi)) return;
    int skip = 0, bits = 0;
    int64_t group = 0;
    CHECK_OK(qf_gptq_config_for_module(c, prefix, &skip, &bits, &group));
    CHECK(!skip);
    int64_t out = eq->shape[0], in = eq->shape[1];
    qf_qweight q;
    CHECK_OK(qf_qweight_init(&q, bits, c->sym, out, in, group, 0));
    CHECK_OK(qf_gptq_unpack(qw->data, qz->data, sc->data, gi->data, c->format, &q, prefix));
    CHECK_MSG(memcmp(q.q, eq->data, (size_t)(out * in)) == 0, "%s %s: codes differ", fx, prefix);
    size_t np = (size_t)(q.n_groups * out);
    CHECK_MSG(memcmp(q.zeros, ez->data, np) == 0, "%s %s: zeros differ", fx, prefix);
    CHECK_MSG(memcmp(q.scales, es->data, np * 4) == 0, "%s %s: scales differ", fx, prefix);
    const int32_t *g = eg->data;
    int g_ok = 1;
    for (int64_t i = 0; i < in; i++)
        g_ok &= (q.g_idx ? q.g_idx[i] : (int32_t)(i / q.group_size)) == g[i];
    CHECK_MSG(g_ok, "%s %s: g_idx differs", fx, prefix);
    /* our pack of the same values gives the consumer's bytes */
    int32_t *pw = malloc(qw->end - qw->begin), *pz = malloc(qz->end - qz->begin);
    uint16_t *ps = malloc(sc->end - sc->begin);
    int32_t *pg = malloc(gi->end - gi->begin);
    CHECK_OK(qf_gptq_pack(&q, c->format, pw, pz, ps, pg));
    CHECK_MSG(memcmp(pw, qw->data, qw->end - qw->begin) == 0, "%s %s: qweight bytes", fx, prefix);
    CHECK_MSG(memcmp(pz, qz->data, qz->end - qz->begin) == 0, "%s %s: qzeros bytes", fx, prefix);
    CHECK_MSG(memcmp(ps, sc->data, sc->end - sc->begin) == 0, "%s %s: scales bytes", fx, prefix);
    CHECK_MSG(memcmp(pg, gi->data, gi->end - gi->begin) == 0, "%s %s: g_idx bytes", fx, prefix);
    free(pw);
    free(pz);
    free(ps);
    free(pg);
    qf_qweight_free(&q);
}

static void test_fixture(const char *fx) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s", GPTQ_FIX, fx);
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    char *json = hf_read_text(path, NULL);
    qf_gptq_config c;
    CHECK_OK(qf_gptq_config_parse(json, path, &c));
    free(json);
    qf_st_file *model = NULL, *exp = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_OK(qf_st_open(path, &model));
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    CHECK_OK(qf_st_open(path, &exp));
    size_t n_lin = 0;
    for (size_t i = 0; model && exp && i < qf_st_count(exp); i++) {
        const qf_st_tensor *t = qf_st_get(exp, i);
        size_t len = strlen(t->name);
        if (len < 2 || strcmp(t->name + len - 2, ".q") != 0) continue;
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 2), t->name);
        check_linear(fx, &c, model, exp, prefix);
        n_lin++;
    }
    CHECK_MSG(n_lin >= 10, "%s: only %zu linears", fx, n_lin);
    /* the whole checkpoint opens and reads through qf_model */
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(dir, &m));
    if (m && exp) {
        CHECK(m->quant_config_json != NULL);
        const char *prefix = "model.layers.1.mlp.down_proj";
        qf_qweight q;
        float *bias = NULL;
        CHECK(qf_gptq_model_has(m, prefix));
        CHECK_OK(qf_gptq_model_read(m, prefix, &q, &bias));
        const qf_st_tensor *eq = find(exp, prefix, "q");
        CHECK(bias == NULL && eq && memcmp(q.q, eq->data, (size_t)(q.out * q.in)) == 0);
        qf_qweight_free(&q);
    }
    qf_model_free(m);
    qf_st_close(model);
    qf_st_close(exp);
    qf_gptq_config_free(&c);
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void fill_random(qf_qweight *q, int v1, int act) {
    int maxq = (1 << q->bits) - 1;
    for (int64_t k = 0; k < q->out * q->in; k++) q->q[k] = (uint8_t)(rnd() % (uint32_t)(maxq + 1));
    for (int64_t k = 0; k < q->n_groups * q->out; k++) {
        q->zeros[k] = q->sym ? (uint8_t)(1 << (q->bits - 1))
                             : (uint8_t)(v1 ? 1 + rnd() % (uint32_t)maxq : rnd() % (uint32_t)(maxq + 1));
        q->scales[k] = qf_fp16_to_fp32(qf_fp32_to_fp16(0.001f + (float)(rnd() % 1000) * 1e-5f));
    }
    if (act && q->g_idx)
        for (int64_t i = 0; i < q->in; i++) q->g_idx[i] = (int32_t)((i * 7 + 3) % q->in / q->group_size);
}

/* Writer -> safetensors file -> reader, every combination. */
static void test_roundtrip(const char *tmp) {
    static const int bits_list[] = {2, 3, 4, 8};
    static const int64_t groups[] = {-1, 32, 64};
    char path[600];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmp);
    for (int b = 0; b < 4; b++)
        for (int gs = 0; gs < 3; gs++)
            for (int fmt = 0; fmt < 2; fmt++)
                for (int act = 0; act < 2; act++)
                    for (int sym = 0; sym < 2; sym++) {
                        qf_qweight q, r;
                        int64_t out = 64, in = 128;
                        CHECK_OK(qf_qweight_init(&q, bits_list[b], sym, out, in, groups[gs], act));
                        fill_random(&q, fmt == 0, act);
                        float bias[64];
                        for (int o = 0; o < 64; o++) bias[o] = (float)o * 0.25f;
                        qf_st_writer *w = NULL;
                        CHECK_OK(qf_st_writer_open(path, 1, &w));
                        CHECK_OK(qf_gptq_declare(w, "l", q.bits, out, in, groups[gs], 1));
                        CHECK_OK(qf_st_writer_write_header(w));
                        CHECK_OK(qf_gptq_write(w, "l", &q, bias, (qf_gptq_format)fmt));
                        CHECK_OK(qf_st_writer_finish(w));
                        qf_st_file *f = NULL;
                        CHECK_OK(qf_st_open(path, &f));
                        if (!f) continue;
                        CHECK_OK(qf_qweight_init(&r, q.bits, sym, out, in, groups[gs], 0));
                        CHECK_OK(qf_gptq_unpack(find(f, "l", "qweight")->data,
                                                find(f, "l", "qzeros")->data,
                                                find(f, "l", "scales")->data,
                                                find(f, "l", "g_idx")->data, (qf_gptq_format)fmt,
                                                &r, "rt"));
                        int same = memcmp(q.q, r.q, (size_t)(out * in)) == 0 &&
                                   memcmp(q.zeros, r.zeros, (size_t)(q.n_groups * out)) == 0 &&
                                   memcmp(q.scales, r.scales, (size_t)(q.n_groups * out) * 4) == 0 &&
                                   (!act || groups[gs] == -1
                                        ? 1
                                        : (r.g_idx && memcmp(q.g_idx, r.g_idx, (size_t)in * 4) == 0));
                        CHECK_MSG(same, "round trip bits %d group %lld fmt %d act %d sym %d",
                                  q.bits, (long long)groups[gs], fmt, act, sym);
                        qf_st_close(f);
                        qf_qweight_free(&q);
                        qf_qweight_free(&r);
                    }
}

static void test_bad_pack(void) {
    qf_qweight q;
    CHECK_OK(qf_qweight_init(&q, 4, 0, 32, 64, 32, 0));
    fill_random(&q, 1, 0);
    int32_t qw[8 * 32], qz[2 * 4], gi[64];
    uint16_t sc[2 * 32];
    q.zeros[5] = 0;
    CHECK_FAILS(qf_gptq_pack(&q, QF_GPTQ_FORMAT_V1, qw, qz, sc, gi), QF_STATUS_UNSUPPORTED,
                "gptq_v2");
    CHECK_OK(qf_gptq_pack(&q, QF_GPTQ_FORMAT_V2, qw, qz, sc, gi));
    /* unpack: g_idx out of range, scale 0 and NaN */
    qf_qweight r;
    CHECK_OK(qf_qweight_init(&r, 4, 0, 32, 64, 32, 0));
    gi[3] = 7;
    CHECK_FAILS(qf_gptq_unpack(qw, qz, sc, gi, QF_GPTQ_FORMAT_V2, &r, "bad"), QF_STATUS_FORMAT,
                "g_idx[3] = 7");
    gi[3] = 0;
    sc[9] = 0;
    CHECK_FAILS(qf_gptq_unpack(qw, qz, sc, gi, QF_GPTQ_FORMAT_V2, &r, "bad"), QF_STATUS_FORMAT,
                "scale");
    sc[9] = 0x7e00; /* NaN */
    CHECK_FAILS(qf_gptq_unpack(qw, qz, sc, gi, QF_GPTQ_FORMAT_V2, &r, "bad"), QF_STATUS_FORMAT,
                "scale");
    qf_qweight_free(&r);
    /* shapes that cannot be packed */
    CHECK_OK(qf_qweight_init(&r, 3, 0, 32, 48, 16, 0));
    CHECK_FAILS(qf_gptq_pack(&r, QF_GPTQ_FORMAT_V2, qw, qz, sc, gi), QF_STATUS_UNSUPPORTED,
                "multiples of 32");
    qf_qweight_free(&r);
    qf_qweight_free(&q);
}

static void test_config(void) {
    qf_gptq_config c;
    /* AutoGPTQ's quantize_config.json (no quant_method / checkpoint_format) */
    CHECK_OK(qf_gptq_config_parse("{\"bits\": 4, \"group_size\": 128, \"damp_percent\": 0.01, "
                                  "\"desc_act\": true, \"static_groups\": false, \"sym\": true, "
                                  "\"true_sequential\": true, \"model_name_or_path\": null, "
                                  "\"model_file_base_name\": \"model\", \"is_marlin_format\": false}",
                                  "autogptq.json", &c));
    CHECK(c.bits == 4 && c.group_size == 128 && c.desc_act && c.sym &&
          c.format == QF_GPTQ_FORMAT_V1);
    qf_gptq_config_free(&c);
    /* GPTQModel's form with dynamic */
    CHECK_OK(qf_gptq_config_parse(
        "{\"bits\": 4, \"group_size\": 32, \"quant_method\": \"gptq\", \"checkpoint_format\": "
        "\"gptq_v2\", \"sym\": false, \"dynamic\": {\"-:.*\\\\.o_proj\": {}, "
        "\"+:.*\\\\.mlp\\\\..*\": {\"bits\": 8, \"group_size\": 64}}, \"meta\": {\"quantizer\": "
        "[\"gptqmodel:7.7.0\"]}}",
        "gptqmodel.json", &c));
    int skip, bits;
    int64_t g;
    CHECK_OK(qf_gptq_config_for_module(&c, "model.layers.0.mlp.up_proj", &skip, &bits, &g));
    CHECK(!skip && bits == 8 && g == 64);
    CHECK_OK(qf_gptq_config_for_module(&c, "model.layers.0.self_attn.o_proj", &skip, &bits, &g));
    CHECK(skip);
    CHECK_OK(qf_gptq_config_for_module(&c, "model.layers.0.self_attn.q_proj", &skip, &bits, &g));
    CHECK(!skip && bits == 4 && g == 32);
    /* to_json -> parse gives the same config */
    char *json = NULL;
    c.quantizer = "qforge:test";
    CHECK_OK(qf_gptq_config_to_json(&c, &json));
    qf_gptq_config d;
    CHECK_OK(qf_gptq_config_parse(json, "written", &d));
    CHECK(d.bits == 4 && d.group_size == 32 && !d.sym && d.format == QF_GPTQ_FORMAT_V2 &&
          d.n_dynamic == 2 && d.dynamic[0].skip && d.dynamic[1].bits == 8);
    CHECK(json && strstr(json, "\"qforge:test\"") && strstr(json, "\"+:.*\\\\.mlp\\\\..*\""));
    free(json);
    qf_gptq_config_free(&d);
    c.quantizer = NULL;
    qf_gptq_config_free(&c);
    /* nonsense */
    CHECK_FAILS(qf_gptq_config_parse("{\"bits\": 5, \"group_size\": 128}", "q.json", &c),
                QF_STATUS_UNSUPPORTED, "q.json: bits 5");
    CHECK_FAILS(qf_gptq_config_parse("{\"bits\": 4, \"group_size\": 0}", "q.json", &c),
                QF_STATUS_FORMAT, "q.json: group_size 0");
    CHECK_FAILS(qf_gptq_config_parse("{\"bits\": 4, \"checkpoint_format\": \"marlin\"}", "q.json",
                                     &c),
                QF_STATUS_UNSUPPORTED, "checkpoint_format 'marlin'");
    CHECK_FAILS(qf_gptq_config_parse("{\"bits\": 4, \"is_marlin_format\": true}", "q.json", &c),
                QF_STATUS_UNSUPPORTED, "is_marlin_format");
    CHECK_FAILS(qf_gptq_config_parse("{\"group_size\": 128}", "q.json", &c), QF_STATUS_FORMAT,
                "'bits' is missing");
    CHECK_FAILS(qf_gptq_config_parse("{\"bits\": \"4\"}", "q.json", &c), QF_STATUS_FORMAT,
                "'bits' must be an integer");
    CHECK_FAILS(qf_gptq_config_parse("{\"bits\": 4,", "q.json", &c), QF_STATUS_FORMAT,
                "invalid JSON");
    CHECK_FAILS(qf_gptq_config_parse("{\"bits\": 4, \"dynamic\": {\"+:(\": {}}}", "q.json", &c),
                QF_STATUS_FORMAT, "not a valid regex");
    CHECK_FAILS(qf_gptq_config_parse("{\"bits\": 4, \"quant_method\": \"awq\"}", "q.json", &c),
                QF_STATUS_UNSUPPORTED, "quant_method 'awq'");
}

/* Rewrites model.safetensors of a copy of fixture `fx` in `dir`, changing one tensor. */
typedef enum { MUT_DROP, MUT_DTYPE, MUT_SHAPE, MUT_GIDX, MUT_SCALE } mutation;

static void make_bad(const char *fx, const char *dir, const char *victim, mutation mut,
                     const char *config_json) {
    char src[600], dst[600];
    hf_rm_rf(dir);
    mkdir(dir, 0755);
    snprintf(src, sizeof src, "%s/%s/config.json", GPTQ_FIX, fx);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    if (config_json) CHECK(hf_write_text(dst, config_json, strlen(config_json)) == 0);
    else CHECK(hf_copy(src, dst) == 0);
    snprintf(src, sizeof src, "%s/%s/model.safetensors", GPTQ_FIX, fx);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    qf_st_file *f = NULL;
    qf_st_writer *w = NULL;
    CHECK_OK(qf_st_open(src, &f));
    CHECK_OK(qf_st_writer_open(dst, 1, &w));
    if (!f || !w) return;
    for (size_t i = 0; i < qf_st_count(f); i++) {
        const qf_st_tensor *t = qf_st_get(f, i);
        int64_t shape[8];
        memcpy(shape, t->shape, sizeof shape);
        qf_dtype dt = t->dtype;
        if (strcmp(t->name, victim) == 0) {
            if (mut == MUT_DROP) continue;
            if (mut == MUT_DTYPE) dt = QF_DTYPE_F32;
            if (mut == MUT_SHAPE) shape[0] -= 1;
        }
        CHECK_OK(qf_st_writer_declare(w, t->name, dt, t->ndim, shape));
    }
    CHECK_OK(qf_st_writer_write_header(w));
    for (size_t i = 0; i < qf_st_count(f); i++) {
        const qf_st_tensor *t = qf_st_get(f, i);
        size_t n = t->end - t->begin;
        uint8_t *buf = malloc(n * 2 + 1);
        memcpy(buf, t->data, n);
        if (strcmp(t->name, victim) == 0) {
            if (mut == MUT_DROP) {
                free(buf);
                continue;
            }
            if (mut == MUT_DTYPE) n *= 2;
            if (mut == MUT_SHAPE) n -= n / (size_t)t->shape[0];
            if (mut == MUT_GIDX) ((int32_t *)buf)[5] = 1000;
            if (mut == MUT_SCALE) ((uint16_t *)buf)[3] = 0x7c00; /* inf */
        }
        CHECK_OK(qf_st_writer_write(w, t->name, buf, n));
        free(buf);
    }
    CHECK_OK(qf_st_writer_finish(w));
    qf_st_close(f);
}

static void test_bad_checkpoints(const char *tmp) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/bad", tmp);
    const char *fx = "w4_g32_v1_act", *p = "model.layers.0.self_attn.k_proj";
    qf_model *m = NULL;
    make_bad(fx, dir, "model.layers.0.self_attn.k_proj.g_idx", MUT_DROP, NULL);
    CHECK_FAILS(qf_model_open(dir, &m), QF_STATUS_NOT_FOUND, "k_proj.g_idx' is missing");
    make_bad(fx, dir, "model.layers.0.self_attn.k_proj.scales", MUT_DTYPE, NULL);
    CHECK_FAILS(qf_model_open(dir, &m), QF_STATUS_FORMAT, "dtype F32, expected F16");
    make_bad(fx, dir, "model.layers.0.self_attn.k_proj.qweight", MUT_SHAPE, NULL);
    CHECK_FAILS(qf_model_open(dir, &m), QF_STATUS_FORMAT, "k_proj.qweight' in");
    const char *bad_values[][2] = {{"model.layers.0.self_attn.k_proj.g_idx", "g_idx[5] = 1000"},
                                   {"model.layers.0.self_attn.k_proj.scales", "scale inf"}};
    for (int k = 0; k < 2; k++) {
        make_bad(fx, dir, bad_values[k][0], k ? MUT_SCALE : MUT_GIDX, NULL);
        CHECK_OK(qf_model_open(dir, &m)); /* values are checked when read */
        qf_qweight q;
        float *bias = NULL;
        if (m) CHECK_FAILS(qf_gptq_model_read(m, p, &q, &bias), QF_STATUS_FORMAT, bad_values[k][1]);
        qf_model_free(m);
        m = NULL;
    }
    /* unsupported and nonsense quantization configs in config.json */
    char src[600];
    snprintf(src, sizeof src, "%s/%s/config.json", GPTQ_FIX, fx);
    cJSON *cfg = hf_read_json(src);
    cJSON *qc = cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config");
    cJSON_ReplaceItemInObject(qc, "quant_method", cJSON_CreateString("fp8"));
    char *text = cJSON_Print(cfg);
    make_bad(fx, dir, "", MUT_DROP, text);
    free(text);
    CHECK_FAILS(qf_model_open(dir, &m), QF_STATUS_UNSUPPORTED, "quant_method 'fp8' is not supported yet");
    /* GPTQ tensors under an AWQ config: AWQ's transposed qweight shape does not match */
    cJSON_ReplaceItemInObject(qc, "quant_method", cJSON_CreateString("awq"));
    text = cJSON_Print(cfg);
    make_bad(fx, dir, "", MUT_DROP, text);
    free(text);
    CHECK_FAILS(qf_model_open(dir, &m), QF_STATUS_FORMAT, "expected [");
    cJSON_ReplaceItemInObject(qc, "quant_method", cJSON_CreateString("gptq"));
    cJSON_ReplaceItemInObject(qc, "bits", cJSON_CreateNumber(5));
    text = cJSON_Print(cfg);
    make_bad(fx, dir, "", MUT_DROP, text);
    free(text);
    CHECK_FAILS(qf_model_open(dir, &m), QF_STATUS_UNSUPPORTED, "quantization_config: bits 5");
    cJSON_ReplaceItemInObject(qc, "bits", cJSON_CreateNumber(8)); /* shapes now disagree */
    text = cJSON_Print(cfg);
    make_bad(fx, dir, "", MUT_DROP, text);
    free(text);
    CHECK_FAILS(qf_model_open(dir, &m), QF_STATUS_FORMAT, "expected");
    cJSON_Delete(cfg);
    hf_rm_rf(dir);
}

int main(void) {
    char tmp[] = "/tmp/qf_gptq_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    for (size_t i = 0; i < sizeof fixture_names / sizeof *fixture_names; i++)
        test_fixture(fixture_names[i]);
    test_roundtrip(tmp);
    test_bad_pack();
    test_config();
    test_bad_checkpoints(tmp);
    hf_rm_rf(tmp);
    TEST_END();
}
