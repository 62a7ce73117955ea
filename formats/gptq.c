/* GPTQ checkpoints in qf_model terms: declaring and writing one packed linear into a
 * safetensors writer, and checking / reading the packed linears of an opened checkpoint
 * (shapes and dtypes checked before any data is touched; every value validated on
 * read). */
#include "formats/gptq.h"
#include "formats/packed_tensors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


typedef struct gptq_shapes {
    int64_t qweight[2], qzeros[2], scales[2], g_idx[1];
} gptq_shapes;

static qf_status gptq_shapes_of(int bits, int64_t out, int64_t in, int64_t group_size,
                                const char *what, gptq_shapes *s) {
    QF_RETURN_IF(bits != 2 && bits != 3 && bits != 4 && bits != 8, QF_STATUS_UNSUPPORTED,
                 "%s: GPTQ bits %d not in {2, 3, 4, 8}", what, bits);
    QF_RETURN_IF(out <= 0 || in <= 0 || out > INT64_MAX / 8 || in > INT64_MAX / 8,
                 QF_STATUS_FORMAT, "%s: bad linear shape (%lld, %lld)", what, (long long)out,
                 (long long)in);
    QF_RETURN_IF((in * bits) % 32 != 0 || (out * bits) % 32 != 0, QF_STATUS_UNSUPPORTED,
                 "%s: shape (out %lld, in %lld) cannot be packed at %d bits (in*bits and "
                 "out*bits must be multiples of 32)",
                 what, (long long)out, (long long)in, bits);
    int64_t g = (group_size <= 0 || group_size >= in) ? in : group_size;
    int64_t ng = (in + g - 1) / g;
    *s = (gptq_shapes){{in * bits / 32, out}, {ng, out * bits / 32}, {ng, out}, {in}};
    return QF_STATUS_OK;
}

qf_status qf_gptq_declare(qf_st_writer *w, const char *prefix, int bits, int64_t out,
                          int64_t in, int64_t group_size, int has_bias) {
    QF_RETURN_IF(!w || !prefix, QF_STATUS_INVALID_ARG, "gptq declare: NULL argument");
    gptq_shapes s;
    QF_FORWARD(gptq_shapes_of(bits, out, in, group_size, prefix, &s));
    char name[QF_PACKED_NAME_MAX];
    QF_FORWARD(qf_packed_name(name, prefix, "qweight"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_I32, 2, s.qweight));
    QF_FORWARD(qf_packed_name(name, prefix, "qzeros"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_I32, 2, s.qzeros));
    QF_FORWARD(qf_packed_name(name, prefix, "scales"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_F16, 2, s.scales));
    QF_FORWARD(qf_packed_name(name, prefix, "g_idx"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_I32, 1, s.g_idx));
    if (has_bias) {
        int64_t bshape[1] = {out};
        QF_FORWARD(qf_packed_name(name, prefix, "bias"));
        QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_F16, 1, bshape));
    }
    return QF_STATUS_OK;
}

static qf_status gptq_write_one(qf_st_writer *w, const char *prefix, const char *suffix,
                                const void *data, size_t nbytes) {
    char name[QF_PACKED_NAME_MAX];
    QF_FORWARD(qf_packed_name(name, prefix, suffix));
    return qf_st_writer_write(w, name, data, nbytes);
}

qf_status qf_gptq_write(qf_st_writer *w, const char *prefix, const qf_qweight *q,
                        const float *bias, qf_gptq_format fmt) {
    QF_RETURN_IF(!w || !prefix || !q, QF_STATUS_INVALID_ARG, "gptq write: NULL argument");
    gptq_shapes s;
    QF_FORWARD(gptq_shapes_of(q->bits, q->out, q->in, q->group_size, prefix, &s));
    size_t nw = (size_t)(s.qweight[0] * s.qweight[1]), nz = (size_t)(s.qzeros[0] * s.qzeros[1]);
    size_t ns = (size_t)(s.scales[0] * s.scales[1]), ni = (size_t)q->in;
    int32_t *qw = malloc(nw * 4), *qz = malloc(nz * 4), *gi = malloc(ni * 4);
    uint16_t *sc = malloc(ns * 2), *bh = bias ? malloc((size_t)q->out * 2) : NULL;
    qf_status st = QF_STATUS_OK;
    if (!qw || !qz || !gi || !sc || (bias && !bh))
        st = qf_error_set(QF_STATUS_NOMEM, "gptq write '%s': out of memory", prefix);
    if (st == QF_STATUS_OK) {
        st = qf_gptq_pack(q, fmt, qw, qz, sc, gi);
        if (st != QF_STATUS_OK) st = qf_error_wrap(st, "'%s': ", prefix);
    }
    if (st == QF_STATUS_OK) st = gptq_write_one(w, prefix, "qweight", qw, nw * 4);
    if (st == QF_STATUS_OK) st = gptq_write_one(w, prefix, "qzeros", qz, nz * 4);
    if (st == QF_STATUS_OK) st = gptq_write_one(w, prefix, "scales", sc, ns * 2);
    if (st == QF_STATUS_OK) st = gptq_write_one(w, prefix, "g_idx", gi, ni * 4);
    if (st == QF_STATUS_OK && bias) {
        for (int64_t o = 0; o < q->out; o++) bh[o] = qf_fp32_to_fp16(bias[o]);
        st = gptq_write_one(w, prefix, "bias", bh, (size_t)q->out * 2);
    }
    free(qw);
    free(qz);
    free(gi);
    free(sc);
    free(bh);
    return st;
}

/* ---- reading --------------------------------------------------------------------- */

qf_status qf_gptq_model_config(const qf_model *m, qf_gptq_config *c, int *is_gptq) {
    QF_RETURN_IF(!m || !c || !is_gptq, QF_STATUS_INVALID_ARG, "gptq: NULL argument");
    memset(c, 0, sizeof *c);
    *is_gptq = 0;
    if (!m->quant_config_json) return QF_STATUS_OK;
    cJSON *o = cJSON_Parse(m->quant_config_json);
    QF_RETURN_IF(!o, QF_STATUS_FORMAT, "'%s': quantization_config is not valid JSON", m->path);
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(o, "quant_method");
    qf_status st = QF_STATUS_OK;
    if (qm && !cJSON_IsString(qm))
        st = qf_error_set(QF_STATUS_FORMAT, "'%s': quantization_config.quant_method must be a "
                          "string", m->path);
    else if (qm && (!strcasecmp(qm->valuestring, "awq") ||
                    !strcasecmp(qm->valuestring, "compressed-tensors"))) { /* formats/awq.c,
                                                                             compressed_tensors.c */
        cJSON_Delete(o);
        return QF_STATUS_OK;
    } else if (qm && strcasecmp(qm->valuestring, "gptq") != 0)
        st = qf_error_set(QF_STATUS_UNSUPPORTED, "'%s': quant_method '%.64s' is not supported yet",
                          m->path, qm->valuestring);
    cJSON_Delete(o);
    QF_FORWARD(st);
    char what[600];
    snprintf(what, sizeof what, "'%.500s': quantization_config", m->path);
    QF_FORWARD(qf_gptq_config_parse(m->quant_config_json, what, c));
    *is_gptq = 1;
    return QF_STATUS_OK;
}

typedef struct gptq_tensors {
    const qf_model_tensor *qweight, *qzeros, *scales, *g_idx;
} gptq_tensors;

static qf_status gptq_find_all(const qf_model *m, const qf_gptq_config *c, const char *prefix,
                               int64_t out, int64_t in, int *bits, int64_t *group,
                               gptq_tensors *ts) {
    int skip = 0;
    QF_FORWARD(qf_gptq_config_for_module(c, prefix, &skip, bits, group));
    QF_RETURN_IF(skip, QF_STATUS_FORMAT,
                 "'%s': '%s' is stored quantized but the config's dynamic rules leave it "
                 "unquantized", m->path, prefix);
    gptq_shapes s;
    QF_FORWARD(gptq_shapes_of(*bits, out, in, *group, prefix, &s));
    QF_FORWARD(qf_packed_find(m, "GPTQ", prefix, "qweight", QF_DTYPE_I32, 2, s.qweight, &ts->qweight));
    QF_FORWARD(qf_packed_find(m, "GPTQ", prefix, "qzeros", QF_DTYPE_I32, 2, s.qzeros, &ts->qzeros));
    QF_FORWARD(qf_packed_find(m, "GPTQ", prefix, "scales", QF_DTYPE_F16, 2, s.scales, &ts->scales));
    QF_FORWARD(qf_packed_find(m, "GPTQ", prefix, "g_idx", QF_DTYPE_I32, 1, s.g_idx, &ts->g_idx));
    return QF_STATUS_OK;
}

qf_status qf_gptq_model_check(const qf_model *m, const qf_gptq_config *c, const char *prefix,
                              int64_t out, int64_t in) {
    QF_RETURN_IF(!m || !c || !prefix, QF_STATUS_INVALID_ARG, "gptq check: NULL argument");
    int bits = 0;
    int64_t group = 0;
    gptq_tensors ts;
    return gptq_find_all(m, c, prefix, out, in, &bits, &group, &ts);
}

int qf_gptq_model_has(const qf_model *m, const char *prefix) {
    char name[QF_PACKED_NAME_MAX];
    if (!m || !prefix || !m->quant_config_json) return 0;
    if (qf_packed_name(name, prefix, "qweight") != QF_STATUS_OK) return 0;
    return qf_model_find_tensor(m, name) != NULL;
}

qf_status qf_gptq_model_read(const qf_model *m, const char *prefix, qf_qweight *dst,
                             float **bias) {
    QF_RETURN_IF(!m || !prefix || !dst || !bias, QF_STATUS_INVALID_ARG,
                 "gptq read: NULL argument");
    memset(dst, 0, sizeof *dst);
    *bias = NULL;
    qf_gptq_config c;
    int is_gptq = 0;
    QF_FORWARD(qf_gptq_model_config(m, &c, &is_gptq));
    char name[QF_PACKED_NAME_MAX];
    qf_status st = is_gptq ? qf_packed_name(name, prefix, "qweight")
                           : qf_error_set(QF_STATUS_INVALID_ARG,
                                          "'%s': not a GPTQ checkpoint", m->path);
    const qf_model_tensor *qw = st == QF_STATUS_OK ? qf_model_find_tensor(m, name) : NULL;
    if (st == QF_STATUS_OK && (!qw || qw->ndim != 2))
        st = qf_error_set(QF_STATUS_NOT_FOUND, "'%s': no 2-d GPTQ tensor '%s'", m->path, name);
    int bits = 0;
    int64_t group = 0;
    gptq_tensors ts;
    if (st == QF_STATUS_OK) {
        int skip = 0;
        st = qf_gptq_config_for_module(&c, prefix, &skip, &bits, &group);
    }
    if (st == QF_STATUS_OK) {
        int64_t out = qw->shape[1], rows = qw->shape[0];
        int64_t in = rows > 0 && rows <= INT64_MAX / 32 && (rows * 32) % bits == 0
                         ? rows * 32 / bits
                         : 0;
        st = gptq_find_all(m, &c, prefix, out, in, &bits, &group, &ts);
        if (st == QF_STATUS_OK)
            st = qf_qweight_init(dst, bits, c.sym, out, in, group <= 0 ? -1 : group, 0);
    }
    int fmt = c.format;
    qf_gptq_config_free(&c);
    void *bw = NULL, *bz = NULL, *bs = NULL, *bg = NULL;
    if (st == QF_STATUS_OK) {
        bw = qf_packed_copy(ts.qweight), bz = qf_packed_copy(ts.qzeros);
        bs = qf_packed_copy(ts.scales), bg = qf_packed_copy(ts.g_idx);
        if (!bw || !bz || !bs || !bg)
            st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", prefix);
    }
    if (st == QF_STATUS_OK) {
        char what[QF_PACKED_NAME_MAX + 600];
        snprintf(what, sizeof what, "'%s' in '%s'", prefix,
                 ts.qweight->file ? ts.qweight->file : m->path);
        st = qf_gptq_unpack(bw, bz, bs, bg, (qf_gptq_format)fmt, dst, what);
    }
    free(bw);
    free(bz);
    free(bs);
    free(bg);
    if (st == QF_STATUS_OK) st = qf_packed_read_bias(m, prefix, dst->out, bias);
    if (st != QF_STATUS_OK) {
        qf_qweight_free(dst);
        free(*bias);
        *bias = NULL;
    }
    return st;
}
