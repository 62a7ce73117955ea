/* Our AWQ checkpoints in the real consumer (fixtures/awq_interop/, made by
 * fixtures/scripts/make_awq_interop_fixtures.py): `qforge quantize --format awq` (the
 * AutoAWQ GEMM layout; 4-bit RTN, AWQ, AWQ+GPTQ with static act-order groups, GPTQ sym;
 * groups 32/64) wrote each artifact from the tiny random Llama of fixtures/gptq_interop/
 * (source/, calib.txt); transformers 5.24 (quant_method "awq") + GPTQModel 7.7 loaded it
 * as it is on CPU and saved the logits for 16 tokens of three consumers:
 *   logits       fp16, every decoder linear a GPTQModel AwqTorchLinear (backend forced to
 *                torch_awq: dense dequantize + matmul);
 *   logits_auto  fp16, every decoder linear a TorchAtenAwqLinear (the kernel picked on CPU
 *                without a backend override: ATen int4pack);
 *   logits_dq32  fp32, the AwqTorchLinear buffers dequantized by GPTQModel's own
 *                dequantize_gemm with fp32 scales (its reading of the layout, without
 *                the fp16 rounding).
 * Here, per config:
 *  (a) our runtime on the committed artifact (12-token prefill + 4 decode steps, F32) gives
 *      the fp16 consumers' logits within TOL and the fp32 one's within TOL_DQ32;
 *  (b) `qforge quantize` re-run on the committed source with the same options writes the
 *      committed config.json byte for byte; RTN must give a byte-identical
 *      model.safetensors; the calibrated methods must give an artifact whose logits in
 *      our runtime are within the tolerances of (a) if its tensors are the committed ones
 *      (as they are with the Release build here), else within TOL_REQ of all three (the
 *      AWQ searches may choose differently in another build).
 * The runtime on the unquantized F32 source is also compared with the consumers' logits:
 * quantization moves them by far more than TOL_REQ, so even TOL_REQ can tell a right
 * artifact from a wrong one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test.h"
#include "tests/test_interop_util.h"

#define FIX QF_FIXTURES_DIR "/awq_interop"
#define SRC QF_FIXTURES_DIR "/gptq_interop"
/* max |our logit - consumer's logit| (README.md): measured 0.0145..0.0164 vs AwqTorchLinear
 * and 0.0124..0.0257 vs TorchAtenAwqLinear (the consumer's fp16) and 7.6e-6..9.5e-6 vs the
 * fp32 dequantization, on logits up to ~8.3, while quantization moves them by 2.8..4.2.
 * Tampered artifacts (README.md): one 4-bit code moved by one step gave 0.0235..0.215 (4 of
 * 4 caught by TOL_DQ32, 3 of 4 by TOL), one scale read as its neighbour's 0.027..0.43 (all
 * 3 caught by both). */
#define TOL 3e-2
#define TOL_DQ32 1e-3
/* A calibrated method re-quantized by another build (compiler, flags, BLAS) may move a few
 * codes: the omp simd reductions of the Release build sum in another order than the
 * -O0 ASan build, and the AWQ scale / clip searches then pick another grid for a handful
 * of (group, column) cells (measured: awq_w4_g32 from the ASan build, 5 tensors differ,
 * 0.064). Its logits must then be within TOL_REQ of the consumers': far below what
 * quantization moves them (2.8..4.2), far above what a layout or zero-point error gives
 * (5.4..12.2). With the same tensors, the tolerances above apply. */
#define TOL_REQ 0.25
/* --sink-weight 1: the options the committed artifacts were made with */
#define CALIB " --calib " SRC "/calib.txt --calib-samples 8 --calib-seqlen 64 --sink-weight 1"
#define AWQ " --bits 4 --format awq"

/* Same table as the fixture script; every run adds --threads 1. */
static const struct {
    const char *name;
    int rtn;
    const char *opts;
} configs[] = {
    {"rtn_w4_g32", 1, "--method rtn --group-size 32" AWQ},
    {"awq_w4_g32", 0, "--method awq --group-size 32" AWQ CALIB},
    {"awqgptq_w4_g64_act_static", 0,
     "--method awq+gptq --group-size 64 --desc-act --static-groups" AWQ CALIB},
    {"gptq_w4_g64_sym", 0, "--method gptq --group-size 64 --sym" AWQ CALIB},
};

/* The consumers' logits in <config>/logits.safetensors, and how close ours must be to
 * them on the committed artifacts (and on re-quantized ones with the same tensors). */
static const struct {
    const char *key, *what;
    double tol;
} consumers[] = {
    {"logits", "AwqTorchLinear", TOL},
    {"logits_auto", "TorchAtenAwqLinear", TOL},
    {"logits_dq32", "AwqTorchLinear dequantized in fp32", TOL_DQ32},
};
#define N_CONS (sizeof consumers / sizeof consumers[0])

/* max over the consumers of max |ours - consumer's| for the model in dir (per consumer in
 * d[]), or -1 if it could not run. */
static double diff_vs_consumers(const char *dir, const consumer_logits *c, double *d) {
    float *ours = io_run_ours(dir, &c[0]);
    if (!ours) return -1.0;
    double w = 0.0;
    for (size_t j = 0; j < N_CONS; j++) {
        d[j] = io_max_diff(dir, ours, &c[j]);
        w = fmax(w, d[j]);
    }
    free(ours);
    return w;
}

static void check_artifact(size_t k, const char *tmp, const consumer_logits *c) {
    const char *name = configs[k].name;
    char dir[512], fresh[512];
    snprintf(dir, sizeof dir, FIX "/%s", name);
    /* (a) the committed artifact */
    double d_fix[N_CONS], d_new[N_CONS], d_src[N_CONS];
    const double w_fix = diff_vs_consumers(dir, c, d_fix);
    for (size_t j = 0; j < N_CONS && w_fix >= 0.0; j++)
        CHECK_MSG(d_fix[j] <= consumers[j].tol, "%s: max |logit - %s's| %.3g > %g", name,
                  consumers[j].what, d_fix[j], consumers[j].tol);
    CHECK_MSG(w_fix >= 0.0, "%s: our runtime could not run the committed artifact", name);
    /* how far quantization moved the logits: the tolerances must be far below it */
    const double w_src = diff_vs_consumers(SRC "/source", c, d_src);
    for (size_t j = 0; j < N_CONS && w_src >= 0.0; j++)
        CHECK_MSG(d_src[j] > 4 * TOL_REQ, "%s: the F32 source is within %.3g of %s's logits",
                  name, d_src[j], consumers[j].what);
    /* (b) the quantizer again, same source and options */
    snprintf(fresh, sizeof fresh, "%s/%s", tmp, name);
    const int ran = io_quantize(SRC "/source", fresh, configs[k].opts);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/config.json", dir);
    snprintf(b, sizeof b, "%s/config.json", fresh);
    CHECK_MSG(!ran || io_same_file(a, b), "%s: re-quantized config.json differs from the "
              "committed one (the quantization_config the consumer loaded)", name);
    snprintf(a, sizeof a, "%s/model.safetensors", dir);
    snprintf(b, sizeof b, "%s/model.safetensors", fresh);
    const int same = ran && io_same_file(a, b);
    const int n_diff = ran ? io_tensors_differing(a, b) : -1;
    double w_new = -1.0;
    if (configs[k].rtn) {
        CHECK_MSG(same, "%s: re-quantized model.safetensors differs from the committed one "
                  "(%d tensors differ; a new qforge.version in its metadata also makes it "
                  "differ: then regenerate the fixtures)", name, n_diff);
        if (same) w_new = w_fix;
    } else if (ran) {
        /* the same tensors: the same logits; else a few codes moved (see TOL_REQ) */
        w_new = diff_vs_consumers(fresh, c, d_new);
        for (size_t j = 0; j < N_CONS && w_new >= 0.0; j++) {
            const double tol = n_diff == 0 ? consumers[j].tol : TOL_REQ;
            CHECK_MSG(d_new[j] <= tol, "%s: re-quantized (%d tensors differ): max |logit - %s's| "
                      "%.3g > %g", name, n_diff, consumers[j].what, d_new[j], tol);
        }
        CHECK_MSG(w_new >= 0.0, "%s: our runtime could not run the re-quantized artifact", name);
    }
    if (w_fix >= 0.0 && w_src >= 0.0)
        printf("%-26s max |logit - consumer's| (AwqTorchLinear / TorchAtenAwqLinear / fp32 "
               "dequantized): committed %.3g / %.3g / %.3g, re-quantized max %.3g (%s, %d "
               "tensors differ); F32 source %.3g / %.3g / %.3g\n", name, d_fix[0], d_fix[1],
               d_fix[2], w_new, same ? "byte-identical file" : "file differs", n_diff, d_src[0],
               d_src[1], d_src[2]);
}

static void check_config(size_t k, const char *tmp) {
    consumer_logits c[N_CONS];
    memset(c, 0, sizeof c);
    char path[512];
    snprintf(path, sizeof path, FIX "/%s/logits.safetensors", configs[k].name);
    int ok = 1;
    for (size_t j = 0; j < N_CONS; j++) ok = io_load_consumer(path, consumers[j].key, &c[j]) && ok;
    for (size_t j = 1; ok && j < N_CONS; j++) {
        ok = memcmp(c[j].tokens, c[0].tokens, sizeof c[0].tokens) == 0 && c[j].vocab == c[0].vocab;
        CHECK_MSG(ok, "%s: the consumers ran different tokens", path);
    }
    if (ok) check_artifact(k, tmp, c);
    for (size_t j = 0; j < N_CONS; j++) free(c[j].logits);
}

int main(void) {
    char tmp[64];
    if (!io_mkdtemp(tmp, sizeof tmp, "awq_interop")) return 1;
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) check_config(k, tmp);
    CHECK(io_rm_rf(tmp));
    TEST_END();
}
