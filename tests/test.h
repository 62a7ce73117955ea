/* Minimal test harness: CHECK macros that report file:line and count failures.
 * A test binary returns non-zero if any check failed, 77 if it had to skip. */
#ifndef QF_TEST_H
#define QF_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>

#include "core/status.h"

static int qf_test_failures = 0;
static int qf_test_checks = 0;

#define CHECK(cond)                                                               \
    do {                                                                          \
        qf_test_checks++;                                                         \
        if (!(cond)) {                                                            \
            qf_test_failures++;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                         \
    } while (0)

#define CHECK_MSG(cond, ...)                                                      \
    do {                                                                          \
        qf_test_checks++;                                                         \
        if (!(cond)) {                                                            \
            qf_test_failures++;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

/* Expects a qf_status of OK; prints the library's message otherwise. */
#define CHECK_OK(expr)                                                            \
    do {                                                                          \
        qf_test_checks++;                                                         \
        qf_status qf__st = (expr);                                                \
        if (qf__st != QF_STATUS_OK) {                                             \
            qf_test_failures++;                                                   \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #expr, \
                    qf_status_name(qf__st), qf_error_message());                  \
        }                                                                         \
    } while (0)

/* Expects a specific failure status and an error message containing `needle`. */
#define CHECK_FAILS(expr, code, needle)                                           \
    do {                                                                          \
        qf_test_checks++;                                                         \
        qf_error_clear();                                                         \
        qf_status qf__st = (expr);                                                \
        if (qf__st != (code) || !strstr(qf_error_message(), (needle))) {          \
            qf_test_failures++;                                                   \
            fprintf(stderr, "%s:%d: %s: expected %s containing \"%s\", got %s: \"%s\"\n", \
                    __FILE__, __LINE__, #expr, qf_status_name(code), (needle),    \
                    qf_status_name(qf__st), qf_error_message());                  \
        }                                                                         \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                     \
    do {                                                                          \
        double qf__a = (a), qf__b = (b);                                          \
        CHECK_MSG(fabs(qf__a - qf__b) <= (tol), "%.9g vs %.9g (tol %g)", qf__a, qf__b, \
                  (double)(tol));                                                 \
    } while (0)

/* Ends main(): prints a summary line and returns the exit code. */
#define TEST_END()                                                                \
    do {                                                                          \
        printf("%d checks, %d failed\n", qf_test_checks, qf_test_failures);       \
        return qf_test_failures ? 1 : 0;                                          \
    } while (0)

/* Runs a shell command, captures stdout+stderr into *out (malloc'd, may be NULL) and
 * returns its exit code (-1 if it could not run or died by a signal). */
static inline int qf_test_run(const char *cmd, char **out) {
    char full[8192];
    int n = snprintf(full, sizeof full, "%s 2>&1", cmd);
    if (n < 0 || (size_t)n >= sizeof full) return -1;
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    if (buf) buf[len] = '\0';
    int status = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
}

#define TEST_SKIP(...)                                                            \
    do {                                                                          \
        printf("SKIP: ");                                                         \
        printf(__VA_ARGS__);                                                      \
        printf("\n");                                                             \
        return 77;                                                                \
    } while (0)

#endif
