/* Our GPTQ checkpoints in the real consumer (fixtures/gptq_interop/, made by
 * fixtures/scripts/make_gptq_interop_fixtures.py): `qforge quantize` (RTN and GPTQ; bits
 * 2/3/4/8, groups 32/64/per-channel, act-order, sym/asym, v1/v2) wrote each artifact from
 * a tiny random Llama; transformers + optimum + GPTQModel (torch kernel, CPU, fp16) loaded
 * it as it is, every decoder linear a GPTQModel TorchLinear, and saved its logits for 16
 * tokens. Here, per config:
 *  (a) our runtime on the committed artifact (12-token prefill + 4 decode steps) gives the
 *      consumer's logits within TOL (the consumer computes in fp16);
 *  (b) `qforge quantize` re-run on the committed source with the same options: RTN must
 *      give a byte-identical model.safetensors; GPTQ (codes may differ on rare ties across
 *      BLAS builds) must give an artifact whose logits in our runtime are within TOL of the
 *      consumer's too.
 * The runtime on the unquantized F32 source is also compared with the consumer's logits:
 * quantization moves them by far more than TOL, so TOL can tell a right artifact from a
 * wrong one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "formats/model.h"
#include "formats/safetensors.h"
#include "runtime/runtime.h"
#include "tests/test.h"
#include "tests/test_logits_util.h"

#define FIX QF_FIXTURES_DIR "/gptq_interop"
#define N_TOK 16
#define N_PRE 12
/* max |our logit - consumer's logit|: measured 0.013..0.016 (the consumer's fp16; README.md)
 * on logits up to ~8.5, while quantization moves them by 0.16 (8 bits) .. 8.8 (2 bits) */
#define TOL 3e-2
#define CALIB " --calib " FIX "/calib.txt --calib-samples 8 --calib-seqlen 64"

/* Same table as the fixture script; every run adds --threads 1. */
static const struct {
    const char *name;
    int rtn;
    const char *opts;
} configs[] = {
    {"rtn_w4_g32_v1", 1, "--method rtn --bits 4 --group-size 32"},
    {"gptq_w4_g32_act_v1", 0, "--bits 4 --group-size 32 --desc-act" CALIB},
    {"gptq_w8_g64_sym_v2", 0, "--bits 8 --group-size 64 --sym --format gptq-v2" CALIB},
    {"gptq_w3_g32_v1", 0, "--bits 3 --group-size 32" CALIB},
    {"gptq_w4_pc_sym_v1", 0, "--bits 4 --group-size -1 --sym" CALIB},
    {"gptq_w2_g32_v2", 0, "--bits 2 --group-size 32 --format gptq-v2" CALIB},
};

typedef struct consumer_logits {
    int32_t tokens[N_TOK];
    float *logits; /* (N_TOK, vocab) */
    int64_t vocab;
} consumer_logits;

static int load_consumer(const char *name, consumer_logits *c) {
    char path[512];
    snprintf(path, sizeof path, FIX "/%s/logits.safetensors", name);
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(path, &f));
    if (!f) return 0;
    const qf_st_tensor *tt = qf_st_find(f, "tokens", 6), *lt = qf_st_find(f, "logits", 6);
    int ok = tt && lt && tt->dtype == QF_DTYPE_I32 && tt->numel == N_TOK &&
             lt->dtype == QF_DTYPE_F32 && lt->ndim == 2 && lt->shape[0] == N_TOK;
    CHECK_MSG(ok, "%s: tokens I32 (%d) and logits F32 (%d, vocab) expected", path, N_TOK, N_TOK);
    if (ok) {
        memcpy(c->tokens, tt->data, sizeof c->tokens); /* the mapping may be unaligned */
        c->vocab = lt->shape[1];
        c->logits = malloc((size_t)lt->numel * sizeof *c->logits);
        memcpy(c->logits, lt->data, (size_t)lt->numel * sizeof *c->logits);
    }
    qf_st_close(f);
    return ok;
}

/* Our logits (N_TOK, vocab) for the model in dir: N_PRE tokens of prefill, then one
 * decode step per remaining token. NULL on failure (already reported). */
static float *run_ours(const char *dir, const consumer_logits *c) {
    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    CHECK_OK(qf_model_open(dir, &m));
    const qf_runtime_options o = {.n_threads = 1, .max_ctx = 64, .weight_dtype = QF_DTYPE_F32};
    if (m) CHECK_OK(qf_runtime_init(m, &o, &rt));
    float *v = NULL;
    if (rt && qf_runtime_config(rt)->vocab_size == c->vocab) {
        v = malloc((size_t)(N_TOK * c->vocab) * sizeof *v);
        logits_buf b = {v, c->vocab};
        CHECK_OK(qf_runtime_forward(rt, c->tokens, N_PRE, 0, keep, &b));
        for (int i = N_PRE; i < N_TOK; i++) {
            logits_buf one = {v + i * c->vocab, c->vocab};
            CHECK_OK(qf_runtime_forward(rt, c->tokens + i, 1, 0, keep, &one));
        }
    } else if (rt) {
        CHECK_MSG(0, "%s: vocab %lld, the consumer's logits have %lld", dir,
                  (long long)qf_runtime_config(rt)->vocab_size, (long long)c->vocab);
    }
    qf_runtime_free(rt);
    qf_model_free(m);
    return v;
}

/* max |ours - consumer's| for the model in dir, or -1 if it could not run. */
static double diff_vs_consumer(const char *dir, const consumer_logits *c) {
    float *ours = run_ours(dir, c);
    if (!ours) return -1.0;
    double w = 0.0, spread = 0.0;
    for (int64_t e = 0; e < N_TOK * c->vocab; e++) {
        w = fmax(w, fabs((double)ours[e] - c->logits[e]));
        spread = fmax(spread, fabs((double)c->logits[e]));
    }
    CHECK_MSG(spread > 1.0, "%s: the consumer's logits are all ~0 (max %.3g)", dir, spread);
    free(ours);
    return w;
}

static int same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    CHECK_OK(qf_file_read_all(a, 64u << 20, &x, &nx));
    CHECK_OK(qf_file_read_all(b, 64u << 20, &y, &ny));
    const int same = x && y && nx == ny && memcmp(x, y, nx) == 0;
    free(x), free(y);
    return same;
}

/* Compares the tensors (not the metadata: it records the calibration path as given) of
 * two checkpoints. Returns the number of tensors whose bytes differ, or -1 if the two do
 * not hold the same names, dtypes and shapes (which is checked). */
static int tensors_differing(const char *a, const char *b) {
    qf_st_file *fa = NULL, *fb = NULL;
    CHECK_OK(qf_st_open(a, &fa));
    CHECK_OK(qf_st_open(b, &fb));
    int n_diff = -1;
    if (fa && fb && qf_st_count(fa) == qf_st_count(fb)) {
        n_diff = 0;
        for (size_t i = 0; i < qf_st_count(fa) && n_diff >= 0; i++) {
            const qf_st_tensor *x = qf_st_get(fa, i);
            const qf_st_tensor *y = qf_st_find(fb, x->name, x->name_len);
            if (!y || y->dtype != x->dtype || y->ndim != x->ndim ||
                memcmp(y->shape, x->shape, (size_t)x->ndim * sizeof x->shape[0]) != 0) {
                n_diff = -1;
            } else if (x->end - x->begin != y->end - y->begin ||
                       (x->end > x->begin &&
                        memcmp(x->data, y->data, (size_t)(x->end - x->begin)) != 0)) {
                n_diff++;
            }
        }
    }
    CHECK_MSG(n_diff >= 0, "%s and %s: different tensor names, dtypes or shapes", a, b);
    qf_st_close(fa);
    qf_st_close(fb);
    return n_diff;
}

static void check_config(size_t k, const char *tmp) {
    const char *name = configs[k].name;
    consumer_logits c = {0};
    if (!load_consumer(name, &c)) return;
    char dir[512], fresh[512], cmd[2048], *out = NULL;
    snprintf(dir, sizeof dir, FIX "/%s", name);
    /* (a) the committed artifact */
    const double d_fix = diff_vs_consumer(dir, &c);
    CHECK_MSG(d_fix >= 0.0 && d_fix <= TOL, "%s: max |logit - consumer's| %.3g > %g", name,
              d_fix, TOL);
    /* how far quantization moved the logits: TOL must be far below it */
    const double d_src = diff_vs_consumer(FIX "/source", &c);
    CHECK_MSG(d_src > 4 * TOL, "%s: the F32 source is within %.3g of the consumer's logits",
              name, d_src);
    /* (b) the quantizer again, same source and options */
    snprintf(fresh, sizeof fresh, "%s/%s", tmp, name);
    snprintf(cmd, sizeof cmd, "%s quantize " FIX "/source %s %s --threads 1", QF_QFORGE_BIN,
             fresh, configs[k].opts);
    const int rc = qf_test_run(cmd, &out);
    CHECK_MSG(rc == 0, "%s: exit %d: %s", cmd, rc, out ? out : "");
    free(out);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/model.safetensors", dir);
    snprintf(b, sizeof b, "%s/model.safetensors", fresh);
    const int same = rc == 0 && same_file(a, b);
    const int n_diff = rc == 0 ? tensors_differing(a, b) : -1;
    double d_new = -1.0;
    if (configs[k].rtn) {
        CHECK_MSG(same, "%s: re-quantized model.safetensors differs from the committed one "
                  "(%d tensors differ; a new qforge.version in its metadata also makes it "
                  "differ: then regenerate the fixtures)", name, n_diff);
    } else if (rc == 0) {
        d_new = diff_vs_consumer(fresh, &c);
        CHECK_MSG(d_new >= 0.0 && d_new <= TOL, "%s: re-quantized: max |logit - consumer's| "
                  "%.3g > %g", name, d_new, TOL);
    }
    printf("%-19s max |logit - consumer's|: committed %.3g, re-quantized %.3g (%s, "
           "%d tensors differ); F32 source %.3g\n", name, d_fix, same ? d_fix : d_new,
           same ? "byte-identical file" : "file differs", n_diff, d_src);
    free(c.logits);
}

int main(void) {
    char tmp[] = "/tmp/qf_test_gptq_interop_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) check_config(k, tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    TEST_END();
}
