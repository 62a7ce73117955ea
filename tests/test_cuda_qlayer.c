/* The GPU calibration layer (pipeline/cuda/layer_cuda.h) against the CPU's (pipeline/
 * layer.h + gptq/hessian.c), on a GPU (exits 77, SKIPPED, without one):
 *   - the causal softmax kernel against qf_layer_softmax_rows (with and without a
 *     sliding window): every probability within 1e-6 (expf within 2 ulp, sums in another
 *     order);
 *   - a random GQA layer with q/k/v biases (hidden 64, 4 heads / 2 kv heads of 16, MLP 96,
 *     40 positions, 3 samples, sink weight 4), with and without a sliding window of 16:
 *     true_sequential's passes QKV, O, GU, DOWN, OUT with every linear's weight replaced
 *     between them (as GPTQ does) on both sides, keeping the attention outputs / MLP
 *     hiddens between passes and recomputing them, then ALL_H + FULL on a fresh state;
 *     after each pass the four Hessians, the kept activations and X are held to the CPU's: |gpu - cpu| <= tol * max|cpu| over each array, tol 2e-5 in fp32 (sums
 *     in another order), 2e-2 with TF32 (inputs of every product rounded to 11 significant
 *     bits, through several chained products). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gptq/gptq.h"
#include "pipeline/cuda/layer_cuda.h"
#include "pipeline/layer.h"
#include "runtime/cuda/cuda_kernels.h"
#include "tests/test.h"
#include "tests/test_random.h"

enum { HID = 64, NH = 4, NKV = 2, HD = 16, INTER = 96, S = 40, NS = 3 };
#define SINK 4.0f

static void test_softmax(int64_t window) {
    const int64_t rows = NH * S;
    float *a = qf_test_rnd(rows * S, 8.0f, 0.0f), *b = malloc((size_t)(rows * S) * sizeof *b), *d = NULL;
    memcpy(b, a, (size_t)(rows * S) * sizeof *b);
    CHECK_OK(qf_cuda_malloc((void **)&d, (size_t)(rows * S) * sizeof *d, "test"));
    CHECK_OK(qf_cuda_upload(d, a, (size_t)(rows * S) * sizeof *d));
    CHECK_OK(qf_cuda_causal_softmax(d, rows, S, window, NULL));
    CHECK_OK(qf_cuda_download(a, d, (size_t)(rows * S) * sizeof *d));
    for (int64_t h = 0; h < NH; h++) qf_layer_softmax_rows(b + h * S * S, S, 0, S, window);
    double worst = 0.0;
    for (int64_t i = 0; i < rows * S; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    CHECK_MSG(worst <= 1e-6, "softmax window %lld: worst %.3g", (long long)window, worst);
    qf_cuda_free(d);
    free(a), free(b);
}

typedef struct side {
    qf_layer_weights lw;
    qf_layer_ctx ctx;
    float *x[NS], *att[NS], *h[NS], *xn, *att1, *h1;
    qf_gptq_hessian H[4];
} side;

static const int64_t widths[4] = {HID, NH * HD, HID, INTER};

static qf_model_config config(int64_t window) {
    qf_model_config c;
    memset(&c, 0, sizeof c);
    c.hidden_size = HID, c.num_attention_heads = NH, c.num_key_value_heads = NKV;
    c.head_dim = HD, c.intermediate_size = INTER, c.sliding_window = window;
    c.rms_norm_eps = 1e-5, c.rope_theta = 10000.0, c.max_position_embeddings = 4096;
    c.num_hidden_layers = 1, c.vocab_size = 100;
    return c;
}

static void make_weights(qf_layer_weights *lw) {
    memset(lw, 0, sizeof *lw);
    const int64_t outs[7] = {NH * HD, NKV * HD, NKV * HD, HID, INTER, INTER, HID};
    const int64_t ins[7] = {HID, HID, HID, NH * HD, HID, HID, INTER};
    for (int i = 0; i < 7; i++) {
        lw->out[i] = outs[i], lw->in[i] = ins[i];
        lw->w[i] = qf_test_rnd(outs[i] * ins[i], 1.7f / sqrtf((float)ins[i]), 0.0f);
        lw->b[i] = i <= QF_LAYER_V ? qf_test_rnd(outs[i], 0.1f, 0.0f) : NULL;
    }
    lw->ln1 = qf_test_rnd(HID, 0.5f, 1.0f), lw->ln2 = qf_test_rnd(HID, 0.5f, 1.0f);
}

/* A "quantized" weight: w rounded to a grid of 1/32 of its row's max (both sides). */
static void requantize(float *w, int64_t out, int64_t in) {
    for (int64_t o = 0; o < out; o++) {
        float mx = 0.0f;
        for (int64_t k = 0; k < in; k++) mx = fmaxf(mx, fabsf(w[o * in + k]));
        const float step = mx / 32.0f;
        for (int64_t k = 0; k < in; k++) w[o * in + k] = roundf(w[o * in + k] / step) * step;
    }
}

static void cpu_hadd(side *c, int g, const float *x) {
    float rw[S];
    for (int t = 0; t < S; t++) rw[t] = t == 0 ? SINK : 1.0f;
    CHECK_OK(qf_gptq_hessian_add_weighted(&c->H[g], x, S, rw));
}

/* The CPU side of pass p on sample i (quantize_layer.c's qf_pipe_sample_pass). */
static void cpu_pass(side *c, qf_layer_pass p, int i) {
    qf_layer_ctx *x = &c->ctx;
    const qf_layer_weights *lw = &c->lw;
    float *X = c->x[i];
    switch (p) {
    case QF_PASS_QKV: qf_layer_attn_norm(x, lw, X, c->xn), cpu_hadd(c, 0, c->xn); break;
    case QF_PASS_O:
        qf_layer_attn_norm(x, lw, X, c->xn);
        qf_layer_attention(x, lw, c->xn, c->att[i]);
        cpu_hadd(c, 1, c->att[i]);
        break;
    case QF_PASS_GU:
        qf_layer_o_residual(x, lw, c->att[i], X);
        qf_layer_mlp_norm(x, lw, X, c->xn);
        cpu_hadd(c, 2, c->xn);
        break;
    case QF_PASS_DOWN:
        qf_layer_mlp_norm(x, lw, X, c->xn);
        qf_layer_mlp_hidden(x, lw, c->xn, c->h[i]);
        cpu_hadd(c, 3, c->h[i]);
        break;
    case QF_PASS_OUT: qf_layer_down_residual(x, lw, c->h[i], X); break;
    case QF_PASS_ALL_H: {
        float y[S * HID];
        memcpy(y, X, sizeof y);
        qf_layer_attn_norm(x, lw, y, c->xn);
        cpu_hadd(c, 0, c->xn);
        qf_layer_attention(x, lw, c->xn, c->att1);
        cpu_hadd(c, 1, c->att1);
        qf_layer_o_residual(x, lw, c->att1, y);
        qf_layer_mlp_norm(x, lw, y, c->xn);
        cpu_hadd(c, 2, c->xn);
        qf_layer_mlp_hidden(x, lw, c->xn, c->h1);
        cpu_hadd(c, 3, c->h1);
        break;
    }
    case QF_PASS_FULL: qf_layer_forward(x, lw, X, c->xn, c->att1, c->h1); break;
    }
}

/* Every Hessian, the kept activations and X of both sides against each other. */
static void compare(const char *tag, side *c, qf_cuda_qlayer *q, qf_cuda_gptq_hessian *D,
                    double tol) {
    const int keep = qf_cuda_qlayer_keeps(q);
    char what[160];
    for (int g = 0; g < 4; g++) {
        if (!c->H[g].count) continue;
        qf_gptq_hessian h;
        CHECK_OK(qf_gptq_hessian_init(&h, widths[g]));
        CHECK_OK(qf_cuda_gptq_hessian_download(&D[g], &h));
        CHECK(h.count == c->H[g].count);
        for (int64_t r = 0; r < widths[g]; r++) /* the upper triangles */
            for (int64_t k = 0; k < r; k++) h.h[r * widths[g] + k] = c->H[g].h[r * widths[g] + k];
        snprintf(what, sizeof what, "%s H%d", tag, g);
        qf_test_close(what, h.h, c->H[g].h, widths[g] * widths[g], tol);
        qf_gptq_hessian_free(&h);
    }
    float *x = malloc(S * HID * sizeof *x), *att = malloc(S * NH * HD * sizeof *att);
    float *hh = malloc(S * INTER * sizeof *hh);
    for (int i = 0; i < NS; i++) {
        CHECK_OK(qf_cuda_qlayer_get_x(q, i, x));
        snprintf(what, sizeof what, "%s X[%d]", tag, i);
        qf_test_close(what, x, c->x[i], S * HID, tol);
        if (!keep) continue;
        CHECK_OK(qf_cuda_qlayer_get_kept(q, i, att, hh));
        snprintf(what, sizeof what, "%s att[%d]", tag, i);
        qf_test_close(what, att, c->att[i], S * NH * HD, tol);
        snprintf(what, sizeof what, "%s h[%d]", tag, i);
        qf_test_close(what, hh, c->h[i], S * INTER, tol);
    }
    free(x), free(att), free(hh);
}

enum { SEQ_KEEP, SEQ_RECOMPUTE, ALL_H };

static void run(int64_t window, int tf32, int mode) {
    const double tol = tf32 ? 2e-2 : 2e-5;
    static const char *const modes[3] = {"sequential kept", "sequential recomputed", "all-H"};
    const int seq = mode != ALL_H;
    char tag[64];
    snprintf(tag, sizeof tag, "window %lld %s %s", (long long)window, tf32 ? "tf32" : "fp32",
             modes[mode]);
    const qf_model_config cfg = config(window);
    side c;
    memset(&c, 0, sizeof c);
    make_weights(&c.lw);
    CHECK_OK(qf_layer_ctx_init(&c.ctx, &cfg, S, 0));
    for (int i = 0; i < NS; i++) {
        c.x[i] = qf_test_rnd(S * HID, 1.0f, 0.0f);
        c.att[i] = calloc(S * NH * HD, sizeof(float));
        c.h[i] = calloc(S * INTER, sizeof(float));
    }
    c.xn = malloc(S * HID * sizeof(float));
    c.att1 = malloc(S * NH * HD * sizeof(float));
    c.h1 = malloc(S * INTER * sizeof(float));
    qf_cuda_gptq_hessian D[4];
    memset(D, 0, sizeof D);
    for (int g = 0; g < 4; g++) {
        CHECK_OK(qf_gptq_hessian_init(&c.H[g], widths[g]));
        CHECK_OK(qf_cuda_gptq_hessian_init(&D[g], widths[g]));
        if (tf32) CHECK_OK(qf_cuda_gptq_hessian_tf32(&D[g]));
    }
    const qf_cuda_qshape s = {.hidden = HID, .heads = NH, .kv_heads = NKV, .head_dim = HD,
                              .intermediate = INTER, .window = window, .eps = 1e-5f,
                              .n_samples = NS, .seqlen = S, .keep = mode == SEQ_KEEP,
                              .tf32 = tf32};
    qf_cuda_qlayer *q = NULL;
    CHECK_OK(qf_cuda_qlayer_init(&s, c.ctx.cos_t, c.ctx.sin_t, &q));
    CHECK(q && qf_cuda_qlayer_keeps(q) == (mode == SEQ_KEEP)); /* a few KB: they fit */
    qf_cuda_qweights w = {.ln1 = c.lw.ln1, .ln2 = c.lw.ln2};
    for (int i = 0; i < 7; i++) w.w[i] = c.lw.w[i], w.b[i] = c.lw.b[i];
    CHECK_OK(qf_cuda_qlayer_load(q, &w));
    for (int i = 0; i < NS; i++) CHECK_OK(qf_cuda_qlayer_put_x(q, i, c.x[i]));
    /* the linears each pass quantizes after it */
    static const int after[4][4] = {{QF_LAYER_K, QF_LAYER_V, QF_LAYER_Q, -1}, {QF_LAYER_O, -1},
                                    {QF_LAYER_UP, QF_LAYER_GATE, -1}, {QF_LAYER_DOWN, -1}};
    const qf_layer_pass order[5] = {QF_PASS_QKV, QF_PASS_O, QF_PASS_GU, QF_PASS_DOWN, QF_PASS_OUT};
    const qf_layer_pass all[2] = {QF_PASS_ALL_H, QF_PASS_FULL};
    const int np = seq ? 5 : 2;
    for (int k = 0; k < np && q; k++) {
        const qf_layer_pass p = seq ? order[k] : all[k];
        for (int i = 0; i < NS; i++) {
            cpu_pass(&c, p, i);
            CHECK_OK(qf_cuda_qlayer_pass(q, p, i, D, SINK));
        }
        char t[96];
        snprintf(t, sizeof t, "%.60s pass %d", tag, (int)p);
        compare(t, &c, q, D, tol);
        for (int j = 0; j < 7 && (seq ? k < 4 : k == 0); j++) {
            const int lin = seq ? after[k][j] : j;
            if (lin < 0) break;
            requantize(c.lw.w[lin], c.lw.out[lin], c.lw.in[lin]);
            CHECK_OK(qf_cuda_qlayer_set_weight(q, lin, c.lw.w[lin]));
        }
    }
    printf("%s: %d checks so far\n", tag, qf_test_checks);
    qf_cuda_qlayer_free(q);
    for (int g = 0; g < 4; g++) qf_gptq_hessian_free(&c.H[g]), qf_cuda_gptq_hessian_free(&D[g]);
    for (int i = 0; i < NS; i++) free(c.x[i]), free(c.att[i]), free(c.h[i]);
    free(c.xn), free(c.att1), free(c.h1);
    qf_layer_ctx_free(&c.ctx);
    qf_layer_weights_free(&c.lw);
}

int main(void) {
    const qf_status dev = qf_cuda_device_check();
    if (dev != QF_STATUS_OK) {
        printf("CUDA calibration layer: SKIPPED (no GPU: %s)\n", qf_error_message());
        return 77;
    }
    test_softmax(0);
    test_softmax(7);
    for (int tf32 = 0; tf32 < 2; tf32++)
        for (int mode = SEQ_KEEP; mode <= ALL_H; mode++) {
            run(0, tf32, mode);
            run(16, tf32, mode);
        }
    TEST_END();
}
