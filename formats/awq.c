/* AWQ GEMM checkpoints in qf_model terms: declaring and writing one packed linear, and
 * checking / reading the packed linears of an opened checkpoint. */
#include "formats/awq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/packed_tensors.h"

typedef struct awq_shapes {
    int64_t qweight[2], qzeros[2], scales[2];
} awq_shapes;

static awq_shapes awq_shapes_of(int64_t out, int64_t in, int64_t group) {
    const int64_t ng = in / group;
    return (awq_shapes){{in, out / 8}, {ng, out / 8}, {ng, out}};
}

qf_status qf_awq_declare(qf_st_writer *w, const char *prefix, int64_t out, int64_t in,
                         int64_t group_size, int has_bias) {
    QF_RETURN_IF(!w || !prefix, QF_STATUS_INVALID_ARG, "awq declare: NULL argument");
    QF_FORWARD(qf_awq_check_shape(4, group_size, out, in, 0, prefix));
    const awq_shapes s = awq_shapes_of(out, in, group_size);
    char name[QF_PACKED_NAME_MAX];
    QF_FORWARD(qf_packed_name(name, prefix, "qweight"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_I32, 2, s.qweight));
    QF_FORWARD(qf_packed_name(name, prefix, "qzeros"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_I32, 2, s.qzeros));
    QF_FORWARD(qf_packed_name(name, prefix, "scales"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_F16, 2, s.scales));
    if (!has_bias) return QF_STATUS_OK;
    const int64_t bshape[1] = {out};
    QF_FORWARD(qf_packed_name(name, prefix, "bias"));
    return qf_st_writer_declare(w, name, QF_DTYPE_F16, 1, bshape);
}

static qf_status awq_write_one(qf_st_writer *w, const char *prefix, const char *suffix,
                               const void *data, size_t nbytes) {
    char name[QF_PACKED_NAME_MAX];
    QF_FORWARD(qf_packed_name(name, prefix, suffix));
    return qf_st_writer_write(w, name, data, nbytes);
}

qf_status qf_awq_write(qf_st_writer *w, const char *prefix, const qf_qweight *q,
                       const float *bias) {
    QF_RETURN_IF(!w || !prefix || !q, QF_STATUS_INVALID_ARG, "awq write: NULL argument");
    QF_FORWARD(qf_awq_check_shape(q->bits, q->group_size, q->out, q->in, q->g_idx != NULL,
                                  prefix));
    const awq_shapes s = awq_shapes_of(q->out, q->in, q->group_size);
    const size_t nw = (size_t)(s.qweight[0] * s.qweight[1]);
    const size_t nz = (size_t)(s.qzeros[0] * s.qzeros[1]), ns = (size_t)(s.scales[0] * s.scales[1]);
    int32_t *qw = malloc(nw * 4), *qz = malloc(nz * 4);
    uint16_t *sc = malloc(ns * 2), *bh = bias ? malloc((size_t)q->out * 2) : NULL;
    qf_status st = (qw && qz && sc && (!bias || bh))
                       ? QF_STATUS_OK
                       : qf_error_set(QF_STATUS_NOMEM, "awq write '%s': out of memory", prefix);
    if (st == QF_STATUS_OK) {
        st = qf_awq_pack(q, qw, qz, sc);
        if (st != QF_STATUS_OK) st = qf_error_wrap(st, "'%s': ", prefix);
    }
    if (st == QF_STATUS_OK) st = awq_write_one(w, prefix, "qweight", qw, nw * 4);
    if (st == QF_STATUS_OK) st = awq_write_one(w, prefix, "qzeros", qz, nz * 4);
    if (st == QF_STATUS_OK) st = awq_write_one(w, prefix, "scales", sc, ns * 2);
    if (st == QF_STATUS_OK && bias) {
        for (int64_t o = 0; o < q->out; o++) bh[o] = qf_fp32_to_fp16(bias[o]);
        st = awq_write_one(w, prefix, "bias", bh, (size_t)q->out * 2);
    }
    free(qw), free(qz), free(sc), free(bh);
    return st;
}

/* ---- reading --------------------------------------------------------------------- */

qf_status qf_awq_model_config(const qf_model *m, qf_awq_config *c, int *is_awq) {
    QF_RETURN_IF(!m || !c || !is_awq, QF_STATUS_INVALID_ARG, "awq: NULL argument");
    memset(c, 0, sizeof *c);
    *is_awq = 0;
    int awq = 0;
    QF_FORWARD(qf_packed_quant_method_is(m, "awq", &awq));
    if (!awq) return QF_STATUS_OK;
    char what[600];
    snprintf(what, sizeof what, "'%.500s': quantization_config", m->path);
    QF_FORWARD(qf_awq_config_parse(m->quant_config_json, what, c));
    *is_awq = 1;
    return QF_STATUS_OK;
}

typedef struct awq_tensors {
    const qf_model_tensor *qweight, *qzeros, *scales;
} awq_tensors;

static qf_status awq_find_all(const qf_model *m, const qf_awq_config *c, const char *prefix,
                              int64_t out, int64_t in, awq_tensors *ts) {
    for (size_t i = 0; i < c->n_not_convert; i++)
        QF_RETURN_IF(strstr(prefix, c->not_convert[i]), QF_STATUS_FORMAT,
                     "'%s': '%s' is stored quantized but modules_to_not_convert lists '%s'",
                     m->path, prefix, c->not_convert[i]);
    QF_FORWARD(qf_awq_check_shape(c->bits, c->group_size, out, in, 0, prefix));
    const awq_shapes s = awq_shapes_of(out, in, c->group_size);
    QF_FORWARD(qf_packed_find(m, "AWQ", prefix, "qweight", QF_DTYPE_I32, 2, s.qweight,
                              &ts->qweight));
    QF_FORWARD(qf_packed_find(m, "AWQ", prefix, "qzeros", QF_DTYPE_I32, 2, s.qzeros,
                              &ts->qzeros));
    return qf_packed_find(m, "AWQ", prefix, "scales", QF_DTYPE_F16, 2, s.scales, &ts->scales);
}

qf_status qf_awq_model_check(const qf_model *m, const qf_awq_config *c, const char *prefix,
                             int64_t out, int64_t in) {
    QF_RETURN_IF(!m || !c || !prefix, QF_STATUS_INVALID_ARG, "awq check: NULL argument");
    awq_tensors ts;
    return awq_find_all(m, c, prefix, out, in, &ts);
}

qf_status qf_awq_model_read(const qf_model *m, const char *prefix, qf_qweight *dst,
                            float **bias) {
    QF_RETURN_IF(!m || !prefix || !dst || !bias, QF_STATUS_INVALID_ARG,
                 "awq read: NULL argument");
    memset(dst, 0, sizeof *dst);
    *bias = NULL;
    qf_awq_config c;
    int is_awq = 0;
    QF_FORWARD(qf_awq_model_config(m, &c, &is_awq));
    char name[QF_PACKED_NAME_MAX];
    qf_status st = is_awq ? qf_packed_name(name, prefix, "qweight")
                          : qf_error_set(QF_STATUS_INVALID_ARG, "'%s': not an AWQ checkpoint",
                                         m->path);
    const qf_model_tensor *qw = st == QF_STATUS_OK ? qf_model_find_tensor(m, name) : NULL;
    if (st == QF_STATUS_OK && (!qw || qw->ndim != 2 || qw->shape[1] > INT64_MAX / 8))
        st = qf_error_set(QF_STATUS_NOT_FOUND, "'%s': no 2-d AWQ tensor '%s'", m->path, name);
    awq_tensors ts;
    if (st == QF_STATUS_OK) st = awq_find_all(m, &c, prefix, qw->shape[1] * 8, qw->shape[0], &ts);
    if (st == QF_STATUS_OK)
        st = qf_qweight_init(dst, 4, 0, qw->shape[1] * 8, qw->shape[0], c.group_size, 0);
    qf_awq_config_free(&c);
    void *bw = NULL, *bz = NULL, *bs = NULL;
    if (st == QF_STATUS_OK) {
        bw = qf_packed_copy(ts.qweight), bz = qf_packed_copy(ts.qzeros), bs = qf_packed_copy(ts.scales);
        if (!bw || !bz || !bs) st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", prefix);
    }
    if (st == QF_STATUS_OK) {
        char what[QF_PACKED_NAME_MAX + 600];
        snprintf(what, sizeof what, "'%s' in '%s'", prefix,
                 ts.qweight->file ? ts.qweight->file : m->path);
        st = qf_awq_unpack(bw, bz, bs, dst, what);
    }
    free(bw), free(bz), free(bs);
    if (st == QF_STATUS_OK) st = qf_packed_read_bias(m, prefix, dst->out, bias);
    if (st != QF_STATUS_OK) {
        qf_qweight_free(dst);
        free(*bias);
        *bias = NULL;
    }
    return st;
}
