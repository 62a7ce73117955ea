/* qf_quantize_model: opens the model and the calibration data, pushes the calibration
 * samples' embeddings through the decoder layers one at a time (pipeline/
 * quantize_layer.c), checkpointing after each layer (pipeline/resume.c), then assembles
 * the artifact (pipeline/output.c). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/sha256.h"
#include "formats/hf_config.h"
#include "runtime/model_tokenizer.h"
#include "pipeline/run.h"
#include "runtime/cpu/pool.h"
#ifdef QF_HAVE_CUDA
#include "pipeline/cuda/layer_cuda.h"
#include "runtime/cuda/cuda_kernels.h"
#endif

/* sha256 over the config and every tensor's name, dtype, shape and bytes. */
static qf_status qf_pipe_model_sha(qf_qrun *r) {
    char *cfg = NULL;
    QF_FORWARD(qf_hf_config_to_json(r->cfg, NULL, &cfg));
    qf_sha256 s;
    qf_sha256_init(&s);
    qf_sha256_update(&s, cfg, strlen(cfg) + 1);
    free(cfg);
    for (size_t i = 0; i < r->m->n_tensors; i++) {
        const qf_model_tensor *t = &r->m->tensors[i];
        int64_t hdr[2 + QF_MODEL_MAX_DIMS] = {t->dtype, t->ndim};
        for (int d = 0; d < t->ndim; d++) hdr[2 + d] = t->shape[d];
        qf_sha256_update(&s, t->name, strlen(t->name) + 1);
        qf_sha256_update(&s, hdr, sizeof hdr);
        if (t->nbytes) qf_sha256_update(&s, t->data, (size_t)t->nbytes);
    }
    uint8_t d[32];
    qf_sha256_final(&s, d);
    qf_sha256_to_hex(d, r->model_sha);
    return QF_STATUS_OK;
}

/* --save-calib: the windows as a safetensors file, with their provenance. */
static qf_status qf_pipe_save_calib(const qf_qrun *r, const char *path) {
    const int64_t shape[2] = {r->calib.n_samples, r->calib.seqlen};
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->opt->calib.seed);
    qf_st_writer *w = NULL;
    QF_FORWARD(qf_st_writer_open(path, 0, &w));
    qf_status st = qf_st_writer_add_meta(w, "calib_source", r->calib.source);
    if (st == QF_STATUS_OK) st = qf_st_writer_add_meta(w, "calib_sha256", r->calib_sha);
    if (st == QF_STATUS_OK) st = qf_st_writer_add_meta(w, "seed", seed);
    if (st == QF_STATUS_OK) st = qf_st_writer_declare(w, "tokens", QF_DTYPE_I32, 2, shape);
    if (st == QF_STATUS_OK) st = qf_st_writer_write_header(w);
    if (st == QF_STATUS_OK)
        st = qf_st_writer_write(w, "tokens", r->calib.tokens,
                                (size_t)(shape[0] * shape[1]) * sizeof(int32_t));
    if (st != QF_STATUS_OK) {
        qf_st_writer_abort(w);
        return qf_error_wrap(st, "--save-calib '%s'", path);
    }
    return qf_st_writer_finish(w);
}

static qf_status qf_pipe_calibration(qf_qrun *r) {
    const qf_quantize_options *o = r->opt;
    qf_calib_options co = o->calib;
    if (co.seqlen > r->cfg->max_position_embeddings) co.seqlen = r->cfg->max_position_embeddings;
    qf_tokenizer *tok = NULL;
    QF_FORWARD(qf_model_load_tokenizer(r->m, &tok));
    qf_status st = qf_calib_load(o->calib_paths, o->n_calib_paths, tok, &co, &r->calib);
    qf_tokenizer_free(tok);
    QF_FORWARD(st);
    r->have_calib = 1;
    r->n_samples = r->calib.n_samples;
    r->seqlen = r->calib.seqlen;
    qf_sha256_to_hex(r->calib.sha256, r->calib_sha);
    return o->save_calib ? qf_pipe_save_calib(r, o->save_calib) : QF_STATUS_OK;
}

/* Layer 0's inputs: the embeddings of the calibration tokens. */
static qf_status qf_pipe_embed(qf_qrun *r) {
    const qf_model_tensor *t = qf_model_find_tensor(r->m, "model.embed_tokens.weight");
    QF_RETURN_IF(!t, QF_STATUS_NOT_FOUND, "'%s': no model.embed_tokens.weight", r->m->path);
    const int64_t hid = r->cfg->hidden_size, V = r->cfg->vocab_size, S = r->seqlen;
    float *emb = malloc((size_t)t->numel * sizeof(float));
    float *x = malloc((size_t)(S * hid) * sizeof(float));
    qf_status st = emb && x ? qf_model_tensor_read_f32(t, emb)
                            : qf_error_set(QF_STATUS_NOMEM, "out of memory for the embeddings");
    for (int64_t i = 0; i < r->n_samples && st == QF_STATUS_OK; i++) {
        const int32_t *tok = r->calib.tokens + i * S;
        for (int64_t p = 0; p < S && st == QF_STATUS_OK; p++) {
            if (tok[p] < 0 || tok[p] >= V)
                st = qf_error_set(QF_STATUS_INVALID_ARG, "calibration token id %d out of range",
                                  (int)tok[p]);
            else
                memcpy(x + p * hid, emb + (int64_t)tok[p] * hid, (size_t)hid * sizeof(float));
        }
        if (st == QF_STATUS_OK) st = qf_act_store_put(&r->x, i, x);
    }
    free(emb);
    free(x);
    return st;
}

static qf_status qf_pipe_check_options(const qf_quantize_options *o, const char *outdir) {
    const int b = o->gptq.quant.bits;
    QF_RETURN_IF(!qf_quant_method_name(o->method), QF_STATUS_INVALID_ARG,
                 "unknown quantization method");
    QF_RETURN_IF((unsigned)o->format > QF_QUANT_FORMAT_W8A8, QF_STATUS_INVALID_ARG,
                 "unknown output format");
    QF_RETURN_IF(o->method == QF_QUANT_METHOD_SMOOTHQUANT && o->format != QF_QUANT_FORMAT_W8A8,
                 QF_STATUS_INVALID_ARG, "smoothquant writes W8A8 (--format compressed-tensors)");
    QF_RETURN_IF(o->format == QF_QUANT_FORMAT_W8A8 &&
                     (b != 8 || !o->gptq.quant.sym || o->gptq.quant.group_size > 0 ||
                      o->n_dynamic || o->gptq.desc_act),
                 QF_STATUS_INVALID_ARG, "W8A8 (--format compressed-tensors) needs --bits 8 --sym "
                 "--group-size -1 and no --dynamic / --desc-act");
    QF_RETURN_IF(o->act_static && o->format != QF_QUANT_FORMAT_W8A8, QF_STATUS_INVALID_ARG,
                 "static activation scales (--act-quant tensor) are for W8A8 "
                 "(--format compressed-tensors)");
    QF_RETURN_IF(!(o->sq_alpha >= 0.0f && o->sq_alpha <= 1.0f) && o->sq_alpha != -1.0f,
                 QF_STATUS_INVALID_ARG, "--alpha must be in [0, 1] or auto");
    QF_RETURN_IF(b != 2 && b != 3 && b != 4 && b != 8, QF_STATUS_INVALID_ARG,
                 "bits must be 2, 3, 4 or 8, not %d", b);
    QF_RETURN_IF((o->method != QF_QUANT_METHOD_RTN || o->act_static) &&
                     (o->calib.n_samples <= 0 || o->calib.seqlen <= 1),
                 QF_STATUS_INVALID_ARG, "%s needs at least 1 calibration sample of 2+ tokens",
                 o->act_static ? "--act-quant tensor" : qf_quant_method_name(o->method));
    QF_RETURN_IF(qf_quant_method_awq(o->method) &&
                     (o->awq.n_grid < 1 || o->awq.n_grid > 1000 || o->awq.search_samples < 0 ||
                      o->awq.clip_grid < 1 || o->awq.clip_grid > 1000 || o->awq.clip_tokens < 1 ||
                      !(o->awq.clip_max_shrink > 0.0f && o->awq.clip_max_shrink < 1.0f)),
                 QF_STATUS_INVALID_ARG, "AWQ options out of range");
    QF_RETURN_IF(o->n_threads < 0, QF_STATUS_INVALID_ARG, "threads must be >= 0");
    QF_RETURN_IF(o->checkpoint_every < 0, QF_STATUS_INVALID_ARG,
                 "--checkpoint-every must be >= 0");
    QF_RETURN_IF(o->gptq_cuda && !qf_quant_method_gptq(o->method) &&
                     o->method != QF_QUANT_METHOD_AWQ,
                 QF_STATUS_INVALID_ARG,
                 "--device cuda: only gptq, awq and awq+gptq run on the GPU so far, not %s",
                 qf_quant_method_name(o->method));
    QF_RETURN_IF(o->gptq_cuda && (o->format == QF_QUANT_FORMAT_W8A8 || o->act_static),
                 QF_STATUS_INVALID_ARG,
                 "--device cuda: W8A8 (int8 activations in the calibration passes) runs on "
                 "the CPU only so far");
#ifdef QF_HAVE_CUDA
    if (o->gptq_cuda) QF_FORWARD(qf_error_wrap(qf_cuda_device_check(), "--device cuda: "));
#else
    QF_RETURN_IF(o->gptq_cuda, QF_STATUS_UNSUPPORTED,
                 "--device cuda: this qforge was built without CUDA support");
#endif
    QF_RETURN_IF(qf_path_exists(outdir), QF_STATUS_IO, "'%s': already exists (refusing to overwrite)",
                 outdir);
    return QF_STATUS_OK;
}

static qf_status qf_pipe_run(qf_qrun *r, int *checkpointed) {
    qf_pipe_start_clock(r);
    QF_FORWARD(qf_model_open(r->model_path, &r->m));
    QF_RETURN_IF(!r->m->has_config, QF_STATUS_INVALID_ARG,
                 "'%s' has no model config (needs config.json or GGUF metadata)", r->model_path);
    r->cfg = &r->m->config;
    r->n_layers = r->cfg->num_hidden_layers;
    QF_FORWARD(qf_pipe_gptq_config(r));
    if (r->opt->format == QF_QUANT_FORMAT_AWQ) { /* refuse before any work */
        qf_awq_config ac;
        QF_FORWARD(qf_pipe_awq_config(r, &ac));
        qf_awq_config_free(&ac);
    }
    QF_FORWARD(qf_pipe_model_sha(r));
    if (r->opt->method != QF_QUANT_METHOD_RTN || r->opt->act_static)
        QF_FORWARD(qf_pipe_calibration(r));
    QF_FORWARD(qf_pipe_params_json(r, &r->params_json));
    char scratch[QF_PIPE_PATH_MAX];
    QF_FORWARD(qf_pipe_join(scratch, r->tmpdir, "scratch"));
    if (r->have_calib)
        QF_FORWARD(qf_act_store_init(&r->x, scratch, "x", r->n_samples,
                                     (size_t)(r->seqlen * r->cfg->hidden_size), &r->budget));
    int64_t start = 0;
    QF_FORWARD(qf_pipe_begin(r, &start));
    *checkpointed = start > 0;
    const qf_quant_method m = r->opt->method;
    const uint64_t ns = (uint64_t)r->n_samples;
    uint64_t per_layer = QF_LAYER_N_LINEARS + (r->opt->act_static ? ns : 0);
    if (qf_quant_method_gptq(m)) per_layer += ns * (r->opt->true_sequential ? 5 : 2);
    if (m == QF_QUANT_METHOD_SMOOTHQUANT) { /* stats, quantized forward; auto: the FP and
                                              21 alphas' outputs (and static scales) */
        const int64_t so = r->opt->awq.search_samples;
        const uint64_t nss = so <= 0 || (uint64_t)so > ns ? ns : (uint64_t)so;
        per_layer += 2 * ns + (r->opt->sq_alpha < 0.0f ? (22 + (r->opt->act_static ? 21 : 0)) * nss : 0);
    }
    if (qf_quant_method_awq(m)) /* stats pass, 4 grids, (awq) the quantized forward */
        per_layer += ns + 4 * (uint64_t)(r->opt->awq.n_grid + 1) +
                     (m == QF_QUANT_METHOD_AWQ ? ns : 0);
    r->units_total = per_layer * (uint64_t)r->n_layers;
    r->units_done = per_layer * (uint64_t)start;
    if (r->have_calib && start == 0) QF_FORWARD(qf_pipe_embed(r));
    for (int64_t l = start; l < r->n_layers; l++) {
        QF_FORWARD(qf_pipe_quantize_layer(r, l));
        if (!qf_pipe_checkpoint_due(r, l)) continue;
        QF_FORWARD(qf_pipe_checkpoint(r, l));
        *checkpointed = 1;
    }
    qf_progress_report(r->opt->progress, "writing the artifact", r->units_total,
                       r->units_total);
    return qf_pipe_write_output(r);
}

qf_status qf_quantize_model(const char *model_path, const char *outdir,
                            const qf_quantize_options *opt) {
    QF_FORWARD(qf_pipe_check_options(opt, outdir));
    qf_qrun r;
    memset(&r, 0, sizeof r);
    r.opt = opt;
    r.model_path = model_path;
    r.outdir = outdir;
    r.budget.limit = opt->mem_budget;
    int n = snprintf(r.tmpdir, sizeof r.tmpdir, "%s.qforge-tmp", outdir);
    QF_RETURN_IF(n < 0 || (size_t)n >= sizeof r.tmpdir - 64, QF_STATUS_INVALID_ARG,
                 "path too long: %s", outdir);
    const int threads = opt->n_threads > 0 ? opt->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    r.n_threads = threads > 0 ? threads : 1;
    openblas_set_num_threads(r.n_threads);
    if (r.n_threads > 1) QF_FORWARD(qf_cpu_pool_init(r.n_threads, &r.pool));
    int checkpointed = 0;
    const int existed = qf_path_exists(r.tmpdir);
    qf_status st = qf_pipe_run(&r, &checkpointed);
    qf_act_store_free(&r.x);
    qf_cpu_pool_free(r.pool);
#ifdef QF_HAVE_CUDA
    qf_cuda_qlayer_free(r.gpu);
#endif
    /* nothing worth resuming: do not leave a temp dir behind */
    if (st != QF_STATUS_OK && !checkpointed && !existed) qf_remove_tree(r.tmpdir);
    if (r.have_calib) qf_calib_free(&r.calib);
    for (size_t i = 0; i < r.gcfg.n_dynamic; i++) free(r.gcfg.dynamic[i].pattern);
    free(r.gcfg.dynamic);
    free(r.params_json);
    qf_model_free(r.m);
    return st;
}
