/* `qforge compare --resume`: the settings file and the saved rows (compare_state.h). */
#include "tools/compare_state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fileio.h"

#define QF_COMPARE_STATE_MAX (1u << 20)

/* The numbers of a row, by JSON key: doubles and int64s of qf_compare_row / its ev. */
typedef struct qf_row_field {
    const char *key;
    size_t off;
    int is_int; /* 1 int64_t, 2 int, 3 uint64_t, 0 double */
} qf_row_field;

#define QF_EV(f) offsetof(qf_compare_row, ev) + offsetof(qf_eval_result, f)
static const qf_row_field qf_row_fields[] = {
    {"bytes", offsetof(qf_compare_row, bytes), 3},
    {"quantize_seconds", offsetof(qf_compare_row, seconds), 0},
    {"quantize_peak_rss_mib", offsetof(qf_compare_row, rss_mib), 0},
    {"quantize_resumed", offsetof(qf_compare_row, resumed), 2},
    {"evaluated", offsetof(qf_compare_row, evaluated), 2},
    {"n_tokens", QF_EV(n_tokens), 1},
    {"n_windows", QF_EV(n_windows), 1},
    {"n_scored", QF_EV(n_scored), 1},
    {"nll_sum", QF_EV(nll_sum), 0},
    {"ppl", QF_EV(ppl), 0},
    {"eval_seconds", QF_EV(seconds), 0},
    {"tokens_per_s", QF_EV(tokens_per_s), 0},
    {"has_kl", QF_EV(has_kl), 2},
    {"base_ppl", QF_EV(base_ppl), 0},
    {"kld_mean", QF_EV(kld_mean), 0},
    {"kld_p99", QF_EV(kld_p99), 0},
    {"kld_max", QF_EV(kld_max), 0},
    {"top1_agree", QF_EV(top1_agree), 0},
    {"topk_coverage", QF_EV(topk_coverage), 0},
};
#undef QF_EV
#define QF_N_ROW_FIELDS (sizeof qf_row_fields / sizeof *qf_row_fields)

static qf_status qf_state_path(char *buf, size_t cap, const char *tmp, const char *name,
                               const char *suffix) {
    const int n = snprintf(buf, cap, "%s/%s%s", tmp, name, suffix);
    QF_RETURN_IF(n < 0 || (size_t)n >= cap, QF_STATUS_INVALID_ARG, "path too long: %s/%s%s",
                 tmp, name, suffix);
    return QF_STATUS_OK;
}

static qf_status qf_state_read_json(const char *path, cJSON **out) {
    char *text = NULL;
    size_t len = 0;
    QF_FORWARD(qf_file_read_all(path, QF_COMPARE_STATE_MAX, &text, &len));
    *out = cJSON_ParseWithLength(text, len);
    free(text);
    QF_RETURN_IF(!*out, QF_STATUS_FORMAT, "'%s': invalid JSON", path);
    return QF_STATUS_OK;
}

qf_status qf_compare_state_begin(const char *tmp, const char *settings, int resume,
                                 int *resumed) {
    char path[4200];
    QF_FORWARD(qf_state_path(path, sizeof path, tmp, "compare-state", ".json"));
    *resumed = 0;
    if (qf_path_exists(tmp)) {
        QF_RETURN_IF(!resume, QF_STATUS_INVALID_ARG,
                     "'%s' exists (left by an interrupted run?): pass --resume to continue "
                     "it, or remove it", tmp);
        QF_RETURN_IF(!qf_path_exists(path), QF_STATUS_FORMAT,
                     "cannot resume from '%s': it has no compare-state.json (not a compare "
                     "run?); remove it to start over", tmp);
        cJSON *j = NULL, *want = cJSON_Parse(settings);
        qf_status st = qf_state_read_json(path, &j);
        if (st == QF_STATUS_OK && !cJSON_Compare(j, want, 1))
            st = qf_error_set(QF_STATUS_INVALID_ARG,
                              "cannot resume from '%s': it was made with other settings "
                              "(model, text, methods, bits, group size, calibration or "
                              "windows); remove it to start over", tmp);
        cJSON_Delete(j);
        cJSON_Delete(want);
        *resumed = st == QF_STATUS_OK;
        return st;
    }
    QF_RETURN_IF(mkdir(tmp, 0755) != 0, QF_STATUS_IO, "'%s': cannot create directory: %s", tmp,
                 strerror(errno));
    return qf_file_write_atomic(path, settings, strlen(settings), 1);
}

void qf_compare_state_finish(const char *tmp, const char *const *names, int n) {
    char path[4200];
    for (int i = 0; i < n; i++)
        if (qf_state_path(path, sizeof path, tmp, names[i], ".row.json") == QF_STATUS_OK) remove(path);
    if (qf_state_path(path, sizeof path, tmp, "compare-state", ".json") == QF_STATUS_OK) remove(path);
}

qf_status qf_compare_row_save(const char *tmp, const char *name, const qf_compare_row *r) {
    cJSON *j = cJSON_CreateObject();
    QF_RETURN_IF(!j, QF_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < QF_N_ROW_FIELDS; i++) {
        const char *p = (const char *)r + qf_row_fields[i].off;
        double v;
        switch (qf_row_fields[i].is_int) {
        case 1: v = (double)*(const int64_t *)p; break;
        case 2: v = (double)*(const int *)p; break;
        case 3: v = (double)*(const uint64_t *)p; break;
        default: v = *(const double *)p;
        }
        cJSON_AddNumberToObject(j, qf_row_fields[i].key, v);
    }
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    QF_RETURN_IF(!s, QF_STATUS_NOMEM, "out of memory");
    char path[4200];
    qf_status st = qf_state_path(path, sizeof path, tmp, name, ".row.json");
    if (st == QF_STATUS_OK) st = qf_file_write_atomic(path, s, strlen(s), 1);
    free(s);
    return st;
}

qf_status qf_compare_row_load(const char *tmp, const char *name, qf_compare_row *r,
                              int *found) {
    char path[4200];
    QF_FORWARD(qf_state_path(path, sizeof path, tmp, name, ".row.json"));
    *found = qf_path_exists(path);
    if (!*found) return QF_STATUS_OK;
    cJSON *j = NULL;
    QF_FORWARD(qf_state_read_json(path, &j));
    qf_status st = QF_STATUS_OK;
    for (size_t i = 0; i < QF_N_ROW_FIELDS && st == QF_STATUS_OK; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, qf_row_fields[i].key);
        const int kind = qf_row_fields[i].is_int;
        if (!cJSON_IsNumber(v) || (kind && (v->valuedouble < 0.0 || v->valuedouble > 9.0e15 ||
                                            v->valuedouble != (double)(int64_t)v->valuedouble))) {
            st = qf_error_set(QF_STATUS_FORMAT, "'%s': missing or invalid '%s'", path,
                              qf_row_fields[i].key);
            break;
        }
        char *p = (char *)r + qf_row_fields[i].off;
        switch (kind) {
        case 1: *(int64_t *)p = (int64_t)v->valuedouble; break;
        case 2: *(int *)p = (int)(v->valuedouble != 0.0); break;
        case 3: *(uint64_t *)p = (uint64_t)v->valuedouble; break;
        default: *(double *)p = v->valuedouble;
        }
    }
    cJSON_Delete(j);
    return st;
}
