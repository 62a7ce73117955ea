/* compressed-tensors W8A8 "int-quantized" checkpoints (compressed_tensors.h). */
#include "formats/compressed_tensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "formats/packed_tensors.h"

#define QF_CT_MAX_IGNORE 65536

void qf_ct_config_free(qf_ct_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_ignore; i++) free(c->ignore[i]);
    free(c->ignore);
    memset(c, 0, sizeof *c);
}

static int ct_str_is(const cJSON *o, const char *key, const char *want) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(e) && !strcasecmp(e->valuestring, want);
}

static int ct_num_is(const cJSON *o, const char *key, double want) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(e) && e->valuedouble == want;
}

/* The schemes supported: weights int8 symmetric per channel (static); inputs int8
 * symmetric, per token (dynamic) or per tensor (static, *act_static = 1). */
static qf_status ct_check_group(const cJSON *g, const char *name, const char *what,
                                int *act_static) {
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(g, "weights");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(g, "input_activations");
    const cJSON *sym_w = cJSON_GetObjectItemCaseSensitive(w, "symmetric");
    const cJSON *sym_a = cJSON_GetObjectItemCaseSensitive(a, "symmetric");
    const cJSON *dyn = cJSON_GetObjectItemCaseSensitive(a, "dynamic");
    const int ok_w = cJSON_IsObject(w) && ct_num_is(w, "num_bits", 8) && ct_str_is(w, "type", "int") &&
                     cJSON_IsTrue(sym_w) && ct_str_is(w, "strategy", "channel");
    const int token = ct_str_is(a, "strategy", "token") && cJSON_IsTrue(dyn);
    const int tensor = ct_str_is(a, "strategy", "tensor") && cJSON_IsFalse(dyn);
    const int ok_a = cJSON_IsObject(a) && ct_num_is(a, "num_bits", 8) && ct_str_is(a, "type", "int") &&
                     cJSON_IsTrue(sym_a) && (token || tensor);
    QF_RETURN_IF(!ok_w || !ok_a, QF_STATUS_UNSUPPORTED,
                 "%s: config group '%s' is not W8A8 (int8 symmetric per-channel weights, "
                 "int8 symmetric activations, dynamic per token or static per tensor); only "
                 "those schemes are supported", what, name);
    *act_static = tensor;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(g, "targets"), *e;
    int linear = 0;
    cJSON_ArrayForEach(e, t) linear |= cJSON_IsString(e) && !strcmp(e->valuestring, "Linear");
    QF_RETURN_IF(!linear || cJSON_GetArraySize(t) != 1, QF_STATUS_UNSUPPORTED,
                 "%s: config group '%s' must target [\"Linear\"]", what, name);
    return QF_STATUS_OK;
}

static qf_status ct_parse(const cJSON *o, const char *what, qf_ct_config *c) {
    QF_RETURN_IF(!cJSON_IsObject(o) || !ct_str_is(o, "quant_method", "compressed-tensors"),
                 QF_STATUS_FORMAT, "%s: quant_method is not \"compressed-tensors\"", what);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "format");
    QF_RETURN_IF(!cJSON_IsString(f) || strcmp(f->valuestring, "int-quantized"), QF_STATUS_UNSUPPORTED,
                 "%s: compressed-tensors format '%.40s' is not supported (only int-quantized)",
                 what, cJSON_IsString(f) ? f->valuestring : "?");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "quantization_status");
    QF_RETURN_IF(st && !ct_str_is(o, "quantization_status", "compressed"), QF_STATUS_UNSUPPORTED,
                 "%s: quantization_status must be \"compressed\"", what);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(o, "config_groups"), *g;
    QF_RETURN_IF(!cJSON_IsObject(groups) || cJSON_GetArraySize(groups) != 1, QF_STATUS_UNSUPPORTED,
                 "%s: exactly one config group is supported", what);
    cJSON_ArrayForEach(g, groups) {
        const cJSON *gf = cJSON_GetObjectItemCaseSensitive(g, "format");
        QF_RETURN_IF(gf && !cJSON_IsNull(gf) && !ct_str_is(g, "format", "int-quantized"),
                     QF_STATUS_UNSUPPORTED, "%s: group format must be int-quantized", what);
        QF_FORWARD(ct_check_group(g, g->string, what, &c->act_static));
    }
    const cJSON *ign = cJSON_GetObjectItemCaseSensitive(o, "ignore"), *e;
    if (!ign || cJSON_IsNull(ign)) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsArray(ign) || cJSON_GetArraySize(ign) > QF_CT_MAX_IGNORE, QF_STATUS_FORMAT,
                 "%s: ignore must be a list of names", what);
    c->ignore = calloc((size_t)cJSON_GetArraySize(ign) + 1, sizeof *c->ignore);
    QF_RETURN_IF(!c->ignore, QF_STATUS_NOMEM, "%s: out of memory", what);
    cJSON_ArrayForEach(e, ign) {
        QF_RETURN_IF(!cJSON_IsString(e), QF_STATUS_FORMAT, "%s: ignore must be a list of names", what);
        if (!strncmp(e->valuestring, "re:", 3)) {
            int err = 0;
            PCRE2_SIZE off = 0;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)(e->valuestring + 3), PCRE2_ZERO_TERMINATED,
                                           0, &err, &off, NULL);
            QF_RETURN_IF(!re, QF_STATUS_FORMAT, "%s: ignore '%.200s': bad regular expression", what,
                         e->valuestring);
            pcre2_code_free(re);
        }
        c->ignore[c->n_ignore] = strdup(e->valuestring);
        QF_RETURN_IF(!c->ignore[c->n_ignore], QF_STATUS_NOMEM, "%s: out of memory", what);
        c->n_ignore++;
    }
    return QF_STATUS_OK;
}

qf_status qf_ct_config_parse(const char *json, const char *what, qf_ct_config *c) {
    QF_RETURN_IF(!json || !what || !c, QF_STATUS_INVALID_ARG, "compressed-tensors: NULL argument");
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_Parse(json);
    QF_RETURN_IF(!o, QF_STATUS_FORMAT, "%s: not valid JSON", what);
    qf_status st = ct_parse(o, what, c);
    cJSON_Delete(o);
    if (st != QF_STATUS_OK) qf_ct_config_free(c);
    return st;
}

int qf_ct_ignored(const qf_ct_config *c, const char *name) {
    for (size_t i = 0; i < c->n_ignore; i++) {
        const char *p = c->ignore[i];
        if (strncmp(p, "re:", 3)) {
            if (!strcmp(p, name)) return 1;
            continue;
        }
        int err = 0;
        PCRE2_SIZE off = 0;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)(p + 3), PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED,
                                       &err, &off, NULL);
        pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
        const int hit = md && pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) >= 0 &&
                        pcre2_get_ovector_pointer(md)[1] == strlen(name);
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        if (hit) return 1;
    }
    return 0;
}

qf_status qf_ct_model_config(const qf_model *m, qf_ct_config *c, int *is_ct) {
    QF_RETURN_IF(!m || !c || !is_ct, QF_STATUS_INVALID_ARG, "compressed-tensors: NULL argument");
    memset(c, 0, sizeof *c);
    *is_ct = 0;
    int ct = 0;
    QF_FORWARD(qf_packed_quant_method_is(m, "compressed-tensors", &ct));
    if (!ct) return QF_STATUS_OK;
    char what[600];
    snprintf(what, sizeof what, "'%.500s': quantization_config", m->path);
    QF_FORWARD(qf_ct_config_parse(m->quant_config_json, what, c));
    *is_ct = 1;
    return QF_STATUS_OK;
}

int qf_ct_model_has(const qf_model *m, const char *prefix) {
    char name[QF_PACKED_NAME_MAX];
    if (!m || !prefix || !m->quant_config_json) return 0;
    if (qf_packed_name(name, prefix, "weight_scale") != QF_STATUS_OK) return 0;
    return qf_model_find_tensor(m, name) != NULL;
}

/* P.input_scale of a static scheme: one float (shape (1,) as llm-compressor writes it, or
 * a scalar), finite and > 0, into *scale (NULL: only checked). */
static qf_status ct_input_scale(const qf_model *m, const char *prefix, float *scale) {
    char name[QF_PACKED_NAME_MAX];
    QF_FORWARD(qf_packed_name(name, prefix, "input_scale"));
    const qf_model_tensor *t = qf_model_find_tensor(m, name);
    QF_RETURN_IF(!t, QF_STATUS_NOT_FOUND, "'%s': '%s' is missing (the config says static "
                 "per-tensor activations)", m->path, name);
    const char *file = t->file ? t->file : m->path;
    const int fdt = t->dtype == QF_DTYPE_F32 || t->dtype == QF_DTYPE_F16 || t->dtype == QF_DTYPE_BF16;
    QF_RETURN_IF(!fdt || t->ndim > 1 || (t->ndim == 1 && t->shape[0] != 1), QF_STATUS_FORMAT,
                 "tensor '%s' in '%s': expected one F32/F16/BF16 value, shape [1]", name, file);
    float v = 0.0f;
    QF_FORWARD(qf_model_tensor_read_f32(t, &v));
    QF_RETURN_IF(!(v > 0.0f) || !isfinite(v), QF_STATUS_FORMAT, "tensor '%s' in '%s': scale %g "
                 "(must be finite and > 0)", name, file, (double)v);
    if (scale) *scale = v;
    return QF_STATUS_OK;
}

static qf_status ct_find(const qf_model *m, const char *prefix, int64_t out, int64_t in,
                         const qf_model_tensor **w, const qf_model_tensor **s) {
    const int64_t wshape[2] = {out, in};
    QF_FORWARD(qf_packed_find(m, "compressed-tensors", prefix, "weight", QF_DTYPE_I8, 2, wshape, w));
    char name[QF_PACKED_NAME_MAX];
    QF_FORWARD(qf_packed_name(name, prefix, "weight_scale"));
    *s = qf_model_find_tensor(m, name);
    QF_RETURN_IF(!*s, QF_STATUS_NOT_FOUND, "'%s': '%s' is missing", m->path, name);
    const int fdt = (*s)->dtype == QF_DTYPE_F32 || (*s)->dtype == QF_DTYPE_F16 ||
                    (*s)->dtype == QF_DTYPE_BF16;
    QF_RETURN_IF(!fdt || (*s)->ndim != 2 || (*s)->shape[0] != out || (*s)->shape[1] != 1,
                 QF_STATUS_FORMAT, "tensor '%s' in '%s': expected F32/F16/BF16 [%lld, 1]", name,
                 (*s)->file ? (*s)->file : m->path, (long long)out);
    return QF_STATUS_OK;
}

qf_status qf_ct_model_check(const qf_model *m, const qf_ct_config *c, const char *prefix,
                             int64_t out, int64_t in) {
    const qf_model_tensor *w, *s;
    QF_FORWARD(ct_find(m, prefix, out, in, &w, &s));
    return c->act_static ? ct_input_scale(m, prefix, NULL) : QF_STATUS_OK;
}

qf_status qf_ct_model_read(const qf_model *m, const char *prefix, int64_t out, int64_t in,
                           int8_t **w, float **scale, float *in_scale) {
    *w = NULL, *scale = NULL, *in_scale = 0.0f;
    qf_ct_config c;
    int is_ct = 0;
    QF_FORWARD(qf_ct_model_config(m, &c, &is_ct));
    const int act_static = c.act_static;
    qf_ct_config_free(&c);
    QF_RETURN_IF(!is_ct, QF_STATUS_FORMAT, "'%s': '%s' is int8 but the model has no "
                 "compressed-tensors quantization_config", m->path, prefix);
    const qf_model_tensor *tw, *ts;
    QF_FORWARD(ct_find(m, prefix, out, in, &tw, &ts));
    if (act_static) QF_FORWARD(ct_input_scale(m, prefix, in_scale));
    *w = qf_packed_copy(tw);
    *scale = malloc((size_t)out * sizeof **scale);
    qf_status st = *w && *scale ? qf_model_tensor_read_f32(ts, *scale)
                                : qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", prefix);
    for (int64_t o = 0; st == QF_STATUS_OK && o < out; o++)
        if (!((*scale)[o] > 0.0f) || !isfinite((*scale)[o]))
            st = qf_error_set(QF_STATUS_FORMAT, "'%s.weight_scale' in '%s': row %lld has scale %g "
                              "(must be finite and > 0)", prefix, ts->file ? ts->file : m->path,
                              (long long)o, (double)(*scale)[o]);
    if (st != QF_STATUS_OK) {
        free(*w), free(*scale);
        *w = NULL, *scale = NULL;
    }
    return st;
}
