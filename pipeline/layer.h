/* One decoder layer as the pipeline sees it (private to pipeline/): its weights in f32
 * (the FP ones, replaced linear by linear with the dequantized quantized ones), and the
 * pieces of its forward pass on one calibration sample (seqlen tokens at positions
 * 0..seqlen-1), split at the inputs of the linear groups so the driver can collect
 * Hessians and quantize in between. Same maths as the runtime's forward
 * (runtime/forward.c): rmsnorm, RoPE, causal softmax attention with GQA and sliding
 * window, SwiGLU. */
#ifndef QF_PIPELINE_LAYER_H
#define QF_PIPELINE_LAYER_H

#include <stdint.h>

#include "core/status.h"
#include "formats/model.h"

typedef enum qf_layer_linear {
    QF_LAYER_Q,
    QF_LAYER_K,
    QF_LAYER_V,
    QF_LAYER_O,
    QF_LAYER_GATE,
    QF_LAYER_UP,
    QF_LAYER_DOWN,
    QF_LAYER_N_LINEARS,
} qf_layer_linear;

_Static_assert(QF_LAYER_N_LINEARS == QF_ARCH_N_LINEARS, "the pipeline's linears are the arch's");

/* "self_attn.q_proj", ..., "mlp.down_proj" */
const char *qf_layer_linear_name(qf_layer_linear i);

typedef struct qf_layer_weights {
    int64_t index;                    /* layer number */
    float *w[QF_LAYER_N_LINEARS];     /* (out, in) */
    float *b[QF_LAYER_N_LINEARS];     /* (out) or NULL */
    int64_t out[QF_LAYER_N_LINEARS], in[QF_LAYER_N_LINEARS];
    float *ln1, *ln2;                 /* (hidden) input_layernorm, post_attention_layernorm */
    unsigned act_i8;                  /* bit i: linear i's input is quantized to int8 and
                                         back first (W8A8, runtime/cpu/i8linear.h) */
    float act_scale[QF_LAYER_N_LINEARS]; /* > 0: that static per-tensor scale; 0: per token */
} qf_layer_weights;

/* act_i8 with every linear's bit set. */
#define QF_LAYER_ACT_ALL ((1u << QF_LAYER_N_LINEARS) - 1u)

struct qf_cpu_pool;
/* Reads layer `index` of m as f32 (shapes checked against the config), the tensors
 * shared out over pool's threads (NULL: this thread). */
qf_status qf_layer_weights_load(const qf_model *m, int64_t index, qf_layer_weights *lw,
                                struct qf_cpu_pool *pool);
void qf_layer_weights_free(qf_layer_weights *lw);
/* A deep copy of src (free with qf_layer_weights_free). */
qf_status qf_layer_weights_clone(const qf_layer_weights *src, qf_layer_weights *dst);


/* The per-input-channel scaling groups of the transforms (AWQ, SmoothQuant): the op
 * before a group of linears sharing one input, whose outputs are divided by s while the
 * group's columns are multiplied by s (an exact rewrite): input_layernorm -> q,k,v;
 * v_proj -> o_proj (only when v's outputs are o's inputs, i.e. no GQA);
 * post_attention_layernorm -> gate,up; up_proj -> down_proj. */
typedef enum qf_layer_scale_group {
    QF_SCALE_QKV,
    QF_SCALE_VO,
    QF_SCALE_GU,
    QF_SCALE_UD,
    QF_SCALE_N_GROUPS,
} qf_layer_scale_group;

/* The linears of group g (-1 terminated, at most 3). */
const int *qf_layer_scale_linears(qf_layer_scale_group g);
/* Input width of group g. */
int64_t qf_layer_scale_width(const qf_layer_weights *lw, qf_layer_scale_group g);
/* Whether group g can be scaled in this layer (v -> o: out(v) == in(o)). */
int qf_layer_scale_possible(const qf_layer_weights *lw, qf_layer_scale_group g);
/* Folds s (width of g) into lw: the previous op's outputs / s, the group's columns * s. */
void qf_layer_fold_scales(qf_layer_weights *lw, qf_layer_scale_group g, const float *s);

/* Query rows per attention block: scores of a block are (rows, keys up to its end). */
#define QF_LAYER_ATTN_ROWS 256

/* Per-sample scratch and RoPE tables for one seqlen. */
typedef struct qf_layer_ctx {
    const qf_model_config *cfg;
    int64_t seqlen;
    float *cos_t, *sin_t;     /* (seqlen, head_dim / 2) */
    float *q, *k, *v;         /* (seqlen, heads * head_dim), (seqlen, kv_heads * head_dim) x2 */
    float *scores;            /* (QF_LAYER_ATTN_ROWS, seqlen) */
    float *up;                /* (seqlen, intermediate) */
    float *xq;                /* (seqlen, act_width): int8-rounded linear inputs, or NULL */
    int8_t *codes;            /* (act_width): one token's int8 codes, or NULL */
    int64_t act_width;
} qf_layer_ctx;

/* act_width: the widest linear input to be quantized to int8 (lw->act_i8), 0 if none. */
qf_status qf_layer_ctx_init(qf_layer_ctx *c, const qf_model_config *cfg, int64_t seqlen,
                            int64_t act_width);
void qf_layer_ctx_free(qf_layer_ctx *c);

/* y (m, out_i) = x (m, in_i) W_i^T + b_i, or y += that when accumulate (OpenBLAS); with
 * linear i's bit of lw->act_i8 on, x quantized to int8 and back first as the int8 runtime
 * does (per token, or on the grid of lw->act_scale[i]) in c's scratch, which needs
 * m <= c->seqlen and c made with act_width >= in_i. */
void qf_layer_apply(const qf_layer_ctx *c, const qf_layer_weights *lw, qf_layer_linear i,
                    const float *x, int64_t m, float *y, int accumulate);

/* The attention's softmax: rows r0..r1-1 (query positions) of scores (row t at
 * (t - r0) * ld, keys 0..r1-1), row t over keys lo(t)..t (lo: the sliding window's
 * first key, 0 without one: window <= 0); every other key up to r1 gets 0. e^x is the
 * runtime's qf_cpu_exp_neg (within 1.3e-7 relative of expf), vectorised for the CPU's
 * SIMD level (qf_cpu_simd_level; the sum's order follows its vector width). */
void qf_layer_softmax_rows(float *scores, int64_t ld, int64_t r0, int64_t r1, int64_t window);

/* x, x1, x2: (seqlen, hidden); xn: (seqlen, hidden); att: (seqlen, heads * head_dim);
 * h: (seqlen, intermediate). */
/* xn = input_layernorm(x) */
void qf_layer_attn_norm(const qf_layer_ctx *c, const qf_layer_weights *lw, const float *x,
                        float *xn);
/* att = attention(q, k, v projections of xn), before o_proj */
void qf_layer_attention(qf_layer_ctx *c, const qf_layer_weights *lw, const float *xn,
                        float *att);
/* x += o_proj(att) */
void qf_layer_o_residual(const qf_layer_ctx *c, const qf_layer_weights *lw, const float *att,
                         float *x);
/* xn = post_attention_layernorm(x) */
void qf_layer_mlp_norm(const qf_layer_ctx *c, const qf_layer_weights *lw, const float *x,
                       float *xn);
/* h = silu(gate_proj(xn)) * up_proj(xn) */
void qf_layer_mlp_hidden(qf_layer_ctx *c, const qf_layer_weights *lw, const float *xn,
                         float *h);
/* x += down_proj(h) */
void qf_layer_down_residual(const qf_layer_ctx *c, const qf_layer_weights *lw, const float *h,
                            float *x);
/* The inputs of the layer's linear groups: xn = input_layernorm(x) (q, k, v), att (o),
 * then x += o_proj(att), xn2 = post_attention_layernorm(x) (gate, up) and, unless h is
 * NULL, h (down). */
void qf_layer_linear_inputs(qf_layer_ctx *c, const qf_layer_weights *lw, float *x, float *xn,
                            float *att, float *xn2, float *h);
/* The whole layer in place on x; xn, att, h are scratch of the sizes above. */
void qf_layer_forward(qf_layer_ctx *c, const qf_layer_weights *lw, float *x, float *xn,
                      float *att, float *h);

#endif
