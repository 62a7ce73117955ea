/* The runtime on a GPTQ checkpoint vs the runtime on the same weights dequantized to F32.
 * From the tiny random checkpoints of fixtures/runtime/ (biases on every linear, GQA,
 * untied lm_head), every layer linear is RTN-quantized (bits 2/4/8 — 3-bit GPTQ packing needs
 * out * 3 a multiple of 32, which the 16-row k/v projections are not —; group 16 = padded
 * groups, 32, per-channel; optionally a shuffled act-order g_idx), written as a GPTQ
 * checkpoint (formats/gptq.h, v1 symmetric, v2 asymmetric) and, next to it, as an F32 checkpoint holding
 * qf_qweight_dequant_ref of the same codes. Both are run with F32 weights on a 14-token
 * prefill (all logits: the dequantized-tile + sgemm path) and 3 decode steps (the packed
 * GEMV), 1 and 2 threads. Tolerance |logit - logit_deq| <= 1e-4: the two compute the same
 * products, only the float32 summation order of the decode GEMV differs (~1e-6 on these
 * O(1) logits), while one wrong code or scale moves logits by ~1e-2.
 * Then the consumer's side: the GPTQModel-packed checkpoints of fixtures/gptq/ (bits
 * 2/3/4/8, act-order, per-channel, v1/v2), 12 tokens of prefill + 4 decode steps, vs
 * transformers + optimum + GPTQModel's logits (computed in fp16; their own script checks
 * them against an fp32 dequantized model within 5e-2, 0.0009..0.025 measured): same
 * tolerance, 5e-2 absolute. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "core/fileio.h"
#include "core/quant.h"
#include "formats/gptq.h"
#include "formats/model.h"
#include "formats/safetensors.h"
#include "runtime/runtime.h"
#include "tests/test.h"
#include "tests/test_logits_util.h"

#define FIX QF_FIXTURES_DIR "/runtime/llama-gqa-bias"
#define GPTQ_FIX QF_FIXTURES_DIR "/gptq/"
#define TOL_CONSUMER 5e-2
#define TOL 1e-4

static uint32_t rng = 2463534242u;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int is_linear(const char *name) {
    const size_t n = strlen(name);
    return strncmp(name, "model.layers.", 13) == 0 && n > 12 &&
           strcmp(name + n - 12, "_proj.weight") == 0;
}

/* name is "<prefix>.bias" of a layer linear */
static int is_linear_bias(const char *name) {
    const size_t n = strlen(name);
    return strncmp(name, "model.layers.", 13) == 0 && n > 10 &&
           strcmp(name + n - 10, "_proj.bias") == 0;
}

static void write_config(const char *dir, const char *quant_json) {
    char path[512], *cfg;
    size_t n;
    CHECK_OK(qf_file_read_all(FIX "/config.json", 1 << 20, &cfg, &n));
    char *out = malloc(n + (quant_json ? strlen(quant_json) : 0) + 64);
    strcpy(out, cfg);
    if (quant_json) { /* insert before the final '}' */
        char *end = strrchr(out, '}');
        sprintf(end, ", \"quantization_config\": %s}", quant_json);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_OK(qf_file_write_atomic(path, out, strlen(out), 1));
    free(cfg), free(out);
}

/* Writes dir/gptq and dir/deq from the fixture. */
static void make_pair(const qf_model *m, const char *dir, int bits, int64_t group, int act,
                      qf_gptq_format fmt) {
    char gdir[512], ddir[512], path[600];
    snprintf(gdir, sizeof gdir, "%s/gptq", dir);
    snprintf(ddir, sizeof ddir, "%s/deq", dir);
    mkdir(gdir, 0755);
    mkdir(ddir, 0755);
    /* v1 stores zero - 1: asymmetric grids (zero 0 happens) only in v2 */
    const int sym = fmt == QF_GPTQ_FORMAT_V1;
    qf_gptq_config c = {.bits = bits, .group_size = group, .desc_act = act, .sym = sym,
                        .damp_percent = 0.01, .format = fmt};
    char *qjson = NULL;
    CHECK_OK(qf_gptq_config_to_json(&c, &qjson));
    write_config(gdir, qjson);
    write_config(ddir, NULL);
    free(qjson);
    qf_st_writer *wg = NULL, *wd = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", gdir);
    CHECK_OK(qf_st_writer_open(path, 1, &wg));
    snprintf(path, sizeof path, "%s/model.safetensors", ddir);
    CHECK_OK(qf_st_writer_open(path, 1, &wd));
    for (size_t i = 0; i < m->n_tensors; i++) {
        const qf_model_tensor *t = &m->tensors[i];
        CHECK_OK(qf_st_writer_declare(wd, t->name, QF_DTYPE_F32, t->ndim, t->shape));
        if (is_linear_bias(t->name)) continue;
        if (is_linear(t->name)) {
            char prefix[256], bname[300];
            snprintf(prefix, sizeof prefix, "%.*s", (int)strlen(t->name) - 7, t->name);
            snprintf(bname, sizeof bname, "%s.bias", prefix);
            CHECK_OK(qf_gptq_declare(wg, prefix, bits, t->shape[0], t->shape[1], group,
                                     qf_model_find_tensor(m, bname) != NULL));
        } else {
            CHECK_OK(qf_st_writer_declare(wg, t->name, QF_DTYPE_F32, t->ndim, t->shape));
        }
    }
    CHECK_OK(qf_st_writer_write_header(wg));
    CHECK_OK(qf_st_writer_write_header(wd));
    const qf_quant_params p = {.bits = bits, .sym = sym, .group_size = group};
    for (size_t i = 0; i < m->n_tensors; i++) {
        const qf_model_tensor *t = &m->tensors[i];
        float *f = malloc(t->numel * sizeof *f);
        CHECK_OK(qf_model_tensor_read_f32(t, f));
        if (is_linear(t->name)) {
            const int64_t out = t->shape[0], in = t->shape[1];
            qf_qweight q;
            CHECK_OK(qf_quant_rtn(f, out, in, &p, &q));
            if (act && q.n_groups > 1) { /* a shuffled assignment of columns to groups */
                q.g_idx = malloc((size_t)in * sizeof *q.g_idx);
                for (int64_t k = 0; k < in; k++) q.g_idx[k] = (int32_t)(k / q.group_size);
                for (int64_t k = in - 1; k > 0; k--) {
                    const int64_t j = rnd() % (uint64_t)(k + 1);
                    const int32_t tmp = q.g_idx[k];
                    q.g_idx[k] = q.g_idx[j];
                    q.g_idx[j] = tmp;
                }
            }
            char prefix[256], bname[300];
            snprintf(prefix, sizeof prefix, "%.*s", (int)strlen(t->name) - 7, t->name);
            snprintf(bname, sizeof bname, "%s.bias", prefix);
            const qf_model_tensor *bt = qf_model_find_tensor(m, bname);
            float *bias = NULL;
            if (bt) {
                bias = malloc(bt->numel * sizeof *bias);
                CHECK_OK(qf_model_tensor_read_f32(bt, bias));
            }
            CHECK_OK(qf_gptq_write(wg, prefix, &q, bias, fmt));
            free(bias);
            qf_qweight_dequant_ref(&q, f); /* the scales written are fp16: RTN made them so */
            qf_qweight_free(&q);
        } else if (!is_linear_bias(t->name)) {
            CHECK_OK(qf_st_writer_write(wg, t->name, f, t->numel * 4));
        } else { /* the GPTQ checkpoint stores the bias as fp16 */
            for (uint64_t e = 0; e < t->numel; e++) f[e] = qf_fp16_to_fp32(qf_fp32_to_fp16(f[e]));
        }
        CHECK_OK(qf_st_writer_write(wd, t->name, f, t->numel * 4));
        free(f);
    }
    CHECK_OK(qf_st_writer_finish(wg));
    CHECK_OK(qf_st_writer_finish(wd));
}

#define NPRE 14
#define NDEC 3

/* Logits (npre + ndec, vocab) of the model in dir for toks: prefill of npre tokens, then
 * ndec decode steps. */
static float *run_tokens(const char *dir, int threads, const int32_t *toks, int npre, int ndec,
                         int64_t *vocab) {
    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    CHECK_OK(qf_model_open(dir, &m));
    const qf_runtime_options o = {.n_threads = threads, .max_ctx = 64,
                                  .weight_dtype = QF_DTYPE_F32};
    if (m) CHECK_OK(qf_runtime_init(m, &o, &rt));
    if (!rt) {
        qf_model_free(m);
        return NULL;
    }
    *vocab = qf_runtime_config(rt)->vocab_size;
    logits_buf b = {malloc((size_t)((npre + ndec) * *vocab) * sizeof(float)), *vocab};
    CHECK_OK(qf_runtime_forward(rt, toks, npre, 0, keep, &b));
    for (int i = 0; i < ndec; i++) {
        logits_buf one = {b.v + (npre + i) * *vocab, *vocab};
        CHECK_OK(qf_runtime_forward(rt, toks + npre + i, 1, 0, keep, &one));
    }
    qf_runtime_free(rt);
    qf_model_free(m);
    return b.v;
}

static float *run(const char *dir, int threads, int64_t *vocab) {
    int32_t toks[NPRE + NDEC];
    for (int i = 0; i < NPRE + NDEC; i++) toks[i] = (int32_t)((i * 37 + 5) % 96);
    return run_tokens(dir, threads, toks, NPRE, NDEC, vocab);
}

/* fixtures/gptq/<name>: our logits vs the consumer's. */
static void check_consumer(const char *name) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, GPTQ_FIX "%s", name);
    snprintf(path, sizeof path, "%s/logits.safetensors", dir);
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(path, &f));
    if (!f) return;
    const qf_st_tensor *tt = qf_st_find(f, "tokens", 6), *lt = qf_st_find(f, "logits", 6);
    CHECK(tt && lt && tt->dtype == QF_DTYPE_I32 && lt->dtype == QF_DTYPE_F32 && lt->ndim == 2);
    if (tt && lt && tt->numel == 16 && lt->shape[0] == 16) {
        int32_t toks[16];
        memcpy(toks, tt->data, sizeof toks);
        int64_t vocab = 0;
        float *ours = run_tokens(dir, 2, toks, 12, 4, &vocab);
        if (ours && vocab == lt->shape[1]) {
            const char *ref = lt->data; /* the mapping may be unaligned: memcpy */
            double w = 0.0;
            for (int64_t e = 0; e < 16 * vocab; e++) {
                float r;
                memcpy(&r, ref + e * 4, 4);
                w = fmax(w, fabs((double)ours[e] - r));
            }
            printf("%s: max |logit - consumer's| %.3g\n", name, w);
            CHECK_MSG(w <= TOL_CONSUMER, "%s: max |dlogit| vs the consumer %.3g", name, w);
        }
        free(ours);
    }
    qf_st_close(f);
}

int main(void) {
    char tmp[] = "/tmp/qf_test_qruntime_XXXXXX";
    if (!mkdtemp(tmp)) return 77;
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(FIX, &m));
    if (!m) TEST_END();
    static const struct {
        int bits;
        int64_t group;
        int act;
        qf_gptq_format fmt;
    } cases[] = {{4, 32, 0, QF_GPTQ_FORMAT_V1}, {4, 16, 1, QF_GPTQ_FORMAT_V2},
                 {8, -1, 0, QF_GPTQ_FORMAT_V2}, {8, 16, 1, QF_GPTQ_FORMAT_V1},
                 {2, 16, 1, QF_GPTQ_FORMAT_V2}, {2, -1, 0, QF_GPTQ_FORMAT_V1}};
    double worst = 0.0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char dir[256], gdir[300], ddir[300];
        snprintf(dir, sizeof dir, "%s/c%zu", tmp, k);
        mkdir(dir, 0755);
        make_pair(m, dir, cases[k].bits, cases[k].group, cases[k].act, cases[k].fmt);
        snprintf(gdir, sizeof gdir, "%s/gptq", dir);
        snprintf(ddir, sizeof ddir, "%s/deq", dir);
        for (int threads = 1; threads <= 2; threads++) {
            int64_t vocab = 0;
            float *lq = run(gdir, threads, &vocab), *ld = run(ddir, threads, &vocab);
            if (lq && ld) {
                double w = 0.0, spread = 0.0;
                for (int64_t e = 0; e < (NPRE + NDEC) * vocab; e++) {
                    const double d = fabs((double)lq[e] - ld[e]);
                    w = d > w ? d : w;
                    spread = fabs(ld[e]) > spread ? fabs(ld[e]) : spread;
                }
                printf("bits %d group %lld act %d threads %d: max |dlogit| %.3g\n",
                       cases[k].bits, (long long)cases[k].group, cases[k].act, threads, w);
                CHECK_MSG(w <= TOL, "bits %d group %lld act %d threads %d: max |dlogit| %.3g",
                          cases[k].bits, (long long)cases[k].group, cases[k].act, threads, w);
                CHECK_MSG(spread > 0.1, "logits are all ~0 (max %.3g)", spread);
                worst = w > worst ? w : worst;
            }
            free(lq), free(ld);
        }
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    printf("GPTQ runtime vs dequantized F32 runtime: worst max |dlogit| = %.3g\n", worst);
    static const char *const consumer[] = {"w4_g32_v1_act", "w4_pc_sym_v1", "w8_g64_v2",
                                           "w3_g32_v1", "w2_g32_v2"};
    for (size_t k = 0; k < sizeof consumer / sizeof consumer[0]; k++) check_consumer(consumer[k]);
    qf_model_free(m);
    rmdir(tmp);
    TEST_END();
}
