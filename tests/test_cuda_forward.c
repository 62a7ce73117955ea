/* The GPU runtime (runtime/cuda/forward*.cu, qf_runtime with device CUDA) against the CPU
 * runtime on the same checkpoints; without a GPU it prints "CUDA forward: SKIPPED (no GPU:
 * <reason>)" and exits 77 (ctest: skipped) after the CPU half (writing the checkpoints,
 * the CPU runs, the refusal of a GPU-less --device cuda) has passed.
 *
 * The tiny fixtures of tests/fixtures (head_dim 4..16) cannot run here: the CUDA attention
 * kernels take head_dim 64 or 128, and the GPU runtime refuses other sizes with
 * UNSUPPORTED (checked on fixtures/hf/tiny-llama). So the checkpoints are written here,
 * random but shaped like the fixtures (GQA 4 query / 2 kv heads of 64, 2 layers, vocab
 * 320): (a) Llama, untied lm_head, attention + MLP biases, linear RoPE scaling; (b) Mistral,
 * sliding window 12, YaRN RoPE; (c) (a)'s weights without biases, every layer linear RTN
 * 4-bit, group 64, shuffled act-order g_idx, written as a GPTQ v1 checkpoint with tied
 * embeddings. Each runs a 40-token prefill (all logits) then 8 decode steps fed the CPU's
 * greedy tokens; (a) and (c) also with the prefill split 10 + 30 (a prefill at p0 > 0; for
 * (c) the W4 GEMV path for the 10, the dequantize + cuBLAS path, from
 * QF_CUDA_W4_GEMM_MIN_M = 17 tokens on, for the 30 and the unsplit 40); (d) (b) quantized
 * by qforge's RTN to W8A8 (compressed-tensors int8, per-token activations): the GPU's
 * int8 path against the CPU's.
 *
 * Tolerance: |logit_gpu - logit_cpu| <= 2e-2 * max(1, rms of the CPU logits). The CPU runs
 * F32 weights and activations and an F32 KV cache. The GPU rounds the weights (F16 runs)
 * and every linear's input to fp16 (relative 2^-11 = 4.9e-4 each, summed incoherently
 * over the dot products: ~1e-3 relative per linear output), stores K and V in fp16 (same
 * order), and its W4 GEMV forms 4-product partial sums in fp16 (cuda_kernels.h bound). Over
 * the ~10 dependent roundings between the embedding and the logits that is a few 1e-3 of
 * the logits' scale; 2e-2 leaves a 4-10x margin, while a wrong head, position, bias or
 * code moves logits by O(rms). Greedy tokens must agree at every decode step whose CPU
 * top-2 gap exceeds twice the tolerance (a nearer tie may flip legitimately). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/quant.h"
#include "formats/gptq.h"
#include "formats/model.h"
#include "formats/safetensors.h"
#include "pipeline/pipeline.h"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/runtime.h"
#include "tests/test.h"
#include "tests/test_logits_util.h"

#define HID 256
#define NH 4
#define NKV 2
#define HD 64
#define INTER 512
#define VOCAB 320
#define NLAYER 2
#define NPRE 40
#define NDEC 8
#define TOL_REL 2e-2
_Static_assert(10 < QF_CUDA_W4_GEMM_MIN_M && NPRE - 10 >= QF_CUDA_W4_GEMM_MIN_M,
               "the split prefill covers both W4 paths");

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1 << 23)) - 1.0);
}

typedef enum { MODEL_LLAMA, MODEL_MISTRAL, MODEL_GPTQ } model_kind;

static void write_config(const char *dir, model_kind k) {
    char buf[4096], path[600], *qjson = NULL;
    if (k == MODEL_GPTQ) {
        qf_gptq_config c = {.bits = 4, .group_size = 64, .desc_act = 1, .sym = 1,
                            .damp_percent = 0.01, .format = QF_GPTQ_FORMAT_V1};
        CHECK_OK(qf_gptq_config_to_json(&c, &qjson));
    }
    snprintf(buf, sizeof buf,
             "{\"architectures\": [\"%s\"], \"model_type\": \"%s\", \"hidden_size\": %d, "
             "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"head_dim\": %d, "
             "\"intermediate_size\": %d, \"num_hidden_layers\": %d, \"vocab_size\": %d, "
             "\"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-05, \"hidden_act\": "
             "\"silu\", \"bos_token_id\": 1, \"eos_token_id\": 2, \"tie_word_embeddings\": %s, "
             "\"attention_bias\": %s, \"mlp_bias\": %s, %s \"rope_parameters\": %s%s%s}",
             k == MODEL_MISTRAL ? "MistralForCausalLM" : "LlamaForCausalLM",
             k == MODEL_MISTRAL ? "mistral" : "llama", HID, NH, NKV, HD, INTER, NLAYER, VOCAB,
             k == MODEL_GPTQ ? "true" : "false", k == MODEL_LLAMA ? "true" : "false",
             k == MODEL_LLAMA ? "true" : "false",
             k == MODEL_MISTRAL ? "\"sliding_window\": 12," : "",
             k == MODEL_MISTRAL
                 ? "{\"factor\": 4.0, \"original_max_position_embeddings\": 64, \"rope_theta\": "
                   "10000.0, \"rope_type\": \"yarn\"}"
                 : "{\"factor\": 2.0, \"rope_theta\": 10000.0, \"rope_type\": \"linear\"}",
             qjson ? ", \"quantization_config\": " : "", qjson ? qjson : "");
    free(qjson);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_OK(qf_file_write_atomic(path, buf, strlen(buf), 1));
}

typedef struct tensor_spec {
    char name[128];
    int64_t out, in; /* in == 0: a vector */
    int linear, norm, bias;
} tensor_spec;

static size_t specs(model_kind k, tensor_spec *s) {
    size_t n = 0;
    const int bias = k == MODEL_LLAMA;
    s[n++] = (tensor_spec){"model.embed_tokens.weight", VOCAB, HID, 0, 0, 0};
    if (k != MODEL_GPTQ) s[n++] = (tensor_spec){"lm_head.weight", VOCAB, HID, 0, 0, 0};
    s[n++] = (tensor_spec){"model.norm.weight", HID, 0, 0, 1, 0};
    static const struct {
        const char *name;
        int64_t out, in;
    } lin[] = {{"self_attn.q_proj", NH * HD, HID},  {"self_attn.k_proj", NKV * HD, HID},
               {"self_attn.v_proj", NKV * HD, HID}, {"self_attn.o_proj", HID, NH * HD},
               {"mlp.gate_proj", INTER, HID},       {"mlp.up_proj", INTER, HID},
               {"mlp.down_proj", HID, INTER}};
    for (int l = 0; l < NLAYER; l++) {
        tensor_spec t = {0};
        snprintf(t.name, sizeof t.name, "model.layers.%d.input_layernorm.weight", l);
        t.out = HID, t.norm = 1, s[n++] = t;
        snprintf(t.name, sizeof t.name, "model.layers.%d.post_attention_layernorm.weight", l);
        s[n++] = t;
        for (size_t j = 0; j < sizeof lin / sizeof lin[0]; j++) {
            tensor_spec w = {0};
            snprintf(w.name, sizeof w.name, "model.layers.%d.%s", l, lin[j].name);
            w.out = lin[j].out, w.in = lin[j].in, w.linear = 1, w.bias = bias;
            s[n++] = w;
        }
    }
    return n;
}

/* Random values for a tensor: linears ~U(-1,1)/sqrt(in) (unit-scale outputs), norms
 * 1 + U(-0.2, 0.2), biases U(-0.1, 0.1), embeddings U(-1, 1). */
static void fill(float *f, int64_t n, int64_t in, int kind) {
    const float sc = kind == 1 ? 1.7f / sqrtf((float)in) : kind == 2 ? 0.2f : kind == 3 ? 0.1f : 1.0f;
    for (int64_t i = 0; i < n; i++) f[i] = (kind == 2 ? 1.0f : 0.0f) + sc * frand();
}

static void write_model(const char *dir, model_kind k) {
    mkdir(dir, 0755);
    write_config(dir, k);
    tensor_spec s[64];
    const size_t n = specs(k, s);
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    qf_st_writer *w = NULL;
    CHECK_OK(qf_st_writer_open(path, 1, &w));
    if (!w) return;
    for (size_t i = 0; i < n; i++) {
        const int64_t shape[2] = {s[i].out, s[i].in};
        if (s[i].linear && k == MODEL_GPTQ) {
            CHECK_OK(qf_gptq_declare(w, s[i].name, 4, s[i].out, s[i].in, 64, 0));
            continue;
        }
        char name[160];
        snprintf(name, sizeof name, "%.127s%s", s[i].name, s[i].linear ? ".weight" : "");
        CHECK_OK(qf_st_writer_declare(w, name, QF_DTYPE_F32, s[i].in ? 2 : 1, shape));
        if (s[i].bias) {
            snprintf(name, sizeof name, "%.127s.bias", s[i].name);
            CHECK_OK(qf_st_writer_declare(w, name, QF_DTYPE_F32, 1, shape));
        }
    }
    CHECK_OK(qf_st_writer_write_header(w));
    for (size_t i = 0; i < n; i++) {
        const int64_t numel = s[i].out * (s[i].in ? s[i].in : 1);
        float *f = malloc((size_t)numel * sizeof *f);
        fill(f, numel, s[i].in, s[i].linear ? 1 : s[i].norm ? 2 : 0);
        if (s[i].linear && k == MODEL_GPTQ) {
            const qf_quant_params p = {.bits = 4, .sym = 1, .group_size = 64};
            qf_qweight q;
            CHECK_OK(qf_quant_rtn(f, s[i].out, s[i].in, &p, &q));
            q.g_idx = malloc((size_t)s[i].in * sizeof *q.g_idx); /* shuffled act-order */
            for (int64_t c = 0; c < s[i].in; c++) q.g_idx[c] = (int32_t)(c / q.group_size);
            for (int64_t c = s[i].in - 1; c > 0; c--) {
                const int64_t j = (int64_t)((frand() + 1.0f) * 0.5f * (float)(c + 1)) % (c + 1);
                const int32_t t = q.g_idx[c];
                q.g_idx[c] = q.g_idx[j];
                q.g_idx[j] = t;
            }
            CHECK_OK(qf_gptq_write(w, s[i].name, &q, NULL, QF_GPTQ_FORMAT_V1));
            qf_qweight_free(&q);
            free(f);
            continue;
        }
        char name[160];
        snprintf(name, sizeof name, "%.127s%s", s[i].name, s[i].linear ? ".weight" : "");
        CHECK_OK(qf_st_writer_write(w, name, f, (size_t)numel * 4));
        if (s[i].bias) {
            fill(f, s[i].out, 0, 3);
            snprintf(name, sizeof name, "%.127s.bias", s[i].name);
            CHECK_OK(qf_st_writer_write(w, name, f, (size_t)s[i].out * 4));
        }
        free(f);
    }
    CHECK_OK(qf_st_writer_finish(w));
}

static int argmax(const float *v, int64_t n, float *gap) {
    int best = 0, second = -1;
    for (int64_t i = 1; i < n; i++) {
        if (v[i] > v[best]) second = best, best = (int)i;
        else if (second < 0 || v[i] > v[second]) second = (int)i;
    }
    *gap = v[best] - v[second];
    return best;
}

/* Logits (NPRE + NDEC, VOCAB): prefill (in two calls when split > 0), then NDEC decode
 * steps fed feed[NPRE + i] (NULL: this run's own greedy tokens, written to toks). */
static float *run(const qf_model *m, qf_runtime_device dev, qf_dtype wd, int32_t *toks,
                  int feed_own, int split) {
    qf_runtime *rt = NULL;
    const qf_runtime_options o = {.n_threads = 2, .max_ctx = 64, .weight_dtype = wd,
                                  .device = dev};
    CHECK_OK(qf_runtime_init(m, &o, &rt));
    if (!rt) return NULL;
    logits_buf b = {calloc((size_t)((NPRE + NDEC) * VOCAB), sizeof(float)), VOCAB};
    if (split) {
        CHECK_OK(qf_runtime_forward(rt, toks, split, 0, keep, &b));
        logits_buf rest = {b.v + split * VOCAB, VOCAB};
        CHECK_OK(qf_runtime_forward(rt, toks + split, NPRE - split, 0, keep, &rest));
    } else {
        CHECK_OK(qf_runtime_forward(rt, toks, NPRE, 0, keep, &b));
    }
    for (int i = 0; i < NDEC; i++) {
        float gap;
        if (feed_own) toks[NPRE + i] = argmax(b.v + (NPRE - 1 + i) * VOCAB, VOCAB, &gap);
        logits_buf one = {b.v + (NPRE + i) * VOCAB, VOCAB};
        CHECK_OK(qf_runtime_forward(rt, toks + NPRE + i, 1, 0, keep, &one));
    }
    CHECK(qf_runtime_pos(rt) == NPRE + NDEC);
    qf_runtime_free(rt);
    return b.v;
}

static int have_gpu;

static void compare(const char *dir, const char *what, qf_dtype wd, int split) {
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(dir, &m));
    if (!m) return;
    int32_t toks[NPRE + NDEC];
    for (int i = 0; i < NPRE; i++) toks[i] = (int32_t)((i * 37 + 5) % VOCAB);
    float *cpu = run(m, QF_RUNTIME_DEVICE_CPU, QF_DTYPE_F32, toks, 1, 0);
    float *gpu = have_gpu ? run(m, QF_RUNTIME_DEVICE_CUDA, wd, toks, 0, split) : NULL;
    if (cpu && gpu) {
        double ss = 0.0, worst = 0.0;
        for (int64_t i = 0; i < (NPRE + NDEC) * VOCAB; i++) ss += (double)cpu[i] * cpu[i];
        const double rms = sqrt(ss / ((NPRE + NDEC) * VOCAB));
        const double tol = TOL_REL * (rms > 1.0 ? rms : 1.0);
        int64_t at = 0;
        for (int64_t i = 0; i < (NPRE + NDEC) * VOCAB; i++) {
            const double d = fabs((double)gpu[i] - cpu[i]);
            if (!(d <= worst)) worst = d, at = i;
        }
        printf("%-34s rms %.3f, max |gpu - cpu| %.3g at token %lld (tol %.3g)\n", what, rms,
               worst, (long long)(at / VOCAB), tol);
        CHECK_MSG(worst <= tol, "%s: max |gpu - cpu| %.4g > %.4g", what, worst, tol);
        for (int i = 0; i < NDEC; i++) {
            float gc, gg;
            const int tc = argmax(cpu + (NPRE - 1 + i) * VOCAB, VOCAB, &gc);
            const int tg = argmax(gpu + (NPRE - 1 + i) * VOCAB, VOCAB, &gg);
            if (gc > 2 * tol)
                CHECK_MSG(tc == tg, "%s: greedy step %d: gpu %d, cpu %d (gap %.3g)", what, i, tg,
                          tc, gc);
        }
    }
    free(cpu);
    free(gpu);
    qf_model_free(m);
}

int main(void) {
    char why[512] = "";
    have_gpu = qf_cuda_device_check() == QF_STATUS_OK;
    if (!have_gpu) snprintf(why, sizeof why, "%s", qf_error_message());
    /* refused cleanly: head_dim 8 (or, without a GPU, no usable GPU) */
    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    CHECK_OK(qf_model_open(QF_FIXTURES_DIR "/hf/tiny-llama", &m));
    const qf_runtime_options o = {.max_ctx = 32, .device = QF_RUNTIME_DEVICE_CUDA};
    CHECK(m && qf_runtime_init(m, &o, &rt) == QF_STATUS_UNSUPPORTED && !rt);
    CHECK_MSG(strstr(qf_error_message(), have_gpu ? "head_dim 8" : "no usable GPU") != NULL,
              "message: %s", qf_error_message());
    qf_model_free(m);

    char tmp[] = "/tmp/qf_test_cuda_forward.XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    char llama[600], mistral[600], gptq[600], cmd[700];
    snprintf(llama, sizeof llama, "%s/llama", tmp);
    snprintf(mistral, sizeof mistral, "%s/mistral", tmp);
    snprintf(gptq, sizeof gptq, "%s/gptq", tmp);
    write_model(llama, MODEL_LLAMA);
    write_model(mistral, MODEL_MISTRAL);
    write_model(gptq, MODEL_GPTQ);
    compare(llama, "llama bias, F16 weights", QF_DTYPE_F16, 0);
    compare(llama, "llama bias, F32 weights", QF_DTYPE_F32, 0);
    compare(llama, "llama bias, F16, prefill 10 + 30", QF_DTYPE_F16, 10);
    compare(mistral, "mistral sliding 12, F16", QF_DTYPE_F16, 0);
    compare(gptq, "gptq w4 g64 act-order, tied", QF_DTYPE_F16, 0);
    compare(gptq, "gptq w4, prefill 10 + 30", QF_DTYPE_F16, 10);
    char w8a8[600];
    snprintf(w8a8, sizeof w8a8, "%s/w8a8", tmp);
    qf_quantize_options qo = qf_quantize_options_default();
    qo.method = QF_QUANT_METHOD_RTN;
    qo.format = QF_QUANT_FORMAT_W8A8;
    qo.gptq.quant.bits = 8, qo.gptq.quant.sym = 1, qo.gptq.quant.group_size = -1;
    qo.n_threads = 1;
    CHECK_OK(qf_quantize_model(mistral, w8a8, &qo));
    compare(w8a8, "mistral w8a8 (rtn), prefill 10 + 30", QF_DTYPE_F16, 10);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    if (!have_gpu && qf_test_failures == 0) { /* the checkpoints and CPU runs were fine */
        printf("CUDA forward: SKIPPED (no GPU: %s)\n", why);
        return 77;
    }
    TEST_END();
}
