/* qf_runtime_forward: the Llama-family decoder on the CPU. Tokens are processed in
 * chunks of at most QF_RUNTIME_CHUNK; each chunk runs every layer as one job of the
 * runtime's thread pool (threads split the output rows of the linears and the
 * (kv head, query block) tasks of the attention, and each keeps its own copy of the
 * residual stream), appends its keys/values to the KV cache, then hands its logits to the
 * callback in blocks. OpenBLAS is held to one thread meanwhile: the parallelism is ours. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "runtime/cpu/kernels.h"
#include "runtime/runtime_impl.h"
#ifdef QF_HAVE_CUDA
#include "runtime/cuda/forward.h"
#endif

/* x (m, hidden) = embedding rows of tok[0..m). */
static void qf_forward_embed(const qf_runtime *rt, const int32_t *tok, int64_t m, float *x) {
    const int64_t hid = rt->cfg.hidden_size;
    for (int64_t t = 0; t < m; t++) {
        if (rt->embed.dtype == QF_DTYPE_F16)
            qf_cpu_f16_to_f32((const uint16_t *)rt->embed.w + (int64_t)tok[t] * hid, x + t * hid,
                              hid);
        else
            memcpy(x + t * hid, (const float *)rt->embed.w + (int64_t)tok[t] * hid,
                   (size_t)hid * sizeof(float));
    }
}

static qf_cpu_attn qf_forward_attn_shape(const qf_runtime *rt) {
    const qf_model_config *c = &rt->cfg;
    return (qf_cpu_attn){
        .n_heads = c->num_attention_heads,
        .n_kv = c->num_key_value_heads,
        .head_dim = c->head_dim,
        .cap = rt->kv_cap,
        .window = c->sliding_window,
        .scale = (float)(1.0 / sqrt((double)c->head_dim)),
    };
}

/* First index i >= 0 with 2 * i >= x. */
static int64_t qf_forward_half_up(int64_t x) { return x <= 0 ? 0 : (x + 1) / 2; }

/* Thread ith's share of the q, k and v projections in whole heads: the work list is the
 * q heads (weight 1 each) then the (k, v) head pairs (weight 2), split by weight. The
 * thread rotates its q and k heads and stores its k/v pairs in the cache (positions
 * p0..p0+m-1) without waiting for the other threads. */
static void qf_forward_qkv(qf_runtime *rt, const qf_runtime_layer *ly, const float *xn,
                           int64_t l, int64_t p0, int64_t m, int ith, int nth, float *scratch) {
    const qf_model_config *c = &rt->cfg;
    const int64_t d = c->head_dim, half = d / 2, nh = c->num_attention_heads;
    const int64_t nkv = c->num_key_value_heads;
    int64_t w0, w1;
    qf_cpu_share(nh + 2 * nkv, ith, nth, &w0, &w1);
    const int64_t q0 = w0 < nh ? w0 : nh, q1 = w1 < nh ? w1 : nh;
    if (q0 < q1) {
        qf_cpu_linear_rows(&ly->q, xn, m, rt->q, q0 * d, q1 * d, scratch);
        qf_cpu_rope_apply(rt->q + q0 * d, m, nh * d, q1 - q0, half, rt->rope_cos, rt->rope_sin);
    }
    int64_t k0 = qf_forward_half_up(w0 - nh), k1 = qf_forward_half_up(w1 - nh);
    k0 = k0 < nkv ? k0 : nkv;
    k1 = k1 < nkv ? k1 : nkv;
    if (k0 >= k1) return;
    qf_cpu_linear_rows(&ly->k, xn, m, rt->k, k0 * d, k1 * d, scratch);
    qf_cpu_linear_rows(&ly->v, xn, m, rt->v, k0 * d, k1 * d, scratch);
    qf_cpu_rope_apply(rt->k + k0 * d, m, nkv * d, k1 - k0, half, rt->rope_cos, rt->rope_sin);
    const qf_cpu_attn a = qf_forward_attn_shape(rt);
    const size_t layer = (size_t)(l * nkv * a.cap * d);
    for (int64_t h = k0; h < k1; h++)
        for (int64_t t = 0; t < m; t++)
            qf_cpu_attention_store(&a, rt->k_cache + layer, rt->v_cache + layer, h, p0 + t,
                                   rt->k + (t * nkv + h) * d, rt->v + (t * nkv + h) * d);
}

/* Thread ith's share of gate and up (the same rows of both), then SwiGLU on them. */
static void qf_forward_gate_up(qf_runtime *rt, const qf_runtime_layer *ly, const float *xn,
                               int64_t m, int ith, int nth, float *scratch) {
    const int64_t inter = rt->cfg.intermediate_size;
    int64_t g0, g1;
    qf_cpu_share((inter + 15) / 16, ith, nth, &g0, &g1);
    const int64_t r0 = g0 * 16, r1 = g1 * 16 < inter ? g1 * 16 : inter;
    if (r0 >= r1) return;
    qf_cpu_linear_rows(&ly->gate, xn, m, rt->gate, r0, r1, scratch);
    qf_cpu_linear_rows(&ly->up, xn, m, rt->up, r0, r1, scratch);
    for (int64_t t = 0; t < m; t++)
        qf_cpu_swiglu(rt->gate + t * inter + r0, rt->up + t * inter + r0, r1 - r0);
}

/* Key ranges per kv head for a decode step: enough that every thread gets two tasks
 * (SmolLM2: 3 kv heads x 2 ranges on 2 threads), 1 when the kv heads alone do that. */
static int64_t qf_forward_key_splits(const qf_runtime *rt, int64_t m, int nth) {
    const int64_t nkv = rt->cfg.num_key_value_heads;
    return m == 1 && nkv < 2 * nth ? (2 * nth + nkv - 1) / nkv : 1;
}

static void qf_forward_attention(qf_runtime *rt, int64_t l, int64_t p0, int64_t m, int ith,
                                 int nth, float *scratch) {
    const qf_cpu_attn a = qf_forward_attn_shape(rt);
    const size_t layer = (size_t)(l * a.n_kv * a.cap * a.head_dim);
    const float *kc = rt->k_cache + layer, *vc = rt->v_cache + layer;
    const int64_t group = a.n_heads / a.n_kv, d = a.head_dim;
    const int64_t splits = qf_forward_key_splits(rt, m, nth);
    if (splits > 1) {
        /* decode: (kv head, key range) tasks into rt->part_*, merged by qf_forward_merge */
        const int64_t blocks = (p0 + QF_CPU_ATTN_KEYS) / QF_CPU_ATTN_KEYS;
        for (int64_t task = ith; task < a.n_kv * splits; task += nth) {
            const int64_t kvh = task / splits, sp = task % splits;
            const int64_t k_lo = blocks * sp / splits * QF_CPU_ATTN_KEYS;
            int64_t k_hi = blocks * (sp + 1) / splits * QF_CPU_ATTN_KEYS;
            k_hi = k_hi < p0 + 1 ? k_hi : p0 + 1;
            qf_cpu_attention_partial(&a, rt->q, p0, kvh * group, (kvh + 1) * group, k_lo, k_hi,
                                     kc, vc, rt->part_acc + task * group * d,
                                     rt->part_max + task * group, rt->part_sum + task * group,
                                     scratch);
        }
        return;
    }
    /* a task is (query block, kv head) with all the query heads of the group, which share
     * each key block as it is read (splitting a group across threads instead reads the
     * cache once per head: slower, 111 vs 125 tok/s at 1k context) */
    const int64_t qblocks = (m + QF_CPU_ATTN_QUERIES - 1) / QF_CPU_ATTN_QUERIES;
    /* later query blocks see more keys: hand them out first, round robin */
    for (int64_t task = ith; task < qblocks * a.n_kv; task += nth) {
        const int64_t qb = qblocks - 1 - task / a.n_kv, h0 = task % a.n_kv * group;
        const int64_t t0 = qb * QF_CPU_ATTN_QUERIES;
        const int64_t t1 = t0 + QF_CPU_ATTN_QUERIES < m ? t0 + QF_CPU_ATTN_QUERIES : m;
        qf_cpu_attention_block(&a, rt->q, p0, t0, t1, h0, h0 + group, kc, vc, rt->att, scratch);
    }
}

/* The attention output o_proj reads: rt->att, or after a split decode step the merged
 * key ranges, which each thread computes itself (a few hundred floats) into its own
 * buffer rather than waiting at one more barrier. */
static const float *qf_forward_att(qf_runtime *rt, int64_t m, int ith, int nth) {
    const int64_t splits = qf_forward_key_splits(rt, m, nth);
    if (splits == 1) return rt->att;
    const qf_model_config *c = &rt->cfg;
    const int64_t d = c->head_dim, group = c->num_attention_heads / c->num_key_value_heads;
    float *att = rt->att_own + (size_t)(ith * c->num_attention_heads * d);
    for (int64_t kvh = 0; kvh < c->num_key_value_heads; kvh++)
        qf_cpu_attention_merge(splits, group, d, rt->part_acc + kvh * splits * group * d,
                               rt->part_max + kvh * splits * group,
                               rt->part_sum + kvh * splits * group, att + kvh * group * d);
    return att;
}

/* A thread's private residual stream: x += tmp, then xn = rmsnorm(x) with w (m rows). */
static void qf_forward_residual_norm(const qf_runtime *rt, const float *w, int64_t m, float *x,
                                     float *xn) {
    const int64_t hid = rt->cfg.hidden_size;
    for (int64_t i = 0; i < m * hid; i++) x[i] += rt->tmp[i];
    qf_cpu_rmsnorm(x, w, xn, m, hid, (float)rt->cfg.rms_norm_eps);
}

typedef struct qf_forward_job {
    qf_runtime *rt;
    const int32_t *tok;
    int64_t p0, m; /* tokens: m at positions p0.. (layers); m rows from row p0 (lm_head) */
} qf_forward_job;

/* Every layer for tokens[0..m) at positions p0.., leaving the final normalised hidden
 * states in each thread's xn. Runs on every thread of the pool. Barriers only where a
 * step reads what other threads wrote (q/k/v and the cache -> attention -> o_proj -> every
 * thread's residual; gate/up -> down_proj -> every thread's residual). */
static void qf_forward_layers(void *arg, int ith, int nth) {
    const qf_forward_job *job = arg;
    qf_runtime *rt = job->rt;
    qf_cpu_pool *pool = rt->pool;
    const int64_t p0 = job->p0, m = job->m;
    const qf_model_config *c = &rt->cfg;
    const int64_t hid = c->hidden_size;
    float *scratch = rt->scratch + (size_t)ith * rt->scratch_floats;
    float *x = rt->x + (size_t)(ith * rt->chunk * hid);
    float *xn = rt->xn + (size_t)(ith * rt->chunk * hid);
    qf_forward_embed(rt, job->tok, m, x);
    qf_cpu_rmsnorm(x, rt->layers[0].attn_norm, xn, m, hid, (float)c->rms_norm_eps);
    for (int64_t l = 0; l < c->num_hidden_layers; l++) {
        const qf_runtime_layer *ly = &rt->layers[l];
        qf_forward_qkv(rt, ly, xn, l, p0, m, ith, nth, scratch);
        qf_cpu_pool_barrier(pool);
        qf_forward_attention(rt, l, p0, m, ith, nth, scratch);
        qf_cpu_pool_barrier(pool);
        qf_cpu_linear_forward(&ly->o, qf_forward_att(rt, m, ith, nth), m, rt->tmp, ith, nth,
                              scratch);
        qf_cpu_pool_barrier(pool);
        qf_forward_residual_norm(rt, ly->mlp_norm, m, x, xn);
        qf_forward_gate_up(rt, ly, xn, m, ith, nth, scratch);
        qf_cpu_pool_barrier(pool);
        qf_cpu_linear_forward(&ly->down, rt->gate, m, rt->tmp, ith, nth, scratch);
        qf_cpu_pool_barrier(pool);
        /* the next layer's input norm, or the final norm before the logits */
        qf_forward_residual_norm(
            rt, l + 1 < c->num_hidden_layers ? rt->layers[l + 1].attn_norm : rt->final_norm, m,
            x, xn);
    }
}

/* lm_head over normalised rows [p0, p0 + m) of xn into rt->logits. */
static void qf_forward_lm_head(void *arg, int ith, int nth) {
    const qf_forward_job *job = arg;
    qf_runtime *rt = job->rt;
    qf_cpu_linear_forward(rt->lm_head, rt->xn + job->p0 * rt->cfg.hidden_size, job->m,
                          rt->logits, ith, nth, rt->scratch + (size_t)ith * rt->scratch_floats);
}

static qf_status qf_forward_check(const qf_runtime *rt, const int32_t *tokens, int64_t n,
                                  int64_t logits_from) {
    QF_RETURN_IF(!tokens || n <= 0, QF_STATUS_INVALID_ARG,
                 "qf_runtime_forward: need at least one token (n = %lld)", (long long)n);
    QF_RETURN_IF(logits_from < 0 || logits_from > n, QF_STATUS_INVALID_ARG,
                 "qf_runtime_forward: logits_from %lld is outside [0, %lld]",
                 (long long)logits_from, (long long)n);
    QF_RETURN_IF(n > rt->max_ctx - rt->pos, QF_STATUS_INVALID_ARG,
                 "qf_runtime_forward: KV cache overflow: %lld tokens at position %lld exceed "
                 "the context of %lld tokens",
                 (long long)n, (long long)rt->pos, (long long)rt->max_ctx);
    for (int64_t i = 0; i < n; i++)
        QF_RETURN_IF(tokens[i] < 0 || tokens[i] >= rt->cfg.vocab_size, QF_STATUS_INVALID_ARG,
                     "qf_runtime_forward: token %lld has id %d, outside the vocabulary [0, %lld)",
                     (long long)i, (int)tokens[i], (long long)rt->cfg.vocab_size);
    return QF_STATUS_OK;
}

/* Runs the chunks; rt->pos advances only when everything succeeded. */
static qf_status qf_forward_run(qf_runtime *rt, const int32_t *tokens, int64_t n,
                                int64_t logits_from, qf_logits_fn fn, void *user) {
    const int64_t half = rt->cfg.head_dim / 2;
    float attn_factor;
    qf_cpu_rope_freqs(&rt->cfg, rt->pos + n, rt->inv_freq, &attn_factor);
    for (int64_t c0 = 0; c0 < n; c0 += rt->chunk) {
        const int64_t m = n - c0 < rt->chunk ? n - c0 : rt->chunk, p0 = rt->pos + c0;
        qf_cpu_rope_table(rt->inv_freq, half, attn_factor, p0, m, rt->rope_cos, rt->rope_sin);
        qf_forward_job job = {.rt = rt, .tok = tokens + c0, .p0 = p0, .m = m};
        qf_cpu_pool_run(rt->pool, qf_forward_layers, &job);
        if (!fn) continue;
        for (int64_t r = logits_from > c0 ? logits_from - c0 : 0; r < m; r += rt->logits_rows) {
            const int64_t cnt = m - r < rt->logits_rows ? m - r : rt->logits_rows;
            qf_forward_job head = {.rt = rt, .p0 = r, .m = cnt};
            qf_cpu_pool_run(rt->pool, qf_forward_lm_head, &head);
            QF_FORWARD(fn(user, c0 + r, cnt, rt->logits));
        }
    }
    rt->pos += n;
    return QF_STATUS_OK;
}

qf_status qf_runtime_forward(qf_runtime *rt, const int32_t *tokens, int64_t n, int64_t logits_from,
                             qf_logits_fn fn, void *user) {
    QF_RETURN_IF(!rt, QF_STATUS_INVALID_ARG, "qf_runtime_forward: runtime is NULL");
    QF_FORWARD(qf_forward_check(rt, tokens, n, logits_from));
#ifdef QF_HAVE_CUDA
    if (rt->cuda) {
        QF_FORWARD(qf_cuda_runtime_forward(rt->cuda, tokens, n, rt->pos, logits_from, fn, user));
        rt->pos += n;
        return QF_STATUS_OK;
    }
#endif
    const int blas_threads = openblas_get_num_threads();
    if (blas_threads != 1) openblas_set_num_threads(1);
    qf_status st = qf_forward_run(rt, tokens, n, logits_from, fn, user);
    if (blas_threads != 1) openblas_set_num_threads(blas_threads);
    return st;
}
