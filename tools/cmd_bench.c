/* qforge bench: prefill and decode speed of the runtime, and peak memory. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void qf_bench_help(FILE *out) {
    fprintf(out,
            "Usage: qforge bench MODEL [--threads N] [--prompt N] [--gen N] [--repeats R]\n"
            "                    [--weights f32|f16] [--device cpu|cuda] [--json]\n"
            "\n"
            "Measures the runtime on MODEL: prefill tokens/s for a --prompt-token input, then\n"
            "decode tokens/s for --gen greedy tokens after it (the median of --repeats runs, each\n"
            "from an empty cache), and the process's peak resident memory.\n"
            "\n"
            "Options:\n"
            "  --threads N    CPU threads (default: all cores)\n"
            "  --prompt N     prefill length in tokens (default 512)\n"
            "  --gen N        decoded tokens (default 128)\n"
            "  --repeats R    runs; the median is reported (default 3)\n"
            "  --weights T    in-memory weights f32 or f16\n"
            "  --device D     cpu (default) or cuda (fails if this build has no CUDA or no GPU)\n"
            "  --json         print the result as JSON\n"
            "  -h, --help     this help\n");
}

static int qf_bench_cmd_run(int argc, char **argv) {
    static const struct option opts[] = {{"threads", required_argument, 0, 'T'}, {"prompt", required_argument, 0, 'p'},
                                          {"gen", required_argument, 0, 'g'},     {"repeats", required_argument, 0, 'r'},
                                          {"weights", required_argument, 0, 'w'}, {"json", no_argument, 0, 'j'},
                                          {"help", no_argument, 0, 'h'},          {"device", required_argument, 0, 'D'},
                                          {0, 0, 0, 0}};
    int64_t threads = 0, prompt = 512, gen = 128, repeats = 3;
    const char *weights = NULL, *device = NULL;
    int json = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int64_t *dst = c == 'T' ? &threads : c == 'p' ? &prompt : c == 'g' ? &gen : c == 'r' ? &repeats : NULL;
        if (dst) {
            if (!qf_cli_parse_i64(optarg, dst))
                return qf_cli_usage_error("bench", "'%s' is not a non-negative integer", optarg);
            continue;
        }
        switch (c) {
        case 'w': weights = optarg; break;
        case 'D': device = optarg; break;
        case 'j': json = 1; break;
        case 'h': qf_bench_help(stdout); return QF_EXIT_OK;
        default: return qf_cli_usage_error("bench", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc) return qf_cli_usage_error("bench", "expected exactly one MODEL");
    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    int rc = qf_cli_open_runtime_on("bench", argv[optind], (int)threads, 0, weights, device, &m, &rt);
    if (rc != QF_EXIT_OK) return rc;
    qf_bench_options o = {.prompt = prompt, .gen = gen, .repeats = (int)repeats};
    qf_bench_result r;
    qf_status st = qf_bench_run(rt, &o, &r);
    qf_runtime_free(rt);
    qf_model_free(m);
    if (st != QF_STATUS_OK) return qf_cli_fail("bench", st);
    char b[32];
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", argv[optind]);
        cJSON_AddNumberToObject(j, "threads", (double)threads);
        cJSON_AddNumberToObject(j, "prompt", (double)prompt);
        cJSON_AddNumberToObject(j, "gen", (double)gen);
        cJSON_AddNumberToObject(j, "repeats", (double)repeats);
        cJSON_AddNumberToObject(j, "prefill_tok_s", r.prefill_tok_s);
        cJSON_AddNumberToObject(j, "decode_tok_s", r.decode_tok_s);
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)r.peak_rss_bytes);
        char *s = cJSON_Print(j);
        if (s) puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("prefill %lld tokens: %.1f tokens/s (median of %lld, %.3f s)\n", (long long)prompt, r.prefill_tok_s,
               (long long)repeats, r.prefill_s);
        if (gen) printf("decode  %lld tokens: %.1f tokens/s (median of %lld, %.3f s)\n", (long long)gen, r.decode_tok_s,
                        (long long)repeats, r.decode_s);
        printf("peak RSS %s\n", qf_cli_format_bytes((uint64_t)r.peak_rss_bytes, b));
    }
    return QF_EXIT_OK;
}

const qf_cli_command qf_cmd_bench = {"bench", "prefill/decode speed and peak memory of the runtime", qf_bench_cmd_run,
                                     qf_bench_help};
