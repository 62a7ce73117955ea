/* qforge convert: GGUF (or HF/safetensors) checkpoint -> Hugging Face checkpoint directory. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cli.h"

static void qf_convert_help(FILE *out) {
    fprintf(out,
            "Usage: qforge convert INPUT --to hf OUTDIR [--dtype f32|f16|bf16] [--json]\n"
            "\n"
            "Converts a checkpoint into a Hugging Face checkpoint directory that transformers\n"
            "and vLLM load as it is: config.json, model.safetensors, generation_config.json\n"
            "and the tokenizer.\n"
            "\n"
            "INPUT is a GGUF file (llama-family: general.architecture llama or qwen2), a\n"
            "Hugging Face checkpoint directory or a .safetensors file with a config.\n"
            "From GGUF, ggml-quantized tensors (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K, ...) are\n"
            "dequantized, llama.cpp's q/k RoPE row permutation is undone, and the vocabulary\n"
            "is written as tokenizer.json + tokenizer_config.json (byte-level BPE vocabularies\n"
            "with the pre-tokenizer llama.cpp uses for tokenizer.ggml.pre).\n"
            "\n"
            "OUTDIR must not exist. Everything is written into OUTDIR.tmp.XXXXXX and renamed\n"
            "into place at the end: an error or Ctrl-C leaves nothing behind.\n"
            "\n"
            "Options:\n"
            "  --to hf          output format (only 'hf' for now)\n"
            "  --dtype T        f32 (default), f16 or bf16. Dequantized GGUF weights are exact\n"
            "                   only in f32; f16/bf16 round them.\n"
            "  --json           print a JSON summary when done\n"
            "  -h, --help       this help\n");
}

static int qf_parse_dtype(const char *s, qf_dtype *out) {
    if (!strcmp(s, "f32") || !strcmp(s, "float32")) *out = QF_DTYPE_F32;
    else if (!strcmp(s, "f16") || !strcmp(s, "float16")) *out = QF_DTYPE_F16;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) *out = QF_DTYPE_BF16;
    else return 0;
    return 1;
}

static int qf_convert_run(int argc, char **argv) {
    static const struct option opts[] = {{"to", required_argument, 0, 't'},
                                          {"dtype", required_argument, 0, 'd'},
                                          {"json", no_argument, 0, 'j'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *to = NULL;
    int json = 0, c;
    qf_convert_options o = {.dtype = QF_DTYPE_F32};
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': to = optarg; break;
        case 'd':
            if (!qf_parse_dtype(optarg, &o.dtype))
                return qf_cli_usage_error("convert", "--dtype must be f32, f16 or bf16, not '%s'", optarg);
            break;
        case 'j': json = 1; break;
        case 'h': qf_convert_help(stdout); return QF_EXIT_OK;
        case ':':
        case '?':
        default: return qf_cli_usage_error("convert", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (!to) return qf_cli_usage_error("convert", "missing --to hf");
    if (strcmp(to, "hf") != 0)
        return qf_cli_usage_error("convert", "--to must be 'hf' (the only output format so far)");
    if (optind + 2 != argc) return qf_cli_usage_error("convert", "expected INPUT and OUTDIR");
    const char *in = argv[optind], *outdir = argv[optind + 1];

    const double t0 = qf_clock_seconds();
    qf_model *m = NULL;
    qf_status st = qf_model_open(in, &m);
    if (st != QF_STATUS_OK) return qf_cli_fail("convert", st);
    o.progress = qf_cli_progress("convert: tensor");
    st = qf_convert_to_hf(m, outdir, &o);
    qf_cli_progress_done();
    uint64_t params = qf_model_param_count(m);
    size_t ntensors = m->n_tensors;
    qf_model_free(m);
    if (st != QF_STATUS_OK) return qf_cli_fail("convert", st);
    const double secs = qf_clock_seconds() - t0;
    if (json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "input", in);
        cJSON_AddStringToObject(r, "output", outdir);
        cJSON_AddStringToObject(r, "dtype", qf_dtype_name(o.dtype));
        cJSON_AddNumberToObject(r, "tensors", (double)ntensors);
        cJSON_AddNumberToObject(r, "parameters", (double)params);
        cJSON_AddNumberToObject(r, "seconds", secs);
        char *s = cJSON_Print(r);
        if (s) puts(s);
        free(s);
        cJSON_Delete(r);
    } else
        printf("converted %s -> %s (%zu tensors, %.1f M parameters, %s) in %.2f s\n", in, outdir,
               ntensors, (double)params / 1e6, qf_dtype_name(o.dtype), secs);
    return QF_EXIT_OK;
}

const qf_cli_command qf_cmd_convert = {"convert", "convert GGUF/HF checkpoints to a Hugging Face checkpoint",
                                       qf_convert_run, qf_convert_help};
