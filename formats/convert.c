/* qf_model -> Hugging Face checkpoint directory (atomic: temp dir + rename). */
#include "formats/convert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/sha256.h"
#include "formats/checkpoint_files.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"

#define QF_CONVERT_PATH_MAX 4096

static qf_status qf_join(char *buf, const char *dir, const char *name) {
    int n = snprintf(buf, QF_CONVERT_PATH_MAX, "%s/%s", dir, name);
    QF_RETURN_IF(n < 0 || n >= QF_CONVERT_PATH_MAX, QF_STATUS_INVALID_ARG, "path too long: %s/%s",
                 dir, name);
    return QF_STATUS_OK;
}

static const char *qf_torch_dtype(qf_dtype t) {
    return t == QF_DTYPE_F16 ? "float16" : t == QF_DTYPE_BF16 ? "bfloat16" : "float32";
}

static qf_status qf_write_weights(const qf_model *m, const char *dir, const qf_convert_options *o) {
    char p[QF_CONVERT_PATH_MAX], sha[65] = "";
    QF_FORWARD(qf_join(p, dir, "model.safetensors"));
    if (m->source != QF_MODEL_SOURCE_HF_DIR) QF_FORWARD(qf_sha256_file(m->path, sha));
    qf_st_writer *w = NULL;
    QF_FORWARD(qf_st_writer_open(p, 0, &w));
    char base[QF_CONVERT_PATH_MAX];
    qf_path_basename(m->path, base, sizeof base);
    qf_status st = qf_st_writer_add_meta(w, "qforge.version", QF_VERSION);
    if (st == QF_STATUS_OK) st = qf_st_writer_add_meta(w, "qforge.converted_from", base);
    if (st == QF_STATUS_OK && sha[0]) st = qf_st_writer_add_meta(w, "qforge.source_sha256", sha);
    uint64_t max_numel = 0;
    for (size_t i = 0; i < m->n_tensors && st == QF_STATUS_OK; i++) {
        const qf_model_tensor *t = &m->tensors[i];
        if (t->numel > max_numel) max_numel = t->numel;
        st = qf_st_writer_declare(w, t->name, o->dtype, t->ndim, t->shape);
    }
    if (st == QF_STATUS_OK) st = qf_st_writer_write_header(w);
    size_t esize = o->dtype == QF_DTYPE_F32 ? 4 : 2;
    float *f32 = NULL;
    void *out = NULL;
    if (st == QF_STATUS_OK) {
        f32 = malloc((size_t)(max_numel ? max_numel : 1) * sizeof *f32);
        out = o->dtype == QF_DTYPE_F32 ? (void *)f32 : malloc((size_t)(max_numel ? max_numel : 1) * esize);
        if (!f32 || !out) st = qf_error_set(QF_STATUS_NOMEM, "out of memory for %llu elements",
                                            (unsigned long long)max_numel);
    }
    for (size_t i = 0; i < m->n_tensors && st == QF_STATUS_OK; i++) {
        const qf_model_tensor *t = &m->tensors[i];
        if (qf_progress_report(&o->progress, t->name, i, m->n_tensors)) {
            st = qf_error_set(QF_STATUS_INTERRUPTED, "interrupted");
            break;
        }
        st = qf_model_tensor_read_f32(t, f32);
        if (st == QF_STATUS_OK) st = qf_dtype_from_f32(o->dtype, f32, (size_t)t->numel, out);
        if (st == QF_STATUS_OK) st = qf_st_writer_write(w, t->name, out, (size_t)t->numel * esize);
        if (st != QF_STATUS_OK && st != QF_STATUS_INTERRUPTED)
            st = qf_error_wrap(st, "tensor '%s': ", t->name);
    }
    if (out != (void *)f32) free(out);
    free(f32);
    if (st != QF_STATUS_OK) {
        qf_st_writer_abort(w);
        return st;
    }
    QF_FORWARD(qf_st_writer_finish(w));
    qf_progress_report(&o->progress, "done", m->n_tensors, m->n_tensors);
    return QF_STATUS_OK;
}

qf_status qf_convert_to_hf(const qf_model *m, const char *outdir, const qf_convert_options *o) {
    QF_RETURN_IF(!m->has_config, QF_STATUS_INVALID_ARG,
                 "'%s' has no model config (needs config.json or GGUF metadata) to convert", m->path);
    QF_RETURN_IF(o->dtype != QF_DTYPE_F32 && o->dtype != QF_DTYPE_F16 && o->dtype != QF_DTYPE_BF16,
                 QF_STATUS_INVALID_ARG, "output dtype must be F32, F16 or BF16, not %s",
                 qf_dtype_name(o->dtype));
    QF_RETURN_IF(qf_path_exists(outdir), QF_STATUS_IO, "'%s': already exists (refusing to overwrite)",
                 outdir);
    char tmp[QF_CONVERT_PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", outdir);
    QF_RETURN_IF(n < 0 || (size_t)n >= sizeof tmp, QF_STATUS_INVALID_ARG, "path too long: %s", outdir);
    QF_RETURN_IF(!mkdtemp(tmp), QF_STATUS_IO, "'%s': cannot create temporary directory: %s", tmp,
                 strerror(errno));
    chmod(tmp, 0755);

    qf_model_config cfg = m->config;
    snprintf(cfg.torch_dtype, sizeof cfg.torch_dtype, "%s", qf_torch_dtype(o->dtype));
    char cfg_path[QF_CONVERT_PATH_MAX];
    qf_status st = qf_join(cfg_path, tmp, "config.json");
    if (st == QF_STATUS_OK) st = qf_hf_config_write(&cfg, NULL, cfg_path, 0);
    if (st == QF_STATUS_OK)
    if (st == QF_STATUS_OK) st = qf_checkpoint_write_tokenizer(m, tmp);
    if (st == QF_STATUS_OK) st = qf_checkpoint_write_generation_config(&cfg, tmp);
    if (st == QF_STATUS_OK) st = qf_write_weights(m, tmp, o);
    if (st == QF_STATUS_OK && rename(tmp, outdir) != 0)
        st = qf_error_set(QF_STATUS_IO, "'%s': cannot rename into place: %s", outdir, strerror(errno));
    if (st != QF_STATUS_OK) qf_remove_tree(tmp);
    return st;
}
