/* The artifact: OUTDIR.qforge-tmp/out gets config.json (+ quantization_config),
 * quantize_config.json, the tokenizer files, generation_config.json, model.safetensors
 * (the layer files' tensors + F16 embeddings / norms / lm_head, provenance in
 * __metadata__) and quantize_report.json; then it is renamed to OUTDIR and the temp dir
 * removed. Everything but the report is a function of the inputs, seed and thread count
 * (no timestamps). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "core/fileio.h"
#include "formats/checkpoint_files.h"
#include "formats/compressed_tensors.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "pipeline/run.h"

static qf_status qf_pipe_write_text(const char *dir, const char *name, const char *text) {
    char p[QF_PIPE_PATH_MAX];
    QF_FORWARD(qf_pipe_join(p, dir, name));
    return qf_file_write_atomic(p, text, strlen(text), 0);
}

static qf_status qf_pipe_configs(qf_qrun *r, const char *dir) {
    char *qj = NULL;
    const int awq = r->opt->format == QF_QUANT_FORMAT_AWQ, ct = r->opt->format == QF_QUANT_FORMAT_W8A8;
    if (ct) {
        char **names = NULL;
        size_t n = 0;
        qf_status s = qf_pipe_skipped(r, &names, &n);
        if (s == QF_STATUS_OK) s = qf_ct_config_to_json((const char *const *)names, n, r->opt->act_static, &qj);
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        QF_FORWARD(s);
    } else if (awq) {
        qf_awq_config ac;
        QF_FORWARD(qf_pipe_awq_config(r, &ac));
        qf_status s = qf_awq_config_to_json(&ac, &qj);
        qf_awq_config_free(&ac);
        QF_FORWARD(s);
    } else {
        QF_FORWARD(qf_gptq_config_to_json(&r->gcfg, &qj));
    }
    size_t n = strlen(qj) + 64;
    char *extra = malloc(n);
    qf_status st = extra ? QF_STATUS_OK : qf_error_set(QF_STATUS_NOMEM, "out of memory");
    if (st == QF_STATUS_OK) snprintf(extra, n, "{\"quantization_config\":%s}", qj);
    qf_model_config cfg = *r->cfg;
    snprintf(cfg.torch_dtype, sizeof cfg.torch_dtype, "float16");
    char p[QF_PIPE_PATH_MAX];
    if (st == QF_STATUS_OK) st = qf_pipe_join(p, dir, "config.json");
    if (st == QF_STATUS_OK) st = qf_hf_config_write(&cfg, extra, p, 0);
    if (st == QF_STATUS_OK && !awq && !ct) st = qf_pipe_write_text(dir, "quantize_config.json", qj);
    free(extra);
    free(qj);
    return st;
}

/* The non-layer tensors of the architecture that the source has (embeddings, final
 * norm, lm_head unless tied). */
static int qf_pipe_is_top(const qf_tensor_spec *s) {
    return strncmp(s->name, "model.layers.", 13) != 0;
}

static qf_status qf_pipe_meta(qf_qrun *r, qf_st_writer *w) {
    char base[QF_PIPE_PATH_MAX], num[32];
    qf_path_basename(r->model_path, base, sizeof base);
    QF_FORWARD(qf_st_writer_add_meta(w, "qforge.version", QF_VERSION));
    QF_FORWARD(qf_st_writer_add_meta(w, "qforge.source", base));
    QF_FORWARD(qf_st_writer_add_meta(w, "qforge.source_sha256", r->model_sha));
    QF_FORWARD(qf_st_writer_add_meta(w, "qforge.method", qf_quant_method_name(r->opt->method)));
    QF_FORWARD(qf_st_writer_add_meta(w, "qforge.params", r->params_json));
    if (!r->have_calib) return QF_STATUS_OK;
    snprintf(num, sizeof num, "%lld", (long long)r->calib.corpus_tokens);
    QF_FORWARD(qf_st_writer_add_meta(w, "qforge.calibration", r->calib.source));
    QF_FORWARD(qf_st_writer_add_meta(w, "qforge.calibration_sha256", r->calib_sha));
    QF_FORWARD(qf_st_writer_add_meta(w, "qforge.calibration_tokens", num));
    snprintf(num, sizeof num, "%llu", (unsigned long long)r->opt->calib.seed);
    return qf_st_writer_add_meta(w, "qforge.seed", num);
}

/* Declares (declare = 1) or copies every tensor of layer file `path`. */
static qf_status qf_pipe_layer_file(qf_st_writer *w, const char *path, int declare) {
    qf_st_file *f = NULL;
    QF_FORWARD(qf_st_open(path, &f));
    qf_status st = QF_STATUS_OK;
    for (size_t i = 0; i < qf_st_count(f) && st == QF_STATUS_OK; i++) {
        const qf_st_tensor *t = qf_st_get(f, i);
        st = declare ? qf_st_writer_declare(w, t->name, t->dtype, t->ndim, t->shape)
                     : qf_st_writer_write(w, t->name, t->data, (size_t)(t->end - t->begin));
    }
    qf_st_close(f);
    return st;
}

static qf_status qf_pipe_top_tensor(qf_st_writer *w, const qf_model_tensor *t, int declare) {
    if (declare) return qf_st_writer_declare(w, t->name, QF_DTYPE_F16, t->ndim, t->shape);
    float *f = malloc((size_t)t->numel * sizeof *f);
    uint16_t *h = malloc((size_t)t->numel * sizeof *h);
    qf_status st = f && h ? qf_model_tensor_read_f32(t, f)
                          : qf_error_set(QF_STATUS_NOMEM, "out of memory for '%s'", t->name);
    if (st == QF_STATUS_OK) st = qf_dtype_from_f32(QF_DTYPE_F16, f, (size_t)t->numel, h);
    if (st == QF_STATUS_OK) st = qf_st_writer_write(w, t->name, h, (size_t)t->numel * sizeof *h);
    free(f);
    free(h);
    return st;
}

static qf_status qf_pipe_tensors(qf_qrun *r, qf_st_writer *w, const qf_tensor_spec *specs,
                                 size_t n_specs, int declare) {
    for (size_t i = 0; i < n_specs; i++) {
        const qf_model_tensor *t = qf_model_find_tensor(r->m, specs[i].name);
        if (qf_pipe_is_top(&specs[i]) && t) QF_FORWARD(qf_pipe_top_tensor(w, t, declare));
    }
    char path[QF_PIPE_PATH_MAX];
    for (int64_t l = 0; l < r->n_layers; l++) {
        QF_FORWARD(qf_pipe_layer_path(r, l, path));
        QF_FORWARD(qf_pipe_layer_file(w, path, declare));
    }
    return QF_STATUS_OK;
}

static qf_status qf_pipe_weights(qf_qrun *r, const char *dir) {
    qf_tensor_spec *specs = NULL;
    size_t n_specs = 0;
    QF_FORWARD(qf_arch_tensor_specs(r->cfg, &specs, &n_specs));
    char p[QF_PIPE_PATH_MAX];
    qf_st_writer *w = NULL;
    qf_status st = qf_pipe_join(p, dir, "model.safetensors");
    if (st == QF_STATUS_OK) st = qf_st_writer_open(p, 0, &w);
    if (st == QF_STATUS_OK) st = qf_pipe_meta(r, w);
    if (st == QF_STATUS_OK) st = qf_pipe_tensors(r, w, specs, n_specs, 1);
    if (st == QF_STATUS_OK) st = qf_st_writer_write_header(w);
    if (st == QF_STATUS_OK) st = qf_pipe_tensors(r, w, specs, n_specs, 0);
    free(specs);
    if (st != QF_STATUS_OK) {
        if (w) qf_st_writer_abort(w);
        return st;
    }
    return qf_st_writer_finish(w);
}

/* The layer report stored in layer file `path`'s metadata, parsed. */
static cJSON *qf_pipe_layer_report(const char *path) {
    qf_st_file *f = NULL;
    if (qf_st_open(path, &f) != QF_STATUS_OK) return NULL;
    const char *s = qf_st_meta_find(f, "qforge.layer_report");
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    qf_st_close(f);
    return j;
}

static qf_status qf_pipe_report(qf_qrun *r, const char *dir) {
    cJSON *j = cJSON_CreateObject();
    QF_RETURN_IF(!j, QF_STATUS_NOMEM, "out of memory");
    cJSON_AddStringToObject(j, "tool", "qforge " QF_VERSION);
    cJSON_AddStringToObject(j, "command_line", r->opt->command_line ? r->opt->command_line : "");
    cJSON_AddStringToObject(j, "model", r->model_path);
    cJSON_AddStringToObject(j, "model_sha256", r->model_sha);
    cJSON_AddItemToObject(j, "params", cJSON_Parse(r->params_json));
    if (r->have_calib) {
        cJSON *c = cJSON_AddObjectToObject(j, "calibration");
        cJSON_AddStringToObject(c, "source", r->calib.source);
        cJSON_AddStringToObject(c, "sha256", r->calib_sha);
        cJSON_AddNumberToObject(c, "corpus_tokens", (double)r->calib.corpus_tokens);
        cJSON_AddNumberToObject(c, "samples", (double)r->n_samples);
        cJSON_AddNumberToObject(c, "seqlen", (double)r->seqlen);
        char seed[24];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->opt->calib.seed);
        cJSON_AddStringToObject(c, "seed", seed);
    } else {
        cJSON_AddNullToObject(j, "calibration");
    }
    cJSON_AddNumberToObject(j, "threads", r->opt->n_threads);
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    char path[QF_PIPE_PATH_MAX];
    for (int64_t l = 0; l < r->n_layers; l++) {
        cJSON *lr = qf_pipe_layer_path(r, l, path) == QF_STATUS_OK ? qf_pipe_layer_report(path)
                                                                  : NULL;
        if (!lr) {
            cJSON_Delete(j);
            return qf_error_set(QF_STATUS_FORMAT, "'%s': missing layer report", path);
        }
        cJSON_AddItemToArray(layers, lr);
    }
    /* across attempts (--resume): each earlier one counted up to its last checkpoint */
    cJSON_AddNumberToObject(j, "total_seconds", r->seconds_before + qf_pipe_elapsed(r));
    cJSON_AddNumberToObject(j, "peak_rss_bytes", qf_pipe_peak_rss(r));
    if (r->resumed_at) cJSON_AddNumberToObject(j, "resumed_at_layer", (double)r->resumed_at);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    QF_RETURN_IF(!s, QF_STATUS_NOMEM, "out of memory");
    qf_status st = qf_pipe_write_text(dir, "quantize_report.json", s);
    free(s);
    return st;
}

qf_status qf_pipe_write_output(qf_qrun *r) {
    char dir[QF_PIPE_PATH_MAX];
    QF_FORWARD(qf_pipe_join(dir, r->tmpdir, "out"));
    qf_remove_tree(dir);
    QF_RETURN_IF(mkdir(dir, 0755) != 0, QF_STATUS_IO, "'%s': cannot create directory: %s", dir,
                 strerror(errno));
    QF_FORWARD(qf_pipe_configs(r, dir));
    QF_FORWARD(qf_checkpoint_write_tokenizer(r->m, dir));
    QF_FORWARD(qf_checkpoint_write_generation_config(r->cfg, dir));
    QF_FORWARD(qf_pipe_weights(r, dir));
    QF_FORWARD(qf_pipe_report(r, dir));
    QF_RETURN_IF(qf_path_exists(r->outdir), QF_STATUS_IO,
                 "'%s': appeared while quantizing (refusing to overwrite)", r->outdir);
    QF_RETURN_IF(rename(dir, r->outdir) != 0, QF_STATUS_IO, "'%s': cannot rename into place: %s",
                 r->outdir, strerror(errno));
    qf_remove_tree(r->tmpdir);
    return QF_STATUS_OK;
}
