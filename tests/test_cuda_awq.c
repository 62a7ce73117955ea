/* AWQ's scale search on the GPU (pipeline/cuda/layer_cuda.h: awq) against the CPU's, on a
 * GPU (exits 77, SKIPPED, without one):
 *   - the fake quantization Q(W diag(s)) diag(s)^-1 bit for bit equal to
 *     qf_awq_fake_quant (4-bit asymmetric g32 with GPTQ v1's zero >= 1, 3-bit symmetric
 *     per-channel, 8-bit with f32 scales; random scales, a short last group);
 *   - a random GQA layer with biases (hidden 64, 4 / 2 heads of 16, MLP 96, 24 positions,
 *     3 samples, 2 of them searched): the |x| means of the four groups' inputs bit for bit
 *     equal to sums over the CPU layer's activations (same double sums, same order), and
 *     every group's block-output loss for three candidate scale vectors within 1e-5
 *     relative of the CPU's (pipeline/awq_layer.c's blocks with the fake-quantized
 *     weights; fp32 GEMMs in another order). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "awq/awq.h"
#include "pipeline/cuda/layer_cuda.h"
#include "pipeline/layer.h"
#include "runtime/cuda/cuda_kernels.h"
#include "tests/test.h"
#include "tests/test_random.h"

enum { HID = 64, NH = 4, NKV = 2, HD = 16, INTER = 96, S = 24, NS = 3, NSEARCH = 2 };

static float *dev(const float *h, int64_t n) {
    float *d = NULL;
    CHECK_OK(qf_cuda_malloc((void **)&d, (size_t)n * sizeof *d, "test"));
    CHECK_OK(qf_cuda_upload(d, h, (size_t)n * sizeof *d));
    return d;
}

static void test_fake_quant(void) {
    const qf_quant_params ps[3] = {{.bits = 4, .sym = 0, .group_size = 32, .zero_min = 1},
                                   {.bits = 3, .sym = 1, .group_size = -1},
                                   {.bits = 8, .sym = 0, .group_size = 48, .scale_f32 = 1}};
    const int64_t out = 40, in = 100; /* 100 = 3 x 32 + 4, 2 x 48 + 4: short last groups */
    for (int k = 0; k < 3; k++) {
        float *w = qf_test_rnd(out * in, 0.5f, 0.0f), *s = qf_test_rnd(in, 0.9f, 1.0f);
        float *want = malloc(out * in * sizeof *want), *got = malloc(out * in * sizeof *got);
        CHECK_OK(qf_awq_fake_quant(w, out, in, s, &ps[k], want));
        float *dw = dev(w, out * in), *ds = dev(s, in), *dd = dev(w, out * in);
        const qf_cuda_awq_grid g = {ps[k].bits, ps[k].sym, ps[k].scale_f32, ps[k].zero_min,
                                    ps[k].group_size};
        CHECK_OK(qf_cuda_awq_fake_quant(dw, out, in, ds, &g, dd, NULL));
        CHECK_OK(qf_cuda_download(got, dd, out * in * sizeof *got));
        int64_t differ = 0;
        for (int64_t i = 0; i < out * in; i++) differ += memcmp(&got[i], &want[i], 4) != 0;
        CHECK_MSG(differ == 0, "fake quant %d: %lld of %lld values differ", k, (long long)differ,
                  (long long)(out * in));
        qf_cuda_free(dw), qf_cuda_free(ds), qf_cuda_free(dd);
        free(w), free(s), free(want), free(got);
    }
}

/* The CPU side: the layer, its stats over the samples, the FP block outputs. */
typedef struct cpu {
    qf_model_config cfg;
    qf_layer_ctx ctx;
    qf_layer_weights lw;
    float *x[NS];
    double sum[4][INTER];
    float *in[4][NSEARCH], *y_attn[NSEARCH], *y_mlp[NSEARCH];
} cpu;

static const int64_t widths[4] = {HID, NH * HD, HID, INTER};

static void cpu_stats(cpu *c) {
    float xn[S * HID], att[S * NH * HD], h[S * INTER], y[S * HID], x[S * HID];
    for (int i = 0; i < NS; i++) {
        memcpy(x, c->x[i], sizeof x);
        const float *ins[4] = {xn, att, xn, h};
        for (int g = 0; g < 4; g++) {
            if (g == 0) qf_layer_attn_norm(&c->ctx, &c->lw, x, xn);
            if (g == 1) qf_layer_attention(&c->ctx, &c->lw, xn, att);
            if (g == 2) {
                qf_layer_apply(&c->ctx, &c->lw, QF_LAYER_O, att, S, y, 0);
                if (i < NSEARCH) memcpy(c->y_attn[i], y, sizeof y);
                for (int k = 0; k < S * HID; k++) x[k] += y[k];
                qf_layer_mlp_norm(&c->ctx, &c->lw, x, xn);
            }
            if (g == 3) qf_layer_mlp_hidden(&c->ctx, &c->lw, xn, h);
            for (int t = 0; t < S; t++)
                for (int64_t j = 0; j < widths[g]; j++)
                    c->sum[g][j] += (double)fabsf(ins[g][t * widths[g] + j]);
            if (i < NSEARCH) memcpy(c->in[g][i], ins[g], (size_t)(S * widths[g]) * sizeof(float));
        }
        if (i < NSEARCH) qf_layer_apply(&c->ctx, &c->lw, QF_LAYER_DOWN, h, S, c->y_mlp[i], 0);
    }
}

/* qf_awq_loss1: group g's block with its linears fake-quantized on grid p, scales s. */
static double cpu_loss(cpu *c, int g, const float *s, const qf_quant_params *p) {
    qf_layer_weights lw = c->lw;
    float *fq[3] = {NULL};
    const int *lin = qf_layer_scale_linears((qf_layer_scale_group)g);
    for (int j = 0; lin[j] >= 0; j++) {
        fq[j] = malloc((size_t)(lw.out[lin[j]] * lw.in[lin[j]]) * sizeof(float));
        CHECK_OK(qf_awq_fake_quant(c->lw.w[lin[j]], lw.out[lin[j]], lw.in[lin[j]], s, p, fq[j]));
        lw.w[lin[j]] = fq[j];
    }
    float att[S * NH * HD], h[S * INTER], y[S * HID];
    double sum = 0.0;
    for (int i = 0; i < NSEARCH; i++) {
        const float *in = c->in[g][i];
        if (g == 0) qf_layer_attention(&c->ctx, &lw, in, att);
        if (g == 2) qf_layer_mlp_hidden(&c->ctx, &lw, in, h);
        if (g < 2) qf_layer_apply(&c->ctx, &lw, QF_LAYER_O, g == 0 ? att : in, S, y, 0);
        else qf_layer_apply(&c->ctx, &lw, QF_LAYER_DOWN, g == 2 ? h : in, S, y, 0);
        const float *ref = g < 2 ? c->y_attn[i] : c->y_mlp[i];
        for (int k = 0; k < S * HID; k++) sum += ((double)y[k] - ref[k]) * ((double)y[k] - ref[k]);
    }
    for (int j = 0; j < 3; j++) free(fq[j]);
    return sum / (double)(NSEARCH * S * HID);
}

static void test_search(void) {
    cpu c;
    memset(&c, 0, sizeof c);
    c.cfg.hidden_size = HID, c.cfg.num_attention_heads = NH, c.cfg.num_key_value_heads = NKV;
    c.cfg.head_dim = HD, c.cfg.intermediate_size = INTER, c.cfg.rms_norm_eps = 1e-5;
    c.cfg.rope_theta = 10000.0, c.cfg.max_position_embeddings = 4096;
    CHECK_OK(qf_layer_ctx_init(&c.ctx, &c.cfg, S, 0));
    const int64_t outs[7] = {NH * HD, NKV * HD, NKV * HD, HID, INTER, INTER, HID};
    const int64_t ins[7] = {HID, HID, HID, NH * HD, HID, HID, INTER};
    for (int i = 0; i < 7; i++) {
        c.lw.out[i] = outs[i], c.lw.in[i] = ins[i];
        c.lw.w[i] = qf_test_rnd(outs[i] * ins[i], 1.7f / sqrtf((float)ins[i]), 0.0f);
        c.lw.b[i] = i <= QF_LAYER_V ? qf_test_rnd(outs[i], 0.1f, 0.0f) : NULL;
    }
    c.lw.ln1 = qf_test_rnd(HID, 0.5f, 1.0f), c.lw.ln2 = qf_test_rnd(HID, 0.5f, 1.0f);
    for (int i = 0; i < NS; i++) c.x[i] = qf_test_rnd(S * HID, 1.0f, 0.0f);
    for (int i = 0; i < NSEARCH; i++) {
        for (int g = 0; g < 4; g++) c.in[g][i] = malloc((size_t)(S * widths[g]) * sizeof(float));
        c.y_attn[i] = malloc(S * HID * sizeof(float)), c.y_mlp[i] = malloc(S * HID * sizeof(float));
    }
    cpu_stats(&c);

    const qf_cuda_qshape sh = {.hidden = HID, .heads = NH, .kv_heads = NKV, .head_dim = HD,
                               .intermediate = INTER, .eps = 1e-5f, .n_samples = NS, .seqlen = S};
    qf_cuda_qlayer *q = NULL;
    qf_cuda_awq *a = NULL;
    CHECK_OK(qf_cuda_qlayer_init(&sh, c.ctx.cos_t, c.ctx.sin_t, &q));
    qf_cuda_qweights w = {.ln1 = c.lw.ln1, .ln2 = c.lw.ln2};
    for (int i = 0; i < 7; i++) w.w[i] = c.lw.w[i], w.b[i] = c.lw.b[i];
    CHECK_OK(qf_cuda_qlayer_load(q, &w));
    for (int i = 0; i < NS; i++) CHECK_OK(qf_cuda_qlayer_put_x(q, i, c.x[i]));
    CHECK_OK(qf_cuda_awq_init(q, NSEARCH, 0, &a));
    for (int i = 0; i < NS && a; i++) CHECK_OK(qf_cuda_awq_stats(a, i));
    const qf_quant_params p = {.bits = 4, .sym = 0, .group_size = 32, .zero_min = 1};
    const qf_cuda_awq_grid grid[3] = {{4, 0, 0, 1, 32}, {4, 0, 0, 1, 32}, {4, 0, 0, 1, 32}};
    for (int g = 0; g < 4 && a; g++) {
        float xm[INTER];
        CHECK_OK(qf_cuda_awq_x_mean(a, g, xm));
        int differ = 0;
        for (int64_t j = 0; j < widths[g]; j++)
            differ += xm[j] != (float)(c.sum[g][j] / (double)(NS * S));
        CHECK_MSG(differ == 0, "group %d: %d of %lld means differ", g, differ, (long long)widths[g]);
        const int *lin = qf_layer_scale_linears((qf_layer_scale_group)g);
        int n = 0;
        while (lin[n] >= 0) n++;
        for (int k = 0; k < 3; k++) { /* the identity and two random scalings */
            float *s = qf_test_rnd(widths[g], k ? 0.8f : 0.0f, 1.0f);
            double got = 0.0;
            CHECK_OK(qf_cuda_awq_loss(a, g, lin, n, grid, s, &got));
            const double want = cpu_loss(&c, g, s, &p);
            CHECK_MSG(fabs(got - want) <= 1e-5 * want, "group %d candidate %d: loss %.9g vs CPU %.9g",
                      g, k, got, want);
            free(s);
        }
    }
    qf_cuda_awq_free(a);
    qf_cuda_qlayer_free(q);
    for (int i = 0; i < NS; i++) free(c.x[i]);
    for (int i = 0; i < NSEARCH; i++) {
        for (int g = 0; g < 4; g++) free(c.in[g][i]);
        free(c.y_attn[i]), free(c.y_mlp[i]);
    }
    qf_layer_weights_free(&c.lw);
    qf_layer_ctx_free(&c.ctx);
}

int main(void) {
    if (qf_cuda_device_check() != QF_STATUS_OK) {
        printf("CUDA AWQ search: SKIPPED (no GPU: %s)\n", qf_error_message());
        return 77;
    }
    test_fake_quant();
    test_search();
    TEST_END();
}
