/* GPTQ quantization_config / quantize_config.json: parsing what GPTQModel, AutoGPTQ and
 * optimum write (optional keys may be missing; unknown keys are ignored), writing the
 * GPTQModel form, and the per-module `dynamic` overrides (PCRE2 patterns matched at the
 * start of the module name, first match wins, "-:" skips the module). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "formats/gptq.h"

#define QF_GPTQ_MAX_DYNAMIC 4096

static int gptq_bits_ok(double b) { return b == 2 || b == 3 || b == 4 || b == 8; }

/* Reads an optional integer member; *present = 0 when absent or null. */
static qf_status gptq_get_int(const cJSON *o, const char *key, const char *what, int *present,
                              int64_t *v) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, key);
    *present = 0;
    if (!e || cJSON_IsNull(e)) return QF_STATUS_OK;
    /* range first: converting an out-of-range double to an integer is undefined */
    QF_RETURN_IF(!cJSON_IsNumber(e) || !(e->valuedouble >= -1e12 && e->valuedouble <= 1e12) ||
                     e->valuedouble != (double)(int64_t)e->valuedouble,
                 QF_STATUS_FORMAT, "%s: '%s' must be an integer", what, key);
    *present = 1;
    *v = (int64_t)e->valuedouble;
    return QF_STATUS_OK;
}

static qf_status gptq_get_bool(const cJSON *o, const char *key, const char *what, int *v) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!e || cJSON_IsNull(e)) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsBool(e), QF_STATUS_FORMAT, "%s: '%s' must be true or false", what,
                 key);
    *v = cJSON_IsTrue(e);
    return QF_STATUS_OK;
}

static const char *gptq_get_str(const cJSON *o, const char *key) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

static qf_status gptq_check_bits_group(int64_t bits, int64_t group, const char *what,
                                       const char *where) {
    QF_RETURN_IF(!gptq_bits_ok((double)bits), QF_STATUS_UNSUPPORTED,
                 "%s: %sbits %lld is not supported (GPTQ bits are 2, 3, 4 or 8)", what, where,
                 (long long)bits);
    QF_RETURN_IF(group != -1 && group <= 0, QF_STATUS_FORMAT,
                 "%s: %sgroup_size %lld is invalid (-1 for per-channel or > 0)", what, where,
                 (long long)group);
    return QF_STATUS_OK;
}

static qf_status gptq_check_regex(const char *pattern, const char *what) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err,
                                   &off, NULL);
    if (re) {
        pcre2_code_free(re);
        return QF_STATUS_OK;
    }
    PCRE2_UCHAR msg[128];
    pcre2_get_error_message(err, msg, sizeof msg);
    return qf_error_set(QF_STATUS_FORMAT, "%s: dynamic pattern '%s' is not a valid regex: %s",
                        what, pattern, (const char *)msg);
}

static qf_status gptq_parse_dynamic(const cJSON *dyn, const char *what, qf_gptq_config *c) {
    if (!dyn || cJSON_IsNull(dyn)) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsObject(dyn), QF_STATUS_FORMAT, "%s: 'dynamic' must be an object",
                 what);
    size_t n = (size_t)cJSON_GetArraySize(dyn);
    QF_RETURN_IF(n > QF_GPTQ_MAX_DYNAMIC, QF_STATUS_FORMAT,
                 "%s: 'dynamic' has more than %d entries", what, QF_GPTQ_MAX_DYNAMIC);
    if (!n) return QF_STATUS_OK;
    c->dynamic = calloc(n, sizeof *c->dynamic);
    QF_RETURN_IF(!c->dynamic, QF_STATUS_NOMEM, "%s: out of memory", what);
    for (const cJSON *e = dyn->child; e; e = e->next) {
        qf_gptq_dynamic *d = &c->dynamic[c->n_dynamic];
        const char *key = e->string ? e->string : "";
        d->skip = strncmp(key, "-:", 2) == 0;
        const char *pat = (d->skip || strncmp(key, "+:", 2) == 0) ? key + 2 : key;
        d->pattern = strdup(pat);
        QF_RETURN_IF(!d->pattern, QF_STATUS_NOMEM, "%s: out of memory", what);
        c->n_dynamic++;
        QF_FORWARD(gptq_check_regex(pat, what));
        QF_RETURN_IF(!cJSON_IsObject(e), QF_STATUS_FORMAT,
                     "%s: dynamic entry '%s' must be an object", what, key);
        int has = 0, sym = c->sym;
        int64_t v = 0;
        QF_FORWARD(gptq_get_int(e, "bits", what, &has, &v));
        d->bits = has ? (int)v : c->bits;
        QF_FORWARD(gptq_get_int(e, "group_size", what, &has, &v));
        d->group_size = has ? v : c->group_size;
        QF_FORWARD(gptq_get_bool(e, "sym", what, &sym));
        QF_RETURN_IF(sym != c->sym, QF_STATUS_UNSUPPORTED,
                     "%s: dynamic entry '%s' changes 'sym'; not supported", what, key);
        if (!d->skip) {
            char where[64];
            snprintf(where, sizeof where, "dynamic entry %zu: ", c->n_dynamic - 1);
            QF_FORWARD(gptq_check_bits_group(d->bits, d->group_size, what, where));
        }
    }
    return QF_STATUS_OK;
}

static qf_status gptq_parse_format(const cJSON *o, const char *what, qf_gptq_config *c) {
    int marlin = 0;
    QF_FORWARD(gptq_get_bool(o, "is_marlin_format", what, &marlin));
    QF_RETURN_IF(marlin, QF_STATUS_UNSUPPORTED,
                 "%s: is_marlin_format true (Marlin-repacked weights) is not supported", what);
    const char *f = gptq_get_str(o, "checkpoint_format");
    if (!f) f = gptq_get_str(o, "format");
    const cJSON *fe = cJSON_GetObjectItemCaseSensitive(o, "checkpoint_format");
    QF_RETURN_IF(fe && !cJSON_IsNull(fe) && !cJSON_IsString(fe), QF_STATUS_FORMAT,
                 "%s: 'checkpoint_format' must be a string", what);
    if (!f || strcasecmp(f, "gptq") == 0) c->format = QF_GPTQ_FORMAT_V1;
    else if (strcasecmp(f, "gptq_v2") == 0) c->format = QF_GPTQ_FORMAT_V2;
    else
        return qf_error_set(QF_STATUS_UNSUPPORTED,
                            "%s: checkpoint_format '%.64s' is not supported ('gptq' or "
                            "'gptq_v2')",
                            what, f);
    const char *pack = gptq_get_str(o, "pack_dtype");
    QF_RETURN_IF(pack && strcmp(pack, "int32") != 0, QF_STATUS_UNSUPPORTED,
                 "%s: pack_dtype '%.32s' is not supported (int32)", what, pack);
    return QF_STATUS_OK;
}

static qf_status gptq_parse_object(const cJSON *o, const char *what, qf_gptq_config *c) {
    QF_RETURN_IF(!cJSON_IsObject(o), QF_STATUS_FORMAT, "%s: not a JSON object", what);
    const char *method = gptq_get_str(o, "quant_method");
    QF_RETURN_IF(method && strcasecmp(method, "gptq") != 0, QF_STATUS_UNSUPPORTED,
                 "%s: quant_method '%.64s' is not gptq", what, method);
    int has = 0;
    int64_t v = 0;
    QF_FORWARD(gptq_get_int(o, "bits", what, &has, &v));
    QF_RETURN_IF(!has, QF_STATUS_FORMAT, "%s: 'bits' is missing", what);
    c->bits = (int)(gptq_bits_ok((double)v) ? v : 0);
    int64_t group = 128; /* transformers' GPTQConfig default */
    int has_group = 0;
    QF_FORWARD(gptq_get_int(o, "group_size", what, &has_group, &group));
    QF_FORWARD(gptq_check_bits_group(v, has_group ? group : 128, what, ""));
    c->group_size = has_group ? group : 128;
    c->sym = 1;
    c->true_sequential = 1;
    c->damp_percent = 0.01;
    QF_FORWARD(gptq_get_bool(o, "desc_act", what, &c->desc_act));
    QF_FORWARD(gptq_get_bool(o, "sym", what, &c->sym));
    QF_FORWARD(gptq_get_bool(o, "true_sequential", what, &c->true_sequential));
    QF_FORWARD(gptq_get_bool(o, "static_groups", what, &c->static_groups));
    const cJSON *damp = cJSON_GetObjectItemCaseSensitive(o, "damp_percent");
    if (damp && !cJSON_IsNull(damp)) {
        QF_RETURN_IF(!cJSON_IsNumber(damp) || !(damp->valuedouble >= 0) ||
                         damp->valuedouble > 1,
                     QF_STATUS_FORMAT, "%s: 'damp_percent' must be a number in [0, 1]", what);
        c->damp_percent = damp->valuedouble;
    }
    QF_FORWARD(gptq_parse_format(o, what, c));
    return gptq_parse_dynamic(cJSON_GetObjectItemCaseSensitive(o, "dynamic"), what, c);
}

qf_status qf_gptq_config_parse(const char *json, const char *what, qf_gptq_config *c) {
    const char *name = what ? what : "quantization_config";
    QF_RETURN_IF(!json || !c, QF_STATUS_INVALID_ARG, "%s: NULL argument", name);
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_Parse(json);
    QF_RETURN_IF(!o, QF_STATUS_FORMAT, "%s: invalid JSON", name);
    qf_status st = gptq_parse_object(o, name, c);
    cJSON_Delete(o);
    if (st != QF_STATUS_OK) qf_gptq_config_free(c);
    return st;
}

void qf_gptq_config_free(qf_gptq_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_dynamic; i++) free(c->dynamic[i].pattern);
    free(c->dynamic);
    memset(c, 0, sizeof *c);
}

qf_status qf_gptq_config_for_module(const qf_gptq_config *c, const char *name, int *skip,
                                    int *bits, int64_t *group_size) {
    QF_RETURN_IF(!c || !name || !skip || !bits || !group_size, QF_STATUS_INVALID_ARG,
                 "gptq config: NULL argument");
    *skip = 0;
    *bits = c->bits;
    *group_size = c->group_size;
    pcre2_match_data *md = NULL;
    for (size_t i = 0; i < c->n_dynamic; i++) {
        const qf_gptq_dynamic *d = &c->dynamic[i];
        int err = 0;
        PCRE2_SIZE off = 0;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)d->pattern, PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF, &err, &off, NULL);
        if (!re) {
            pcre2_match_data_free(md);
            return qf_error_set(QF_STATUS_FORMAT, "gptq config: bad dynamic pattern '%s'",
                                d->pattern);
        }
        if (!md) md = pcre2_match_data_create(1, NULL);
        int rc = md ? pcre2_match(re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0,
                                  PCRE2_ANCHORED, md, NULL)
                    : PCRE2_ERROR_NOMEMORY;
        pcre2_code_free(re);
        if (rc == PCRE2_ERROR_NOMEMORY) {
            pcre2_match_data_free(md);
            return qf_error_set(QF_STATUS_NOMEM, "gptq config: out of memory matching '%s'",
                                d->pattern);
        }
        if (rc >= 0) {
            *skip = d->skip;
            *bits = d->bits;
            *group_size = d->group_size;
            break;
        }
    }
    pcre2_match_data_free(md);
    return QF_STATUS_OK;
}

static cJSON *gptq_dynamic_json(const qf_gptq_config *c) {
    cJSON *dyn = cJSON_CreateObject();
    for (size_t i = 0; dyn && i < c->n_dynamic; i++) {
        const qf_gptq_dynamic *d = &c->dynamic[i];
        size_t n = strlen(d->pattern) + 3;
        char *key = malloc(n);
        cJSON *e = cJSON_CreateObject();
        if (!key || !e) {
            free(key);
            cJSON_Delete(e);
            cJSON_Delete(dyn);
            return NULL;
        }
        snprintf(key, n, "%s%s", d->skip ? "-:" : "+:", d->pattern);
        if (!d->skip) {
            cJSON_AddNumberToObject(e, "bits", d->bits);
            cJSON_AddNumberToObject(e, "group_size", (double)d->group_size);
        }
        cJSON_AddItemToObject(dyn, key, e);
        free(key);
    }
    return dyn;
}

qf_status qf_gptq_config_to_json(const qf_gptq_config *c, char **json) {
    QF_RETURN_IF(!c || !json, QF_STATUS_INVALID_ARG, "gptq config: NULL argument");
    *json = NULL;
    QF_FORWARD(gptq_check_bits_group(c->bits, c->group_size, "gptq config", ""));
    QF_RETURN_IF(c->format != QF_GPTQ_FORMAT_V1 && c->format != QF_GPTQ_FORMAT_V2,
                 QF_STATUS_INVALID_ARG, "gptq config: unknown format %d", (int)c->format);
    for (size_t i = 0; i < c->n_dynamic; i++) {
        QF_FORWARD(gptq_check_regex(c->dynamic[i].pattern, "gptq config"));
        if (!c->dynamic[i].skip)
            QF_FORWARD(gptq_check_bits_group(c->dynamic[i].bits, c->dynamic[i].group_size,
                                             "gptq config", "dynamic: "));
    }
    const char *fmt = c->format == QF_GPTQ_FORMAT_V2 ? "gptq_v2" : "gptq";
    cJSON *o = cJSON_CreateObject();
    QF_RETURN_IF(!o, QF_STATUS_NOMEM, "gptq config: out of memory");
    cJSON_AddNumberToObject(o, "bits", c->bits);
    cJSON_AddNumberToObject(o, "group_size", (double)c->group_size);
    cJSON_AddBoolToObject(o, "desc_act", c->desc_act);
    cJSON_AddBoolToObject(o, "sym", c->sym);
    cJSON_AddBoolToObject(o, "true_sequential", c->true_sequential);
    cJSON_AddBoolToObject(o, "static_groups", c->static_groups);
    cJSON_AddNumberToObject(o, "damp_percent", c->damp_percent);
    cJSON_AddBoolToObject(o, "lm_head", 0);
    cJSON_AddStringToObject(o, "quant_method", "gptq");
    cJSON_AddStringToObject(o, "format", fmt);
    cJSON_AddStringToObject(o, "checkpoint_format", fmt);
    cJSON_AddStringToObject(o, "pack_dtype", "int32");
    if (c->n_dynamic) cJSON_AddItemToObject(o, "dynamic", gptq_dynamic_json(c));
    if (c->quantizer) {
        cJSON *meta = cJSON_AddObjectToObject(o, "meta");
        cJSON *q = meta ? cJSON_AddArrayToObject(meta, "quantizer") : NULL;
        if (q) cJSON_AddItemToArray(q, cJSON_CreateString(c->quantizer));
    }
    *json = cJSON_Print(o);
    cJSON_Delete(o);
    QF_RETURN_IF(!*json, QF_STATUS_NOMEM, "gptq config: out of memory");
    return QF_STATUS_OK;
}
