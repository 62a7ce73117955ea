/* AWQ quantization_config: writing AutoAWQ's GEMM form and parsing what AutoAWQ,
 * transformers and llm-compressor's AWQ export write (unknown keys ignored). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/awq.h"

#define QF_AWQ_MAX_NOT_CONVERT 65536

qf_status qf_awq_config_to_json(const qf_awq_config *c, char **json) {
    QF_RETURN_IF(!c || !json, QF_STATUS_INVALID_ARG, "awq config: NULL argument");
    QF_RETURN_IF(c->bits != 4 || c->group_size <= 0, QF_STATUS_INVALID_ARG,
                 "awq config: bits must be 4 and group_size positive");
    cJSON *o = cJSON_CreateObject();
    QF_RETURN_IF(!o, QF_STATUS_NOMEM, "awq config: out of memory");
    cJSON_AddStringToObject(o, "quant_method", "awq");
    cJSON_AddBoolToObject(o, "zero_point", c->zero_point);
    cJSON_AddNumberToObject(o, "group_size", (double)c->group_size);
    cJSON_AddNumberToObject(o, "bits", c->bits);
    cJSON_AddStringToObject(o, "version", "gemm");
    if (c->n_not_convert) {
        cJSON *a = cJSON_AddArrayToObject(o, "modules_to_not_convert");
        for (size_t i = 0; a && i < c->n_not_convert; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(c->not_convert[i]));
    } else {
        cJSON_AddNullToObject(o, "modules_to_not_convert");
    }
    *json = cJSON_Print(o);
    cJSON_Delete(o);
    QF_RETURN_IF(!*json, QF_STATUS_NOMEM, "awq config: out of memory");
    return QF_STATUS_OK;
}

void qf_awq_config_free(qf_awq_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_not_convert; i++) free(c->not_convert[i]);
    free(c->not_convert);
    memset(c, 0, sizeof *c);
}

static qf_status awq_parse(const cJSON *o, const char *what, qf_awq_config *c) {
    QF_RETURN_IF(!cJSON_IsObject(o), QF_STATUS_FORMAT, "%s: not a JSON object", what);
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(o, "quant_method");
    QF_RETURN_IF(!cJSON_IsString(qm) || strcasecmp(qm->valuestring, "awq"), QF_STATUS_FORMAT,
                 "%s: quant_method is not \"awq\"", what);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
    QF_RETURN_IF(v && !cJSON_IsNull(v) && (!cJSON_IsString(v) || strcasecmp(v->valuestring, "gemm")),
                 QF_STATUS_UNSUPPORTED, "%s: AWQ version '%.32s' is not supported (only gemm)",
                 what, cJSON_IsString(v) ? v->valuestring : "?");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bits");
    if (!b) b = cJSON_GetObjectItemCaseSensitive(o, "w_bit");
    QF_RETURN_IF(!cJSON_IsNumber(b) || b->valuedouble != 4, QF_STATUS_UNSUPPORTED,
                 "%s: AWQ bits must be 4", what);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "group_size");
    if (!g) g = cJSON_GetObjectItemCaseSensitive(o, "q_group_size");
    QF_RETURN_IF(!cJSON_IsNumber(g) || !(g->valuedouble >= 1 && g->valuedouble <= (1 << 20)) ||
                     g->valuedouble != (double)(int64_t)g->valuedouble,
                 QF_STATUS_FORMAT, "%s: group_size must be a positive integer", what);
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(o, "zero_point");
    QF_RETURN_IF(z && !cJSON_IsBool(z), QF_STATUS_FORMAT, "%s: zero_point must be true or false",
                 what);
    c->bits = 4;
    c->group_size = (int64_t)g->valuedouble;
    c->zero_point = !z || cJSON_IsTrue(z);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "modules_to_not_convert");
    if (!n || cJSON_IsNull(n)) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsArray(n) || cJSON_GetArraySize(n) > QF_AWQ_MAX_NOT_CONVERT,
                 QF_STATUS_FORMAT, "%s: modules_to_not_convert must be a list of names", what);
    const size_t k = (size_t)cJSON_GetArraySize(n);
    c->not_convert = calloc(k ? k : 1, sizeof *c->not_convert);
    QF_RETURN_IF(!c->not_convert, QF_STATUS_NOMEM, "%s: out of memory", what);
    const cJSON *e;
    cJSON_ArrayForEach(e, n) {
        QF_RETURN_IF(!cJSON_IsString(e), QF_STATUS_FORMAT,
                     "%s: modules_to_not_convert must be a list of names", what);
        c->not_convert[c->n_not_convert] = strdup(e->valuestring);
        QF_RETURN_IF(!c->not_convert[c->n_not_convert], QF_STATUS_NOMEM, "%s: out of memory",
                     what);
        c->n_not_convert++;
    }
    return QF_STATUS_OK;
}

qf_status qf_awq_config_parse(const char *json, const char *what, qf_awq_config *c) {
    QF_RETURN_IF(!json || !what || !c, QF_STATUS_INVALID_ARG, "awq config: NULL argument");
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_Parse(json);
    QF_RETURN_IF(!o, QF_STATUS_FORMAT, "%s: not valid JSON", what);
    qf_status st = awq_parse(o, what, c);
    cJSON_Delete(o);
    if (st != QF_STATUS_OK) qf_awq_config_free(c);
    return st;
}
