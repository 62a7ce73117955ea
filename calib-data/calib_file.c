/* User calibration files: plain text (one document) or JSON lines with a "text" field
 * (one document per record), checked strictly: readable, non-empty, no NUL bytes, valid
 * UTF-8, every non-blank JSON line an object with a string "text". */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "calib-data/calib_internal.h"
#include "calib-data/utf8_check.h"
#include "core/fileio.h"

static int has_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path), k = strlen(suffix);
    return n >= k && strcasecmp(path + n - k, suffix) == 0;
}

static int is_json_lines_name(const char *path) {
    return has_suffix(path, ".jsonl") || has_suffix(path, ".ndjson") || has_suffix(path, ".json");
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* One JSON line (without its '\n'); blank lines are skipped by the caller. */
static qf_status add_json_line(qf_calib_text *t, const char *path, size_t line_no,
                               const char *line, size_t n) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(line, n, &end, 0);
    if (!j || !is_blank(end, n - (size_t)(end - line))) {
        cJSON_Delete(j);
        return qf_error_set(QF_STATUS_FORMAT, "calibration file '%s' line %zu: not one JSON value",
                            path, line_no);
    }
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    qf_status st = QF_STATUS_OK;
    if (!cJSON_IsObject(j))
        st = qf_error_set(QF_STATUS_FORMAT, "calibration file '%s' line %zu: not a JSON object",
                          path, line_no);
    else if (!text)
        st = qf_error_set(QF_STATUS_FORMAT, "calibration file '%s' line %zu: no \"text\" field",
                          path, line_no);
    else if (!cJSON_IsString(text))
        st = qf_error_set(QF_STATUS_FORMAT,
                          "calibration file '%s' line %zu: \"text\" is not a string", path,
                          line_no);
    else {
        size_t len = strlen(text->valuestring);
        if (qf_calib_utf8_check((const uint8_t *)text->valuestring, len) != len)
            st = qf_error_set(QF_STATUS_FORMAT,
                              "calibration file '%s' line %zu: \"text\" is not valid UTF-8", path,
                              line_no);
        else if (len > 0)
            st = qf_calib_text_add(t, text->valuestring, len);
    }
    cJSON_Delete(j);
    return st;
}

static qf_status add_json_lines(qf_calib_text *t, const char *path, const char *s, size_t n) {
    size_t docs_before = t->n_docs, line_no = 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        line_no++;
        if (!is_blank(s + i, end - i)) QF_FORWARD(add_json_line(t, path, line_no, s + i, end - i));
        i = end + 1;
    }
    QF_RETURN_IF(t->n_docs == docs_before, QF_STATUS_FORMAT,
                 "calibration file '%s': no JSON line with a non-empty \"text\"", path);
    return QF_STATUS_OK;
}

qf_status qf_calib_add_file(qf_calib_text *t, const char *path) {
    char *s;
    size_t n;
    qf_status st = qf_file_read_all(path, QF_CALIB_MAX_FILE_BYTES, &s, &n);
    if (st != QF_STATUS_OK)
        return qf_error_wrap(st, "calibration file ");
    size_t bad = qf_calib_utf8_check((const uint8_t *)s, n);
    if (n == 0)
        st = qf_error_set(QF_STATUS_FORMAT, "calibration file '%s' is empty", path);
    else if (bad != n)
        st = qf_error_set(QF_STATUS_FORMAT,
                          "calibration file '%s': %s at byte offset %zu", path,
                          s[bad] ? "invalid UTF-8" : "NUL byte", bad);
    else if (is_json_lines_name(path))
        st = add_json_lines(t, path, s, n);
    else
        st = qf_calib_text_add(t, s, n);
    free(s);
    return st;
}
