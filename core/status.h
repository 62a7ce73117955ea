/* Status codes and the per-thread error message that library code fills in
 * instead of printing. Only tools/ and tests/ print or exit. */
#ifndef QF_STATUS_H
#define QF_STATUS_H

#include <stdarg.h>

typedef enum qf_status {
    QF_STATUS_OK = 0,
    QF_STATUS_INVALID_ARG,   /* caller passed something unusable */
    QF_STATUS_IO,            /* open/read/write/mmap/rename failed */
    QF_STATUS_FORMAT,        /* a file violates its format */
    QF_STATUS_UNSUPPORTED,   /* valid but not handled (dtype, architecture, ...) */
    QF_STATUS_NOT_FOUND,     /* a named tensor/key/file does not exist */
    QF_STATUS_NOMEM,         /* allocation failed or a size limit was hit */
    QF_STATUS_INTERRUPTED,   /* stopped by a signal */
    QF_STATUS_COUNT
} qf_status;

/* Short stable name of a status ("format", "io", ...). */
const char *qf_status_name(qf_status s);

/* The message of the last error set on this thread ("" if none). */
const char *qf_error_message(void);

/* Sets this thread's message (printf-style) and returns `code`. */
qf_status qf_error_set(qf_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends context ("file 'x': ") to the current message and returns `code`. */
qf_status qf_error_wrap(qf_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void qf_error_clear(void);

#define QF_RETURN_IF(cond, code, ...)                \
    do {                                             \
        if (cond) return qf_error_set((code), __VA_ARGS__); \
    } while (0)

#define QF_FORWARD(expr)                  \
    do {                                  \
        qf_status qf__s = (expr);         \
        if (qf__s != QF_STATUS_OK) return qf__s; \
    } while (0)

#endif
