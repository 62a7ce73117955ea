/* The pipeline's layer forward (pipeline/layer_forward.c), run over all layers of a tiny
 * checkpoint from the embeddings through the final norm and lm_head, gives the same
 * logits as the verification runtime (qf_runtime, F32 weights) on the same tokens: the
 * runtime is the independent check (itself tested against transformers). Covers GQA,
 * q/k/v biases (Qwen2), sliding window (Mistral), llama3 / yarn / dynamic RoPE, tied
 * embeddings. Tolerance 1e-4 absolute on logits of magnitude ~1 (different summation
 * orders only). Also the softmax alone against a double one (check_softmax). */
#include <cblas.h>
#include <math.h>

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

/* qf_layer_softmax_rows against softmax in double (libm exp): each probability within
 * 1.3e-7 (qf_cpu_exp_neg) + (n + 5) 2^-24 (the float sum, the reciprocal, the product)
 * relative plus what the float s - max's rounding moves (see below), keys outside
 * lo(t)..t exactly 0; rows of 1 .. 300 keys, scores spread over
 * +-30 (so e^x spans 1e-26 .. 1), with and without a sliding window, a block starting at
 * r0 > 0. */
static void check_softmax(int64_t r0, int64_t r1, int64_t window) {
    const int64_t ld = r1;
    float *s = malloc((size_t)((r1 - r0) * ld) * sizeof *s);
    double *x = malloc((size_t)((r1 - r0) * ld) * sizeof *x);
    uint64_t st = 12345u + (uint64_t)r0;
    for (int64_t k = 0; k < (r1 - r0) * ld; k++) {
        st = st * 6364136223846793005u + 1442695040888963407u;
        s[k] = (float)((double)(st >> 11) / 9007199254740992.0 * 60.0 - 30.0);
        x[k] = s[k];
    }
    qf_layer_softmax_rows(s, ld, r0, r1, window);
    int bad = 0;
    for (int64_t t = r0; t < r1; t++) {
        const float *p = s + (t - r0) * ld;
        const double *xt = x + (t - r0) * ld;
        const int64_t lo = (window > 0 && t - window + 1 > 0) ? t - window + 1 : 0;
        double mx = -INFINITY, sum = 0.0, wdev = 0.0;
        for (int64_t j = lo; j <= t; j++) mx = xt[j] > mx ? xt[j] : mx;
        for (int64_t j = lo; j <= t; j++) {
            sum += exp(xt[j] - mx);
            wdev += exp(xt[j] - mx) * (mx - xt[j]);
        }
        /* the float s - max is off by up to 2^-24 |s - max|, which moves e^(s - max) by
         * that much relative, and the sum by its e-weighted mean */
        const double rel = 1.3e-7 + (double)(t - lo + 5) * ldexp(1.0, -24) + ldexp(wdev / sum, -23);
        for (int64_t j = 0; j < r1; j++) {
            const double want = j >= lo && j <= t ? exp(xt[j] - mx) / sum : 0.0;
            const double err = fabs((double)p[j] - want);
            const double tol = (rel + ldexp(mx - xt[j], -23)) * want + 1e-37;
            if (!(err <= tol) && bad++ < 3)
                fprintf(stderr, "softmax row %lld key %lld: %.9g vs %.9g\n", (long long)t,
                        (long long)j, (double)p[j], want);
        }
    }
    CHECK_MSG(bad == 0, "softmax r0 %lld r1 %lld window %lld: %d probabilities off",
              (long long)r0, (long long)r1, (long long)window, bad);
    free(s);
    free(x);
}

int main(void) {
    check_softmax(0, 300, 0);
    check_softmax(0, 300, 37);
    check_softmax(256, 300, 0);
    check_model(QF_FIXTURES_DIR "/hf/tiny-llama");
    check_model(QF_FIXTURES_DIR "/runtime/llama-gqa-bias");
    check_model(QF_FIXTURES_DIR "/runtime/qwen2-bias");
    check_model(QF_FIXTURES_DIR "/runtime/mistral-sliding");
    check_model(QF_FIXTURES_DIR "/runtime/llama-tied-llama3");
    check_model(QF_FIXTURES_DIR "/runtime/llama-dynamic");
    TEST_END();
}
