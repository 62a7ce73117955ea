/* The transforms' scale folds (pipeline/layer_fold.c, shared by AWQ and SmoothQuant) are
 * exact rewrites: a decoder layer of a tiny checkpoint with q/k/v and MLP biases gives
 * the same output (float rounding only) after each fold with random factors spanning
 * 1/8..8: input_layernorm -> q,k,v, post_attention_layernorm -> gate,up, up -> down on
 * the checkpoint's GQA layer (4 query heads, 2 kv heads, where v -> o is refused), and
 * v -> o on the same layer made multi-head (k and v replaced by random 4-head ones).
 * A fold of the wrong width or the wrong side would change the output; one mismatched
 * fold (o's columns scaled in reverse order) is checked to be caught. */
#include <math.h>
#include <string.h>

#include "formats/model.h"
#include "pipeline/layer.h"
#include "tests/test.h"
#include "tests/test_random.h"

#define SEQ 12
#define DIR QF_FIXTURES_DIR "/runtime/llama-gqa-bias"

/* The layer's output on x (malloc'ed). */
static float *layer_out(qf_layer_ctx *c, const qf_layer_weights *lw, const float *x) {
    const qf_model_config *cfg = c->cfg;
    const int64_t n = SEQ * cfg->hidden_size;
    float *y = malloc((size_t)n * sizeof *y), *xn = malloc((size_t)n * sizeof *xn);
    float *att = malloc((size_t)(SEQ * cfg->num_attention_heads * cfg->head_dim) * sizeof *att);
    float *h = malloc((size_t)(SEQ * cfg->intermediate_size) * sizeof *h);
    memcpy(y, x, (size_t)n * sizeof *y);
    qf_layer_forward(c, lw, y, xn, att, h);
    free(xn), free(att), free(h);
    return y;
}

/* max |layer(x) - y_ref| / max |y_ref| */
static double rel_diff(qf_layer_ctx *c, const qf_layer_weights *lw, const float *x,
                       const float *y_ref) {
    const int64_t n = SEQ * c->cfg->hidden_size;
    float *y = layer_out(c, lw, x);
    double d = 0.0, m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)y[i] - y_ref[i]));
        m = fmax(m, fabs((double)y_ref[i]));
    }
    free(y);
    return d / m;
}

/* n factors 2^u, u uniform in [-3, 3) */
static float *factors(int64_t n) {
    float *s = malloc((size_t)n * sizeof *s);
    for (int64_t i = 0; i < n; i++) s[i] = exp2f(3.0f * qf_test_frand());
    return s;
}

static void check_fold(qf_layer_ctx *c, qf_layer_weights *lw, qf_layer_scale_group g,
                       const float *x, const float *y_ref) {
    CHECK(qf_layer_scale_possible(lw, g));
    float *s = factors(qf_layer_scale_width(lw, g));
    qf_layer_fold_scales(lw, g, s);
    const double d = rel_diff(c, lw, x, y_ref);
    CHECK_MSG(d < 1e-5, "group %d: rel diff %g", (int)g, d);
    free(s);
}

/* Linear i of lw replaced by random weights (and bias, if it had one) with out rows. */
static void replace(qf_layer_weights *lw, int i, int64_t out) {
    free(lw->w[i]);
    lw->w[i] = qf_test_rnd(out * lw->in[i], 0.3f, 0.0f);
    if (lw->b[i]) {
        free(lw->b[i]);
        lw->b[i] = qf_test_rnd(out, 0.1f, 0.0f);
    }
    lw->out[i] = out;
}

int main(void) {
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(DIR, &m));
    if (!m) TEST_END();
    qf_model_config cfg = m->config;
    CHECK(cfg.num_key_value_heads < cfg.num_attention_heads);
    float *x = qf_test_rnd(SEQ * cfg.hidden_size, 1.0f, 0.0f);

    qf_layer_ctx c;
    CHECK_OK(qf_layer_ctx_init(&c, &cfg, SEQ, 0));
    qf_layer_weights lw;
    CHECK_OK(qf_layer_weights_load(m, 1, &lw, NULL));
    CHECK(!qf_layer_scale_possible(&lw, QF_SCALE_VO));
    float *y_ref = layer_out(&c, &lw, x);
    check_fold(&c, &lw, QF_SCALE_QKV, x, y_ref);
    check_fold(&c, &lw, QF_SCALE_GU, x, y_ref);
    check_fold(&c, &lw, QF_SCALE_UD, x, y_ref);
    qf_layer_ctx_free(&c);
    free(y_ref);

    /* multi-head: every query head has its own k and v head */
    cfg.num_key_value_heads = cfg.num_attention_heads;
    const int64_t kv = cfg.num_attention_heads * cfg.head_dim;
    replace(&lw, QF_LAYER_K, kv);
    replace(&lw, QF_LAYER_V, kv);
    CHECK_OK(qf_layer_ctx_init(&c, &cfg, SEQ, 0));
    y_ref = layer_out(&c, &lw, x);
    qf_layer_weights wrong;
    CHECK_OK(qf_layer_weights_clone(&lw, &wrong));
    check_fold(&c, &lw, QF_SCALE_VO, x, y_ref);
    float *s = factors(kv), *r = malloc((size_t)kv * sizeof *r);
    for (int64_t j = 0; j < kv; j++) r[j] = s[kv - 1 - j];
    qf_layer_fold_scales(&wrong, QF_SCALE_VO, s);
    for (int64_t o = 0; o < wrong.out[QF_LAYER_O]; o++) /* undo o's factors, apply reversed */
        for (int64_t j = 0; j < kv; j++) wrong.w[QF_LAYER_O][o * kv + j] *= r[j] / s[j];
    const double d = rel_diff(&c, &wrong, x, y_ref);
    CHECK_MSG(d > 1e-2, "a mismatched v -> o fold went unnoticed: rel diff %g", d);
    printf("folds exact; mismatched v -> o fold: rel diff %.3g\n", d);
    free(s), free(r), free(x), free(y_ref);
    qf_layer_weights_free(&lw);
    qf_layer_weights_free(&wrong);
    qf_layer_ctx_free(&c);
    qf_model_free(m);
    TEST_END();
}
