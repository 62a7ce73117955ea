/* qf_quantize_model end to end on tiny checkpoints: RTN artifacts hold exactly a direct
 * qf_quant_rtn of the source weights; GPTQ artifacts open and validate; two runs give
 * byte-identical files; spilling activations under --mem-budget changes nothing; an
 * interrupted run resumed gives the same bytes as an uninterrupted one (its report
 * counting both attempts' time), also with --checkpoint-every 2 / 0; two threads give the
 * bytes of one (GPTQ, AWQ, SmoothQuant); --sink-weight
 * weights each window's first token in the Hessians (checked against an independent
 * build of layer 0's); bad inputs fail with clear messages and leave nothing at OUTDIR. */
#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

#include "core/quant.h"
#include "formats/gptq.h"
#include "formats/model.h"
#include "pipeline/pipeline.h"
#include "tests/test.h"
#include "tests/test_pipeline_util.h"
#include "tests/test_quantize_util.h"

static char tmp[] = "/tmp/qf_test_pipeline_XXXXXX";
#define path_in(name) qf_test_path(tmp, name)



static void check_same_artifact(const char *a, const char *b) {
    const char *files[] = {"model.safetensors", "config.json", "quantize_config.json",
                           "tokenizer.json", "generation_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char pa[512], pb[512];
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        if (!qf_path_exists(pa) && !qf_path_exists(pb)) continue;
        CHECK_MSG(qf_test_same_file(pa, pb), "%s differs between %s and %s", files[i], a, b);
    }
}

static qf_quantize_options small_gptq(void) { return qf_test_small_options(QF_QUANT_METHOD_GPTQ); }

/* RTN: the stored codes are exactly qf_quant_rtn of the source weights. */
static void test_rtn(void) {
    const char *src = QF_FIXTURES_DIR "/hf/tiny-llama", *out = path_in("rtn");
    qf_quantize_options o = qf_quantize_options_default();
    o.method = QF_QUANT_METHOD_RTN;
    o.gptq.quant.group_size = 16;
    CHECK_OK(qf_quantize_model(src, out, &o));
    CHECK(!qf_path_exists(path_in("rtn.qforge-tmp")));
    qf_model *m = NULL, *q = NULL;
    CHECK_OK(qf_model_open(src, &m));
    CHECK_OK(qf_model_open(out, &q));
    if (!m || !q) return;
    const char *lin[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                         "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                         "mlp.down_proj"};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 7; i++) {
            char prefix[128], name[160];
            snprintf(prefix, sizeof prefix, "model.layers.%d.%s", l, lin[i]);
            snprintf(name, sizeof name, "%s.weight", prefix);
            const qf_model_tensor *t = qf_model_find_tensor(m, name);
            CHECK(qf_gptq_model_has(q, prefix));
            qf_qweight got = {0}, want = {0};
            float *bias = NULL;
            CHECK_OK(qf_gptq_model_read(q, prefix, &got, &bias));
            float *w = malloc(t->numel * sizeof *w);
            CHECK_OK(qf_model_tensor_read_f32(t, w));
            qf_quant_params p = {.bits = 4, .sym = 0, .group_size = 16};
            CHECK_OK(qf_quant_rtn(w, t->shape[0], t->shape[1], &p, &want));
            float *dg = malloc(t->numel * sizeof *dg), *dw = malloc(t->numel * sizeof *dw);
            qf_qweight_dequant_ref(&got, dg);
            qf_qweight_dequant_ref(&want, dw);
            CHECK_MSG(memcmp(dg, dw, t->numel * sizeof *dg) == 0, "%s", prefix);
            qf_qweight_free(&got), qf_qweight_free(&want);
            free(w), free(dg), free(dw), free(bias);
        }
    qf_model_free(m);
    qf_model_free(q);
}

/* The number `key` of the JSON file dir/name (-1 when absent). */
static double json_number(const char *dir, const char *name, const char *key) {
    char p[1024], *text = NULL;
    size_t n = 0;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK_OK(qf_file_read_all(p, 1u << 24, &text, &n));
    cJSON *j = text ? cJSON_ParseWithLength(text, n) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    const double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    cJSON_Delete(j);
    free(text);
    return d;
}

typedef struct stop_at {
    char prefix[32];
    int fired;
} stop_at;

static int stop_fn(void *user, const char *what, uint64_t done, uint64_t total) {
    stop_at *s = user;
    if (!strncmp(what, s->prefix, strlen(s->prefix))) s->fired = 1;
    return s->fired;
}

static void test_gptq(const char *model) {
    qf_quantize_options o = small_gptq();
    const char *a = path_in("gptq-a"), *b = path_in("gptq-b"), *c = path_in("gptq-spill");
    CHECK_OK(qf_quantize_model(model, a, &o));
    CHECK_OK(qf_quantize_model(model, b, &o));
    check_same_artifact(a, b);
    qf_model *q = NULL;
    CHECK_OK(qf_model_open(a, &q)); /* validates every GPTQ tensor against the config */
    qf_model_free(q);
    o.mem_budget = 1; /* everything spills */
    CHECK_OK(qf_quantize_model(model, c, &o));
    check_same_artifact(a, c);
    CHECK(!qf_path_exists(path_in("gptq-spill.qforge-tmp")));

    /* interrupted in layer 2 (after layer 1 finished), then resumed */
    const char *r = path_in("gptq-resume"), *rt = path_in("gptq-resume.qforge-tmp");
    o = small_gptq();
    stop_at s = {"layer 3/", 0};
    qf_progress p = {stop_fn, &s};
    o.progress = &p;
    CHECK_FAILS(qf_quantize_model(model, r, &o), QF_STATUS_INTERRUPTED, "--resume");
    CHECK(!qf_path_exists(r) && qf_path_exists(rt));
    o.progress = NULL;
    CHECK_FAILS(qf_quantize_model(model, r, &o), QF_STATUS_INVALID_ARG, "pass --resume");
    o.resume = 1;
    o.calib.seed = 5;
    CHECK_FAILS(qf_quantize_model(model, r, &o), QF_STATUS_INVALID_ARG, "different parameters");
    o.calib.seed = 0;
    o.gptq.quant.bits = 8;
    CHECK_FAILS(qf_quantize_model(model, r, &o), QF_STATUS_INVALID_ARG, "different parameters");
    o.gptq.quant.bits = 4;
    CHECK(!qf_path_exists(r) && qf_path_exists(rt));
    const double before = json_number(rt, "state.json", "seconds");
    CHECK(before > 0.0 && json_number(rt, "state.json", "next_layer") == 2.0 &&
          json_number(rt, "state.json", "peak_rss_bytes") > 0.0);
    CHECK_OK(qf_quantize_model(model, r, &o));
    CHECK(!qf_path_exists(rt));
    check_same_artifact(a, r);
    /* the report counts the first attempt's time (up to its checkpoint) too */
    CHECK(json_number(r, "quantize_report.json", "resumed_at_layer") == 2.0);
    CHECK(json_number(r, "quantize_report.json", "total_seconds") > before);
    CHECK(json_number(a, "quantize_report.json", "resumed_at_layer") == -1.0);

    /* --checkpoint-every 2: nothing to resume before layer 2's checkpoint; after it only
     * that layer's inputs are kept; 0: no checkpoint, the same bytes */
    char *aa = strdup(a), *e = strdup(path_in("gptq-every"));
    char *et = strdup(path_in("gptq-every.qforge-tmp"));
    o = small_gptq();
    o.checkpoint_every = 2;
    stop_at s2 = {"layer 2/", 0};
    p.user = &s2;
    o.progress = &p;
    CHECK_FAILS(qf_quantize_model(model, e, &o), QF_STATUS_INTERRUPTED, "--resume");
    CHECK(!qf_path_exists(et));
    stop_at s3 = {"layer 3/", 0};
    p.user = &s3;
    CHECK_FAILS(qf_quantize_model(model, e, &o), QF_STATUS_INTERRUPTED, "--resume");
    CHECK(json_number(et, "state.json", "next_layer") == 2.0);
    CHECK(qf_path_exists(path_in("gptq-every.qforge-tmp/x-0002")) &&
          !qf_path_exists(path_in("gptq-every.qforge-tmp/x-0001")));
    o.progress = NULL;
    o.resume = 1;
    CHECK_OK(qf_quantize_model(model, e, &o));
    check_same_artifact(aa, e);
    o = small_gptq();
    o.checkpoint_every = 0;
    const char *z = path_in("gptq-every0");
    CHECK_OK(qf_quantize_model(model, z, &o));
    check_same_artifact(aa, z);
    o.checkpoint_every = -1;
    CHECK_FAILS(qf_quantize_model(model, path_in("gptq-every-bad"), &o), QF_STATUS_INVALID_ARG,
                "--checkpoint-every");
    free(aa), free(e), free(et);

    /* two threads: the checkpoint's files are written by both; resumed = uninterrupted */
    char *t2 = strdup(path_in("gptq-t2")), *t2r = strdup(path_in("gptq-t2r"));
    o = small_gptq();
    o.n_threads = 2;
    CHECK_OK(qf_quantize_model(model, t2, &o));
    stop_at s4 = {"layer 3/", 0};
    p.user = &s4;
    o.progress = &p;
    CHECK_FAILS(qf_quantize_model(model, t2r, &o), QF_STATUS_INTERRUPTED, "--resume");
    o.progress = NULL;
    o.resume = 1;
    CHECK_OK(qf_quantize_model(model, t2r, &o));
    check_same_artifact(t2, t2r);
    free(t2), free(t2r);

    /* without true_sequential, with a skipped module and a dynamic override */
    o = small_gptq();
    o.true_sequential = 0;
    o.skip_regex = "mlp\\.down_proj";
    qf_gptq_dynamic d;
    CHECK_OK(qf_quantize_parse_dynamic(".*self_attn\\.[qk]_proj=8:-1", &d));
    o.dynamic = &d;
    o.n_dynamic = 1;
    const char *n = path_in("gptq-nts");
    CHECK_OK(qf_quantize_model(model, n, &o));
    free(d.pattern);
    CHECK_OK(qf_model_open(n, &q));
    if (q) {
        CHECK(!qf_gptq_model_has(q, "model.layers.0.mlp.down_proj"));
        CHECK(qf_model_find_tensor(q, "model.layers.0.mlp.down_proj.weight") != NULL);
        qf_qweight w = {0};
        float *bias = NULL;
        CHECK_OK(qf_gptq_model_read(q, "model.layers.1.self_attn.k_proj", &w, &bias));
        CHECK(w.bits == 8 && w.n_groups == 1);
        qf_qweight_free(&w);
        free(bias);
        qf_model_free(q);
    }
}

/* The calibration passes run two samples at a time on two threads (pipeline/
 * sample_slots.h) and add what they contribute in sample order: the artifact is the
 * one-thread one's, byte for byte, for every method that runs them, with an odd number
 * of samples (a last batch of one) and with every activation spilled meanwhile. */
/* The layer reports of a and b say the same (errors, losses, chosen scales; not times):
 * the artifacts' codes alone would hide a last-bit difference of a Hessian. */
static void check_same_report(const char *a, const char *b) {
    cJSON *ja = qf_test_report(a), *jb = qf_test_report(b);
    const cJSON *la = cJSON_GetObjectItem(ja, "layers"), *lb = cJSON_GetObjectItem(jb, "layers");
    CHECK(cJSON_GetArraySize(la) > 0 && cJSON_GetArraySize(la) == cJSON_GetArraySize(lb));
    for (int l = 0; l < cJSON_GetArraySize(la) && l < cJSON_GetArraySize(lb); l++) {
        const cJSON *ea = cJSON_GetArrayItem(la, l), *eb = cJSON_GetArrayItem(lb, l);
        static const char *const keys[] = {"linears", "smoothquant", "awq"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            CHECK_MSG(cJSON_Compare(cJSON_GetObjectItem(ea, keys[k]),
                                    cJSON_GetObjectItem(eb, keys[k]), 1) ||
                          (!cJSON_GetObjectItem(ea, keys[k]) && !cJSON_GetObjectItem(eb, keys[k])),
                      "layer %d's %s differ between %s and %s", l, keys[k], a, b);
    }
    cJSON_Delete(ja), cJSON_Delete(jb);
}

static void test_threads(const char *model) {
    static const qf_quant_method methods[] = {QF_QUANT_METHOD_GPTQ, QF_QUANT_METHOD_AWQ,
                                              QF_QUANT_METHOD_SMOOTHQUANT};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
        qf_quantize_options o = qf_test_small_options(methods[k]);
        o.calib.n_samples = 3;
        if (methods[k] == QF_QUANT_METHOD_SMOOTHQUANT) {
            o.format = QF_QUANT_FORMAT_W8A8;
            o.gptq.quant.bits = 8;
            o.gptq.quant.group_size = -1;
            o.gptq.quant.sym = 1;
            o.sq_alpha = -1.0f; /* the alpha search's passes too */
            o.act_static = 1;
        }
        char one[512], two[512], spill[512];
        snprintf(one, sizeof one, "%s", path_in("thr-1"));
        snprintf(two, sizeof two, "%s", path_in("thr-2"));
        snprintf(spill, sizeof spill, "%s", path_in("thr-2-spill"));
        CHECK_OK(qf_quantize_model(model, one, &o));
        o.n_threads = 2;
        CHECK_OK(qf_quantize_model(model, two, &o));
        check_same_artifact(one, two);
        check_same_report(one, two);
        o.mem_budget = 1;
        CHECK_OK(qf_quantize_model(model, spill, &o));
        check_same_artifact(one, spill);
        check_same_report(one, spill);
        char cmd[2000];
        snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", one, two, spill);
        CHECK(system(cmd) == 0);
    }
}

/* Layer 0's k_proj (the first linear quantized; it sees the source's inputs) with the
 * Hessian built here from the saved calibration windows, rmsnorm(embedding) * ln1 in
 * double, each window's first row weighted by w0: the number of its dequantized weights
 * that differ from the artifact's. */
static int64_t k_proj_mismatches(const char *model, const char *calib, const char *artifact,
                                 float w0, const qf_quantize_options *o) {
    int64_t rows = 0, S = 0, bad = -1;
    float *x = qf_test_layer0_inputs(model, calib, &rows, &S);
    CHECK_MSG(x != NULL, "layer 0 inputs of %s", calib);
    qf_model *m = NULL, *q = NULL;
    CHECK_OK(qf_model_open(model, &m));
    CHECK_OK(qf_model_open(artifact, &q));
    const char *kn = "model.layers.0.self_attn.k_proj.weight";
    const qf_model_tensor *kt = m ? qf_model_find_tensor(m, kn) : NULL;
    float *wk = m ? qf_test_read_tensor(m, kn) : NULL;
    float *w = malloc((size_t)rows * sizeof *w);
    if (x && q && kt && wk && w) {
        const int64_t out = kt->shape[0], hid = kt->shape[1], n = out * hid;
        for (int64_t t = 0; t < rows; t++) w[t] = t % S == 0 ? w0 : 1.0f;
        qf_gptq_hessian h;
        CHECK_OK(qf_gptq_hessian_init(&h, hid));
        CHECK_OK(qf_gptq_hessian_add_weighted(&h, x, rows, w));
        qf_qweight want = {0}, got = {0};
        float *bias = NULL;
        CHECK_OK(qf_gptq_quantize(wk, out, hid, &h, &o->gptq, &want, NULL));
        CHECK_OK(qf_gptq_model_read(q, "model.layers.0.self_attn.k_proj", &got, &bias));
        float *dw = malloc((size_t)n * sizeof *dw), *dg = malloc((size_t)n * sizeof *dg);
        qf_qweight_dequant_ref(&want, dw);
        qf_qweight_dequant_ref(&got, dg);
        bad = 0;
        for (int64_t i = 0; i < n; i++) bad += fabsf(dw[i] - dg[i]) > 1e-3f * (fabsf(dw[i]) + 1e-3f);
        qf_qweight_free(&want), qf_qweight_free(&got);
        qf_gptq_hessian_free(&h);
        free(dw), free(dg), free(bias);
    }
    free(x), free(wk), free(w);
    qf_model_free(q);
    qf_model_free(m);
    return bad;
}

/* --sink-weight: the first token of every window weighs w0 in the Hessians. Layer 0's
 * k_proj matches a Hessian built independently with that weighting (a few near-tie codes
 * may round the other way: f32 sums in another order), and clearly does not match the
 * unweighted one; the weight is recorded and a resume with another one is refused. */
static void test_sink_weight(const char *model) {
    qf_quantize_options o = small_gptq();
    o.sink_weight = 40.0f;
    o.save_calib = path_in("sink-calib.safetensors");
    const char *a = path_in("gptq-sink");
    CHECK_OK(qf_quantize_model(model, a, &o));
    const int64_t n = 64 * 64, same = k_proj_mismatches(model, o.save_calib, a, 40.0f, &o);
    const int64_t other = k_proj_mismatches(model, o.save_calib, a, 1.0f, &o);
    printf("sink weight 40: layer 0 k_proj differs from the independent weighted GPTQ in "
           "%lld of %lld weights, from the unweighted one in %lld\n",
           (long long)same, (long long)n, (long long)other);
    CHECK(same >= 0 && same <= n / 200);
    CHECK(other >= n / 50);
    char *report = NULL;
    char rp[512];
    snprintf(rp, sizeof rp, "%s/quantize_report.json", a);
    CHECK_OK(qf_file_read_all(rp, 1 << 24, &report, NULL));
    cJSON *j = report ? cJSON_Parse(report) : NULL;
    const cJSON *sw = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "params"), "sink_weight");
    CHECK(cJSON_IsNumber(sw) && sw->valuedouble == 40.0);
    cJSON_Delete(j);
    free(report);
    /* interrupted, then resumed with another weight: refused */
    const char *r = path_in("gptq-sink-resume");
    o = small_gptq();
    o.sink_weight = 40.0f;
    stop_at s = {"layer 2/", 0};
    qf_progress p = {stop_fn, &s};
    o.progress = &p;
    CHECK_FAILS(qf_quantize_model(model, r, &o), QF_STATUS_INTERRUPTED, "--resume");
    o.progress = NULL;
    o.resume = 1;
    o.sink_weight = 1.0f;
    CHECK_FAILS(qf_quantize_model(model, r, &o), QF_STATUS_INVALID_ARG, "different parameters");
    o.sink_weight = 40.0f;
    CHECK_OK(qf_quantize_model(model, r, &o));
    check_same_artifact(a, r);
}

static void test_bad_inputs(const char *model) {
    qf_quantize_options o = small_gptq();
    /* OUTDIR exists */
    CHECK_FAILS(qf_quantize_model(model, tmp, &o), QF_STATUS_IO, "already exists");
    /* unreadable calibration file: nothing left behind */
    static const char *missing[] = {"/nonexistent/calib.txt"};
    o.calib_paths = missing;
    const char *out = path_in("bad-calib");
    CHECK_FAILS(qf_quantize_model(model, out, &o), QF_STATUS_IO, "/nonexistent/calib.txt");
    CHECK(!qf_path_exists(out) && !qf_path_exists(path_in("bad-calib.qforge-tmp")));
    /* bad regexes and --dynamic specs */
    o = small_gptq();
    o.skip_regex = "mlp(";
    CHECK_FAILS(qf_quantize_model(model, out, &o), QF_STATUS_INVALID_ARG, "--skip 'mlp('");
    CHECK(!qf_path_exists(out) && !qf_path_exists(path_in("bad-calib.qforge-tmp")));
    qf_gptq_dynamic d;
    CHECK_FAILS(qf_quantize_parse_dynamic("mlp", &d), QF_STATUS_INVALID_ARG, "REGEX=BITS:GROUP");
    CHECK_FAILS(qf_quantize_parse_dynamic("mlp=5:128", &d), QF_STATUS_INVALID_ARG, "BITS");
    CHECK_FAILS(qf_quantize_parse_dynamic("mlp=4:0", &d), QF_STATUS_INVALID_ARG, "GROUP");
    CHECK_FAILS(qf_quantize_parse_dynamic("-:(", &d), QF_STATUS_INVALID_ARG, "bad regular");
    CHECK_OK(qf_quantize_parse_dynamic("-:lm_head", &d));
    CHECK(d.skip && !strcmp(d.pattern, "lm_head"));
    free(d.pattern);
    /* a model path that is not a model */
    CHECK(qf_quantize_model("/nonexistent/model", out, &o) != QF_STATUS_OK);
    CHECK(!qf_path_exists(out));
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    test_rtn();
    char *model = strdup(path_in("model"));
    CHECK_OK(qf_test_make_model(model, 3, 64, 1));
    test_gptq(model);
    test_threads(model);
    test_sink_weight(model);
    test_bad_inputs(model);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (!qf_test_failures) CHECK(system(cmd) == 0);
    free(model);
    TEST_END();
}
