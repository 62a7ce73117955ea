/* Per-thread error message storage for qf_status returns. */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

#define QF_ERROR_MSG_MAX 1024

static _Thread_local char qf_errmsg[QF_ERROR_MSG_MAX];

static const char *const qf_status_names[QF_STATUS_COUNT] = {
    [QF_STATUS_OK] = "ok",
    [QF_STATUS_INVALID_ARG] = "invalid argument",
    [QF_STATUS_IO] = "i/o error",
    [QF_STATUS_FORMAT] = "format error",
    [QF_STATUS_UNSUPPORTED] = "unsupported",
    [QF_STATUS_NOT_FOUND] = "not found",
    [QF_STATUS_NOMEM] = "out of memory",
    [QF_STATUS_INTERRUPTED] = "interrupted",
};

const char *qf_status_name(qf_status s) {
    if ((unsigned)s >= QF_STATUS_COUNT) return "unknown";
    return qf_status_names[s];
}

const char *qf_error_message(void) { return qf_errmsg; }

void qf_error_clear(void) { qf_errmsg[0] = '\0'; }

/* Formats into a local buffer first: the arguments may include qf_error_message()
 * itself ("tensor '%s': %s", name, qf_error_message()). */
qf_status qf_error_set(qf_status code, const char *fmt, ...) {
    char msg[QF_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(qf_errmsg, msg, strlen(msg) + 1);
    return code;
}

qf_status qf_error_wrap(qf_status code, const char *fmt, ...) {
    char prefix[QF_ERROR_MSG_MAX];
    char old[QF_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, qf_errmsg, sizeof old);
    size_t n = strlen(prefix);
    memcpy(qf_errmsg, prefix, n + 1);
    size_t rest = strnlen(old, sizeof old);
    if (rest > sizeof qf_errmsg - 1 - n) rest = sizeof qf_errmsg - 1 - n;
    memcpy(qf_errmsg + n, old, rest);
    qf_errmsg[n + rest] = '\0';
    return code;
}
