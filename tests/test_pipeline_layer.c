/* The pipeline's layer forward (pipeline/layer_forward.c), run over all layers of a tiny
 * checkpoint from the embeddings through the final norm and lm_head, gives the same
 * logits as the verification runtime (qf_runtime, F32 weights) on the same tokens: the
 * runtime is the independent check (itself tested against transformers). Covers GQA,
 * q/k/v biases (Qwen2), sliding window (Mistral), llama3 / yarn / dynamic RoPE, tied
 * embeddings. Tolerance 1e-4 absolute on logits of magnitude ~1 (different summation
 * orders only). */
#include <cblas.h>

#include "formats/model.h"
#include "pipeline/layer.h"
#include "runtime/cpu/kernels.h"
#include "runtime/runtime.h"
#include "tests/test.h"
#include "tests/test_logits_util.h"

#define SEQ 40 /* > the sliding window (24) of the mistral fixture */

static float *read_tensor(const qf_model *m, const char *name) {
    const qf_model_tensor *t = qf_model_find_tensor(m, name);
    if (!t) return NULL;
    float *x = malloc((size_t)t->numel * sizeof(float));
    CHECK_OK(qf_model_tensor_read_f32(t, x));
    return x;
}

/* logits (SEQ, vocab) of the pipeline's layers. */
static void pipeline_logits(const qf_model *m, const int32_t *tok, float *logits) {
    const qf_model_config *c = &m->config;
    const int64_t hid = c->hidden_size, V = c->vocab_size;
    float *emb = read_tensor(m, "model.embed_tokens.weight");
    float *x = malloc(SEQ * hid * sizeof(float)), *xn = malloc(SEQ * hid * sizeof(float));
    float *att = malloc(SEQ * c->num_attention_heads * c->head_dim * sizeof(float));
    float *h = malloc(SEQ * c->intermediate_size * sizeof(float));
    for (int t = 0; t < SEQ; t++) memcpy(x + t * hid, emb + tok[t] * hid, hid * sizeof(float));
    qf_layer_ctx ctx;
    CHECK_OK(qf_layer_ctx_init(&ctx, c, SEQ, 0));
    for (int64_t l = 0; l < c->num_hidden_layers; l++) {
        qf_layer_weights lw;
        CHECK_OK(qf_layer_weights_load(m, l, &lw, NULL));
        qf_layer_forward(&ctx, &lw, x, xn, att, h);
        qf_layer_weights_free(&lw);
    }
    float *norm = read_tensor(m, "model.norm.weight");
    float *head = read_tensor(m, "lm_head.weight");
    qf_cpu_rmsnorm(x, norm, xn, SEQ, hid, (float)c->rms_norm_eps);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, SEQ, (int)V, (int)hid, 1.0f, xn,
                (int)hid, head ? head : emb, (int)hid, 0.0f, logits, (int)V);
    qf_layer_ctx_free(&ctx);
    free(emb), free(x), free(xn), free(att), free(h), free(norm), free(head);
}

static void check_model(const char *dir) {
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(dir, &m));
    if (!m) return;
    const int64_t V = m->config.vocab_size;
    int32_t tok[SEQ];
    for (int t = 0; t < SEQ; t++) tok[t] = (int32_t)((t * 37 + 11) % V);
    qf_runtime_options ro = {.n_threads = 1, .max_ctx = 64, .weight_dtype = QF_DTYPE_F32};
    qf_runtime *rt = NULL;
    CHECK_OK(qf_runtime_init(m, &ro, &rt));
    float *want = calloc(SEQ * V, sizeof(float)), *got = calloc(SEQ * V, sizeof(float));
    logits_buf s = {want, V};
    CHECK_OK(qf_runtime_forward(rt, tok, SEQ, 0, keep, &s));
    pipeline_logits(m, tok, got);
    double maxd = 0.0;
    for (int64_t i = 0; i < SEQ * V; i++) {
        double d = fabs((double)want[i] - (double)got[i]);
        maxd = d > maxd ? d : maxd;
    }
    CHECK_MSG(maxd < 1e-4, "%s: max |logit diff| %g", dir, maxd);
    printf("%s: max |logit diff| %.3g\n", dir, maxd);
    free(want), free(got);
    qf_runtime_free(rt);
    qf_model_free(m);
}

int main(void) {
    check_model(QF_FIXTURES_DIR "/hf/tiny-llama");
    check_model(QF_FIXTURES_DIR "/runtime/llama-gqa-bias");
    check_model(QF_FIXTURES_DIR "/runtime/qwen2-bias");
    check_model(QF_FIXTURES_DIR "/runtime/mistral-sliding");
    check_model(QF_FIXTURES_DIR "/runtime/llama-tied-llama3");
    check_model(QF_FIXTURES_DIR "/runtime/llama-dynamic");
    TEST_END();
}
