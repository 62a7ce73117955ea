/* qforge: command dispatch, top-level help and version. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const qf_cli_command *const qf_commands[] = {
    &qf_cmd_inspect,
    &qf_cmd_convert,
    &qf_cmd_quantize,
    &qf_cmd_eval,
    &qf_cmd_generate,
    &qf_cmd_bench,
    &qf_cmd_compare,
};
#define QF_N_COMMANDS (sizeof qf_commands / sizeof qf_commands[0])

static void qf_print_help(FILE *out) {
    fprintf(out,
            "qforge %s - offline LLM quantization and model conversion\n"
            "\n"
            "Usage: qforge <command> [options]\n"
            "       qforge <command> --help\n"
            "       qforge --version\n"
            "\n"
            "Commands:\n",
            QF_VERSION);
    for (size_t i = 0; i < QF_N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", qf_commands[i]->name, qf_commands[i]->summary);
    fprintf(out,
            "\n"
            "Inputs: Hugging Face checkpoint directories (config.json + *.safetensors,\n"
            "sharded or not), single .safetensors files, GGUF files (v2/v3).\n"
            "\n"
            "Exit codes:\n"
            "  0    success\n"
            "  1    the work failed (bad or unsupported input file, I/O error); the message\n"
            "       names the file and the problem, and nothing partial is left behind\n"
            "  2    bad command line\n"
            "  130  interrupted (Ctrl-C); nothing partial is left behind\n");
}

static void qf_print_version(void) {
    printf("qforge %s\n", QF_VERSION);
    for (size_t i = 0; i < qf_backend_count(); i++) {
        const qf_backend *b = qf_backend_get(i);
        char desc[512];
        b->describe(desc, sizeof desc);
        printf("backend %-5s %s: %s\n", b->name, b->available() ? "available" : "unavailable",
               desc);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        qf_print_help(stderr);
        return QF_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (strcmp(cmd, "help") == 0 && argc > 2) {
            for (size_t i = 0; i < QF_N_COMMANDS; i++)
                if (strcmp(argv[2], qf_commands[i]->name) == 0) {
                    qf_commands[i]->help(stdout);
                    return QF_EXIT_OK;
                }
        }
        qf_print_help(stdout);
        return QF_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        qf_print_version();
        return QF_EXIT_OK;
    }
    for (size_t i = 0; i < QF_N_COMMANDS; i++)
        if (strcmp(cmd, qf_commands[i]->name) == 0) {
            qf_cli_install_sigint();
            return qf_commands[i]->run(argc - 1, argv + 1);
        }
    fprintf(stderr, "qforge: unknown command '%s'\n\n", cmd);
    qf_print_help(stderr);
    return QF_EXIT_USAGE;
}
