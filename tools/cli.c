/* Shared CLI helpers: error reporting, SIGINT, live progress line, byte formatting. */
#include "core/clock.h"
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t qf_cli_sigint = 0;
static int qf_cli_line_drawn = 0;

static void qf_cli_on_sigint(int sig) {
    (void)sig;
    qf_cli_sigint = 1;
}

void qf_cli_install_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = qf_cli_on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int qf_cli_interrupted(void) { return qf_cli_sigint != 0; }

int qf_cli_fail(const char *cmd, qf_status st) {
    qf_cli_progress_done();
    if (st == QF_STATUS_INTERRUPTED || qf_cli_sigint) {
        fprintf(stderr, "qforge %s: interrupted; nothing was written\n", cmd);
        return QF_EXIT_INTERRUPTED;
    }
    fprintf(stderr, "qforge %s: error: %s\n", cmd, qf_error_message());
    return QF_EXIT_FAILURE;
}

int qf_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "qforge %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'qforge %s --help'.\n", cmd);
    return QF_EXIT_USAGE;
}

const char *qf_cli_format_bytes(uint64_t n, char buf[32]) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0) snprintf(buf, 32, "%llu B", (unsigned long long)n);
    else snprintf(buf, 32, "%.1f %s", v, units[u]);
    return buf;
}

/* Progress into a file or pipe (not a terminal): a line every QF_PROGRESS_SECONDS
 * (environment; default 30). */
static double qf_cli_log_seconds(void) {
    const char *e = getenv("QF_PROGRESS_SECONDS");
    char *end = NULL;
    const double v = e ? strtod(e, &end) : 30.0;
    return e && (end == e || *end || !(v >= 0.0)) ? 30.0 : v;
}

typedef struct qf_cli_progress_state {
    const char *label;
    double start, last; /* qf_clock_seconds */
} qf_cli_progress_state;

static qf_cli_progress_state qf_cli_progress_st;

static int qf_cli_progress_fn(void *user, const char *what, uint64_t done, uint64_t total) {
    qf_cli_progress_state *s = user;
    if (qf_cli_sigint) return 1;
    if (!isatty(STDERR_FILENO)) { /* a log: a plain line now and then */
        if ((qf_clock_seconds() - s->last) < qf_cli_log_seconds()) return 0;
        s->last = qf_clock_seconds();
        const double el = (qf_clock_seconds() - s->start);
        const double frac = total ? (double)done / (double)total : 0.0;
        fprintf(stderr, "%s %llu/%llu (%.0f%%) %.0fs, ETA %.0fs  %.60s\n", s->label,
                (unsigned long long)done, (unsigned long long)total, 100.0 * frac, el,
                frac > 0.0 ? el * (1.0 - frac) / frac : 0.0, what ? what : "");
        fflush(stderr);
        return 0;
    }
    /* redraw at most 10 times a second, and always at the end */
    if (done < total && (qf_clock_seconds() - s->last) < 0.1 && qf_cli_line_drawn) return 0;
    s->last = qf_clock_seconds();
    double el = (qf_clock_seconds() - s->start);
    double frac = total ? (double)done / (double)total : 0.0;
    double eta = frac > 0.0 ? el * (1.0 - frac) / frac : 0.0;
    fprintf(stderr, "\r\033[K%s %llu/%llu (%3.0f%%) %5.1fs, ETA %4.1fs  %.60s", s->label,
            (unsigned long long)done, (unsigned long long)total, 100.0 * frac, el, eta,
            what ? what : "");
    fflush(stderr);
    qf_cli_line_drawn = 1;
    return 0;
}

qf_progress qf_cli_progress(const char *label) {
    qf_cli_progress_st.label = label;
    qf_cli_progress_st.start = qf_clock_seconds();
    qf_cli_progress_st.last = qf_cli_progress_st.start;
    qf_progress p = {qf_cli_progress_fn, &qf_cli_progress_st};
    return p;
}

void qf_cli_progress_done(void) {
    if (qf_cli_line_drawn) fputc('\n', stderr);
    qf_cli_line_drawn = 0;
}

int qf_cli_parse_i64(const char *s, int64_t *out) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0) return 0;
    *out = (int64_t)v;
    return 1;
}

int qf_cli_parse_weights(const char *cmd, const char *weights, qf_dtype *out) {
    *out = (qf_dtype)0;
    if (!weights) return QF_EXIT_OK;
    if (strcmp(weights, "f32") == 0) *out = QF_DTYPE_F32;
    else if (strcmp(weights, "f16") == 0) *out = QF_DTYPE_F16;
    else return qf_cli_usage_error(cmd, "--weights must be f32 or f16, not '%s'", weights);
    return QF_EXIT_OK;
}

int qf_cli_parse_device(const char *cmd, const char *device, qf_runtime_device *out) {
    *out = QF_RUNTIME_DEVICE_CPU;
    if (!device || strcmp(device, "cpu") == 0) return QF_EXIT_OK;
    if (strcmp(device, "cuda") == 0) *out = QF_RUNTIME_DEVICE_CUDA;
    else return qf_cli_usage_error(cmd, "--device must be cpu or cuda, not '%s'", device);
    return QF_EXIT_OK;
}

int qf_cli_check_device(const char *cmd, qf_runtime_device device) {
    if (device == QF_RUNTIME_DEVICE_CPU) return QF_EXIT_OK;
    const qf_backend *b = qf_backend_find("cuda");
    if (!b) {
        fprintf(stderr,
                "qforge %s: error: --device cuda: this qforge was built without CUDA support "
                "(QF_CUDA=OFF or no CUDA compiler at build time)\n",
                cmd);
        return QF_EXIT_FAILURE;
    }
    if (!b->available()) {
        char why[512];
        b->describe(why, sizeof why);
        fprintf(stderr, "qforge %s: error: --device cuda: %s\n", cmd, why);
        return QF_EXIT_FAILURE;
    }
    return QF_EXIT_OK;
}

int qf_cli_open_runtime(const char *cmd, const char *path, int threads, int64_t max_ctx,
                        const char *weights, qf_model **m, qf_runtime **rt) {
    return qf_cli_open_runtime_on(cmd, path, threads, max_ctx, weights, NULL, m, rt);
}

int qf_cli_open_runtime_on(const char *cmd, const char *path, int threads, int64_t max_ctx,
                           const char *weights, const char *device, qf_model **m,
                           qf_runtime **rt) {
    *m = NULL;
    *rt = NULL;
    qf_runtime_options o = {.n_threads = threads, .max_ctx = max_ctx};
    int rc = qf_cli_parse_weights(cmd, weights, &o.weight_dtype);
    if (rc != QF_EXIT_OK) return rc;
    rc = qf_cli_parse_device(cmd, device, &o.device);
    if (rc == QF_EXIT_OK) rc = qf_cli_check_device(cmd, o.device);
    if (rc != QF_EXIT_OK) return rc;
    qf_status st = qf_model_open(path, m);
    if (st == QF_STATUS_OK) st = qf_runtime_init(*m, &o, rt);
    if (st != QF_STATUS_OK) {
        qf_model_free(*m);
        *m = NULL;
        return qf_cli_fail(cmd, st);
    }
    return QF_EXIT_OK;
}
