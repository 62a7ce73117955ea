/* Shared pieces of the qforge commands: exit codes, error reporting, progress lines,
 * JSON output. Only tools/ print or exit. */
#ifndef QF_CLI_H
#define QF_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "qforge.h"

/* Exit codes (documented in `qforge --help` and README.md). */
enum {
    QF_EXIT_OK = 0,
    QF_EXIT_FAILURE = 1, /* the work failed: bad input file, I/O error, unsupported model */
    QF_EXIT_USAGE = 2,   /* bad command line */
    QF_EXIT_INTERRUPTED = 130,
};

typedef struct qf_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    void (*help)(FILE *out);
} qf_cli_command;

extern const qf_cli_command qf_cmd_inspect;
extern const qf_cli_command qf_cmd_convert;
extern const qf_cli_command qf_cmd_quantize;
extern const qf_cli_command qf_cmd_eval;
extern const qf_cli_command qf_cmd_generate;
extern const qf_cli_command qf_cmd_bench;
extern const qf_cli_command qf_cmd_compare;

/* "f32" -> F32, "f16" -> F16, NULL -> the runtime's default (0); else a usage error
 * (returned exit code). */
int qf_cli_parse_weights(const char *cmd, const char *weights, qf_dtype *out);
/* "cpu" or NULL -> CPU, "cuda" -> CUDA; else a usage error (returned exit code). */
int qf_cli_parse_device(const char *cmd, const char *device, qf_runtime_device *out);
/* For a non-CPU device, whether this build has it and it is usable now (the backend
 * table of runtime/backend.h): else prints why (no CUDA in this build; no usable GPU and
 * the CUDA error) and returns QF_EXIT_FAILURE. Lets a command fail before loading. */
int qf_cli_check_device(const char *cmd, qf_runtime_device device);
/* Opens a checkpoint and loads it into the runtime (threads 0 = all cores, max_ctx 0 =
 * default, weights "f32"/"f16"/NULL = default). On failure returns the exit code after
 * printing the error; on success returns QF_EXIT_OK and fills *m, *rt. */
int qf_cli_open_runtime(const char *cmd, const char *path, int threads, int64_t max_ctx,
                        const char *weights, qf_model **m, qf_runtime **rt);
/* The same on a device ("cpu" / "cuda" / NULL = cpu; parsed by qf_cli_parse_device). */
int qf_cli_open_runtime_on(const char *cmd, const char *path, int threads, int64_t max_ctx,
                           const char *weights, const char *device, qf_model **m,
                           qf_runtime **rt);
/* Parses a non-negative integer option value; returns 0 on garbage. */
int qf_cli_parse_i64(const char *s, int64_t *out);

/* Prints "qforge <cmd>: error: <message>" for the library's last error; returns the
 * exit code for status st. */
int qf_cli_fail(const char *cmd, qf_status st);
/* Prints a usage error and a pointer to --help; returns QF_EXIT_USAGE. */
int qf_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A qf_progress that draws a single live line on stderr when it is a terminal, else
 * (a log file, a pipe) prints a plain line every QF_PROGRESS_SECONDS seconds (environment
 * variable, default 30). Stops the work when SIGINT arrives. */
qf_progress qf_cli_progress(const char *label);
/* Ends the live line (newline) if one was drawn. */
void qf_cli_progress_done(void);
/* Installs the SIGINT handler; qf_cli_interrupted() tells whether it fired. */
void qf_cli_install_sigint(void);
int qf_cli_interrupted(void);

/* Human-readable byte size ("12.3 MiB"). */
const char *qf_cli_format_bytes(uint64_t n, char buf[32]);

#endif
