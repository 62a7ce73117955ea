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

#include "tests/test.h"
#include "tests/test_interop_util.h"

#define FIX QF_FIXTURES_DIR "/gptq_interop"
/* max |our logit - consumer's logit|: measured 0.013..0.016 (the consumer's fp16; README.md)
 * on logits up to ~8.5, while quantization moves them by 0.16 (8 bits) .. 8.8 (2 bits) */
#define TOL 3e-2
/* --sink-weight 1: the options the committed artifacts were made with */
#define CALIB " --calib " FIX "/calib.txt --calib-samples 8 --calib-seqlen 64 --sink-weight 1"

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

static void check_config(size_t k, const char *tmp) {
    const char *name = configs[k].name;
    consumer_logits c = {0};
    char dir[512], fresh[512], path[600];
    snprintf(dir, sizeof dir, FIX "/%s", name);
    snprintf(path, sizeof path, "%s/logits.safetensors", dir);
    if (!io_load_consumer(path, "logits", &c)) return;
    /* (a) the committed artifact */
    const double d_fix = io_diff_vs_consumer(dir, &c);
    CHECK_MSG(d_fix >= 0.0 && d_fix <= TOL, "%s: max |logit - consumer's| %.3g > %g", name,
              d_fix, TOL);
    /* how far quantization moved the logits: TOL must be far below it */
    const double d_src = io_diff_vs_consumer(FIX "/source", &c);
    CHECK_MSG(d_src > 4 * TOL, "%s: the F32 source is within %.3g of the consumer's logits",
              name, d_src);
    /* (b) the quantizer again, same source and options */
    snprintf(fresh, sizeof fresh, "%s/%s", tmp, name);
    const int ran = io_quantize(FIX "/source", fresh, configs[k].opts);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/model.safetensors", dir);
    snprintf(b, sizeof b, "%s/model.safetensors", fresh);
    const int same = ran && io_same_file(a, b);
    const int n_diff = ran ? io_tensors_differing(a, b) : -1;
    double d_new = -1.0;
    if (configs[k].rtn) {
        CHECK_MSG(same, "%s: re-quantized model.safetensors differs from the committed one "
                  "(%d tensors differ; a new qforge.version in its metadata also makes it "
                  "differ: then regenerate the fixtures)", name, n_diff);
    } else if (ran) {
        d_new = io_diff_vs_consumer(fresh, &c);
        CHECK_MSG(d_new >= 0.0 && d_new <= TOL, "%s: re-quantized: max |logit - consumer's| "
                  "%.3g > %g", name, d_new, TOL);
    }
    printf("%-19s max |logit - consumer's|: committed %.3g, re-quantized %.3g (%s, "
           "%d tensors differ); F32 source %.3g\n", name, d_fix, same ? d_fix : d_new,
           same ? "byte-identical file" : "file differs", n_diff, d_src);
    free(c.logits);
}

int main(void) {
    char tmp[64];
    if (!io_mkdtemp(tmp, sizeof tmp, "gptq_interop")) return 1;
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) check_config(k, tmp);
    CHECK(io_rm_rf(tmp));
    TEST_END();
}
