/* qforge quantize: a checkpoint -> a GPTQ checkpoint directory (RTN, GPTQ, AWQ,
 * AWQ+GPTQ). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cli.h"
#include "pipeline/pipeline.h"

#define QF_QUANTIZE_MAX_LIST 64 /* --dynamic / --calib given at most this many times */

static void qf_quantize_help(FILE *out) {
    fprintf(out,
            "Usage: qforge quantize MODEL OUTDIR [options]\n"
            "\n"
            "Quantizes the linear layers of MODEL (a Hugging Face checkpoint directory or a\n"
            "GGUF file; Llama, Mistral, Qwen2) into a GPTQ checkpoint directory that\n"
            "transformers, vLLM and GPTQModel load: model.safetensors (qweight / qzeros /\n"
            "scales / g_idx per linear, F16 embeddings, norms and lm_head), config.json with\n"
            "quantization_config, quantize_config.json, the tokenizer files,\n"
            "generation_config.json and quantize_report.json (parameters, calibration,\n"
            "per-linear errors, timings, peak memory).\n"
            "\n"
            "The model is processed one decoder layer at a time: only that layer's weights and\n"
            "the calibration activations are in memory. GPTQ runs the calibration samples\n"
            "through the *quantized* layers, so each layer sees the errors of the ones before.\n"
            "OUTDIR must not exist. Work happens in OUTDIR.qforge-tmp, which also keeps a\n"
            "checkpoint after every layer: after Ctrl-C or a crash, run the same command\n"
            "with --resume to continue. Nothing appears at OUTDIR until the end.\n"
            "Same inputs, seed and thread count give byte-identical files (the report aside).\n"
            "\n"
            "Options:\n"
            "  --method M          rtn, gptq, awq, awq+gptq or smoothquant (default gptq). RTN\n"
            "                      rounds each weight to the nearest grid point: fast, no\n"
            "                      calibration data. AWQ first rescales input channels by\n"
            "                      their activation magnitude (folded into the norms /\n"
            "                      previous linears, an exact rewrite), choosing the\n"
            "                      exponent per group by the block output error, then clips\n"
            "                      weights (awq: RTN after; awq+gptq: GPTQ after, no\n"
            "                      clipping). AWQ's default calibration is 128 x 512 tokens.\n"
            "                      smoothquant: W8A8 (8-bit per-channel symmetric weights,\n"
            "                      int8 activations, see --act-quant) after moving\n"
            "                      activation outliers into the\n"
            "                      weights (s = max|x|^a / max|w|^(1-a), folded into the\n"
            "                      norms before q,k,v and gate,up); writes compressed-tensors.\n"
            "  --act-quant token|tensor  W8A8 activations: token (default) quantizes each\n"
            "                      token's input with its own scale (max|x| / 127.5) at run\n"
            "                      time; tensor stores one static scale per linear\n"
            "                      (P.input_scale: max|x| over the calibration data / 127.5,\n"
            "                      observed on the transformed float layer; larger values\n"
            "                      clip at run time), as llm-compressor's static scheme;\n"
            "                      needs calibration data (default 128 x 512 tokens)\n"
            "  --alpha A|auto      smoothquant migration strength in [0, 1] (default 0.5);\n"
            "                      auto: per layer, the one of 0, 0.05, ..., 1 whose W8A8\n"
            "                      layer output is closest to the FP layer's on the first\n"
            "                      --awq-search-samples windows\n"
            "  --bits B            2, 3, 4 or 8 (default 4)\n"
            "  --group-size N      input columns per scale/zero group, or -1 for one group\n"
            "                      per output row (default 128)\n"
            "  --sym / --asym      symmetric grid (zero point 2^(bits-1)) or asymmetric\n"
            "                      (default --asym)\n"
            "  --mse               search the clipping range minimising the squared error\n"
            "  --desc-act          GPTQ act-order: columns by decreasing Hessian diagonal\n"
            "                      (stores g_idx)\n"
            "  --static-groups     group scales/zeros computed once from the original weights\n"
            "                      (not at each group start on the updated ones); with\n"
            "                      --desc-act the groups stay contiguous (g_idx = i / g)\n"
            "  --damp F            GPTQ dampening, fraction of the mean Hessian diagonal\n"
            "                      (default 0.01; raised automatically if H is singular)\n"
            "  --sink-weight W     GPTQ: Hessian weight of each calibration window's first\n"
            "                      token, relative to 1 for the others (default %g). The\n"
            "                      model turns that token into an attention sink which every\n"
            "                      later token reads, so its errors cost far more than one\n"
            "                      token's share; 1 = plain GPTQ\n"
            "  --no-true-sequential  collect all Hessians of a layer from its unquantized\n"
            "                      forward (default: true-sequential, [k,v,q] -> o ->\n"
            "                      [up,gate] -> down, each seeing the quantized previous ones)\n"
            "  --format F          gptq (v1, zero points stored minus one; default), gptq-v2,\n"
            "                      compressed-tensors (W8A8 int-quantized, as llm-compressor\n"
            "                      writes and vLLM loads; --bits 8 --sym --group-size -1;\n"
            "                      the default of smoothquant), or awq (AutoAWQ GEMM layout,\n"
            "                      as AutoAWQ / vLLM /\n"
            "                      transformers load it: 4 bits, a group size dividing every\n"
            "                      input width, no --desc-act without --static-groups, no\n"
            "                      bit overrides; --skip becomes modules_to_not_convert)\n"
            "  --skip REGEX        leave modules whose name contains a match of REGEX\n"
            "                      unquantized (F16), e.g. 'mlp\\.down_proj'; names look like\n"
            "                      model.layers.3.mlp.up_proj\n"
            "  --dynamic SPEC      per-module override, repeatable, first match wins (after\n"
            "                      --skip): 'REGEX=BITS:GROUP' or '-:REGEX' (skip). As in\n"
            "                      GPTQModel, REGEX must match from the start of the name\n"
            "                      (e.g. '.*\\.mlp\\..*=8:-1'); recorded as\n"
            "                      quantization_config \"dynamic\"\n"
            "  --awq-grid N        AWQ scale exponents tried per group (default 20)\n"
            "  --awq-no-duo        AWQ scales x^a only (default x^a / w^(1-a), AutoAWQ's\n"
            "                      duo scaling)\n"
            "  --awq-no-clip       awq: skip the clip search\n"
            "  --awq-search-samples N  calibration windows the block output error is\n"
            "                      measured on (default 16; 0 = all; statistics use all)\n"
            "  --calib FILE        calibration text (plain text, or JSON lines with a \"text\"\n"
            "                      field); repeatable. Default: the built-in corpus.\n"
            "  --calib-samples N   calibration windows (default 128)\n"
            "  --calib-seqlen L    tokens per window (default 2048, awq 512; capped by the\n"
            "                      model's max_position_embeddings)\n"
            "  --seed S            window choice (default 0)\n"
            "  --save-calib FILE   also write the calibration windows used (safetensors,\n"
            "                      \"tokens\" I32 (samples, seqlen)), e.g. to feed other tools\n"
            "                      the same tokens\n"
            "  --mem-budget SIZE   keep at most SIZE bytes of activations in memory (e.g.\n"
            "                      512M, 4G), spill the rest zstd-compressed into\n"
            "                      OUTDIR.qforge-tmp (default 0 = no limit)\n"
            "  --resume            continue the interrupted run found in OUTDIR.qforge-tmp\n"
            "                      (refused if the parameters, model or calibration differ)\n"
            "  --checkpoint-every N  layers between checkpoints (default 1: after every layer;\n"
            "                      0: none, nothing to resume). Each saves the calibration\n"
            "                      activations (n_samples x seqlen x hidden floats, zstd):\n"
            "                      4.3 GB a layer for 128 x 2048 tokens of a 7B model\n"
            "  --threads N         threads (default 0 = every core)\n"
            "  --device D          cpu (default) or cuda (methods gptq, awq, awq+gptq): each\n"
            "                      layer's calibration passes, AWQ's scale search, Hessians and\n"
            "                      GPTQ solves on the GPU, the samples' activations kept there\n"
            "                      (AWQ's clip search and RTN rounding on the CPU).\n"
            "                      Results equal the CPU's in quality, not bit for bit\n"
            "                      (rounding ties, float sums in another order)\n"
            "  --gpu-precision P   with --device cuda: tf32 (default: GEMMs and Hessian sums on\n"
            "                      TF32 tensor cores, fp32 storage) or fp32 (plain fp32, slower)\n"
            "  -h, --help          this help\n"
            "\n"
            "Default: GPTQ, 4 bits, group size 128, asymmetric, true-sequential, format\n"
            "gptq (v1), 128 x 2048 tokens of the built-in corpus, seed 0.\n"
            "Example: qforge quantize ./SmolLM2 ./SmolLM2-awq --method awq --bits 4\n"
            "Exit codes: 0 ok, 1 failure, 2 bad command line, 130 interrupted (resumable).\n",
            (double)QF_SINK_WEIGHT);
}

/* "4G", "512M", "64K", "1000" -> bytes; 0 on garbage. */
static int qf_parse_size(const char *s, size_t *out) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || s[0] == '-') return 0;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10;
    else if (*end == 'M' || *end == 'm') shift = 20;
    else if (*end == 'G' || *end == 'g') shift = 30;
    else if (*end == 'T' || *end == 't') shift = 40;
    if (shift) end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || (shift && v > (SIZE_MAX >> shift))) return 0;
    *out = (size_t)(v << shift);
    return 1;
}

static char *qf_join_argv(int argc, char **argv) {
    size_t n = 16;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    strcpy(s, "qforge");
    for (int i = 0; i < argc; i++) {
        strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

typedef struct qf_quantize_cli {
    qf_quantize_options o;
    qf_gptq_dynamic dynamic[QF_QUANTIZE_MAX_LIST];
    const char *calib[QF_QUANTIZE_MAX_LIST];
} qf_quantize_cli;

/* Parses the options into c; returns -1 to go on, else an exit code. */
static int qf_quantize_parse(int argc, char **argv, qf_quantize_cli *c) {
    static const struct option opts[] = {
        {"method", required_argument, 0, 'm'},     {"bits", required_argument, 0, 'b'},
        {"group-size", required_argument, 0, 'g'}, {"desc-act", no_argument, 0, 'D'},
        {"static-groups", no_argument, 0, 'S'},    {"sym", no_argument, 0, 's'},
        {"asym", no_argument, 0, 'a'},             {"mse", no_argument, 0, 'E'},
        {"damp", required_argument, 0, 'd'},       {"no-true-sequential", no_argument, 0, 'T'},
        {"format", required_argument, 0, 'f'},     {"skip", required_argument, 0, 'k'},
        {"dynamic", required_argument, 0, 'y'},    {"calib", required_argument, 0, 'c'},
        {"calib-samples", required_argument, 0, 'n'}, {"calib-seqlen", required_argument, 0, 'l'},
        {"seed", required_argument, 0, 'r'},       {"mem-budget", required_argument, 0, 'M'},
        {"resume", no_argument, 0, 'R'},           {"threads", required_argument, 0, 't'},
        {"save-calib", required_argument, 0, 'C'}, {"awq-grid", required_argument, 0, 'G'},
        {"awq-no-duo", no_argument, 0, 'U'},       {"awq-no-clip", no_argument, 0, 'P'},
        {"awq-search-samples", required_argument, 0, 'A'}, {"alpha", required_argument, 0, 'L'},
        {"act-quant", required_argument, 0, 'Q'},  {"sink-weight", required_argument, 0, 'W'},
        {"device", required_argument, 0, 'V'},    {"gpu-precision", required_argument, 0, 'X'},
        {"checkpoint-every", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    qf_quantize_options *o = &c->o;
    int ch, seqlen_set = 0, format_set = 0, bits_set = 0, group_set = 0;
    int64_t v;
    char *end;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            o->method = qf_quant_method_parse(optarg);
            if (o->method == QF_QUANT_METHOD_COUNT)
                return qf_cli_usage_error("quantize", "--method must be rtn, gptq, awq or awq+gptq");
            break;
        case 'G':
            if (!qf_cli_parse_i64(optarg, &v) || v < 1 || v > 1000)
                return qf_cli_usage_error("quantize", "--awq-grid must be in 1..1000");
            o->awq.n_grid = (int)v;
            break;
        case 'U': o->awq.duo_scaling = 0; break;
        case 'P': o->awq.clip = 0; break;
        case 'A':
            if (!qf_cli_parse_i64(optarg, &v) || v > (1 << 20))
                return qf_cli_usage_error("quantize", "--awq-search-samples must be >= 0");
            o->awq.search_samples = v;
            break;
        case 'b':
            if (!qf_cli_parse_i64(optarg, &v) || (v != 2 && v != 3 && v != 4 && v != 8))
                return qf_cli_usage_error("quantize", "--bits must be 2, 3, 4 or 8");
            o->gptq.quant.bits = (int)v;
            bits_set = 1;
            break;
        case 'g':
            if (!strcmp(optarg, "-1")) v = -1;
            else if (!qf_cli_parse_i64(optarg, &v) || v == 0 || v > (1 << 20))
                return qf_cli_usage_error("quantize", "--group-size must be positive or -1");
            o->gptq.quant.group_size = v;
            group_set = 1;
            break;
        case 'D': o->gptq.desc_act = 1; break;
        case 'S': o->gptq.static_groups = 1; break;
        case 's': o->gptq.quant.sym = 1; break;
        case 'a': o->gptq.quant.sym = 0; break;
        case 'E': o->gptq.quant.mse = 1; break;
        case 'd':
            o->gptq.damp_percent = strtod(optarg, &end);
            if (end == optarg || *end || !(o->gptq.damp_percent > 0.0) ||
                o->gptq.damp_percent >= 1.0)
                return qf_cli_usage_error("quantize", "--damp must be in (0, 1)");
            break;
        case 'W': {
            const double w = strtod(optarg, &end);
            if (end == optarg || *end || !(w >= 1.0 && w <= 1e6))
                return qf_cli_usage_error("quantize", "--sink-weight must be in [1, 1e6]");
            o->sink_weight = (float)w;
            break;
        }
        case 'T': o->true_sequential = 0; break;
        case 'f':
            if (!strcmp(optarg, "gptq")) o->format = QF_QUANT_FORMAT_GPTQ;
            else if (!strcmp(optarg, "gptq-v2") || !strcmp(optarg, "gptq_v2"))
                o->format = QF_QUANT_FORMAT_GPTQ_V2;
            else if (!strcmp(optarg, "awq")) o->format = QF_QUANT_FORMAT_AWQ;
            else if (!strcmp(optarg, "compressed-tensors")) o->format = QF_QUANT_FORMAT_W8A8;
            else return qf_cli_usage_error("quantize", "--format must be gptq, gptq-v2, awq or "
                                                       "compressed-tensors");
            format_set = 1;
            break;
        case 'L':
            if (!strcmp(optarg, "auto")) {
                o->sq_alpha = -1.0f;
                break;
            }
            o->sq_alpha = strtof(optarg, &end);
            if (end == optarg || *end || !(o->sq_alpha >= 0.0f && o->sq_alpha <= 1.0f))
                return qf_cli_usage_error("quantize", "--alpha must be in [0, 1] or auto");
            break;
        case 'Q':
            if (!strcmp(optarg, "token")) o->act_static = 0;
            else if (!strcmp(optarg, "tensor")) o->act_static = 1;
            else return qf_cli_usage_error("quantize", "--act-quant must be token or tensor");
            break;
        case 'k': o->skip_regex = optarg; break;
        case 'y':
            if (o->n_dynamic == QF_QUANTIZE_MAX_LIST)
                return qf_cli_usage_error("quantize", "too many --dynamic");
            if (qf_quantize_parse_dynamic(optarg, &c->dynamic[o->n_dynamic]) != QF_STATUS_OK)
                return qf_cli_usage_error("quantize", "%s", qf_error_message());
            o->n_dynamic++;
            break;
        case 'c':
            if (o->n_calib_paths == QF_QUANTIZE_MAX_LIST)
                return qf_cli_usage_error("quantize", "too many --calib");
            c->calib[o->n_calib_paths++] = optarg;
            break;
        case 'n':
            if (!qf_cli_parse_i64(optarg, &v) || v < 1 || v > (1 << 20))
                return qf_cli_usage_error("quantize", "--calib-samples must be positive");
            o->calib.n_samples = v;
            break;
        case 'l':
            if (!qf_cli_parse_i64(optarg, &v) || v < 2 || v > (1 << 24))
                return qf_cli_usage_error("quantize", "--calib-seqlen must be at least 2");
            o->calib.seqlen = v;
            seqlen_set = 1;
            break;
        case 'r':
            if (!qf_cli_parse_i64(optarg, &v))
                return qf_cli_usage_error("quantize", "--seed must be a non-negative integer");
            o->calib.seed = (uint64_t)v;
            break;
        case 'M':
            if (!qf_parse_size(optarg, &o->mem_budget))
                return qf_cli_usage_error("quantize", "--mem-budget must be a size like 4G");
            break;
        case 'R': o->resume = 1; break;
        case 'K':
            if (!qf_cli_parse_i64(optarg, &v) || v > (1 << 20))
                return qf_cli_usage_error("quantize", "--checkpoint-every must be a number >= 0");
            o->checkpoint_every = (int)v;
            break;
        case 'C': o->save_calib = optarg; break;
        case 't':
            if (!qf_cli_parse_i64(optarg, &v) || v > 4096)
                return qf_cli_usage_error("quantize", "--threads must be a number >= 0");
            o->n_threads = (int)v;
            break;
        case 'V': {
            qf_runtime_device d;
            const int rc = qf_cli_parse_device("quantize", optarg, &d);
            if (rc != QF_EXIT_OK) return rc;
            o->gptq_cuda = d == QF_RUNTIME_DEVICE_CUDA;
            break;
        }
        case 'X':
            if (strcmp(optarg, "tf32") && strcmp(optarg, "fp32"))
                return qf_cli_usage_error("quantize", "--gpu-precision must be tf32 or fp32");
            o->gpu_tf32 = !strcmp(optarg, "tf32");
            break;
        case 'h': qf_quantize_help(stdout); return QF_EXIT_OK;
        default: return qf_cli_usage_error("quantize", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 2 != argc) return qf_cli_usage_error("quantize", "expected MODEL and OUTDIR");
    if (qf_quant_method_awq(o->method) && !seqlen_set) o->calib.seqlen = QF_AWQ_CALIB_SEQLEN;
    if (o->method == QF_QUANT_METHOD_SMOOTHQUANT && !format_set) /* W8A8 unless told */
        o->format = QF_QUANT_FORMAT_W8A8;
    if ((o->method == QF_QUANT_METHOD_SMOOTHQUANT || o->act_static) && !seqlen_set)
        o->calib.seqlen = QF_AWQ_CALIB_SEQLEN;
    if (o->format == QF_QUANT_FORMAT_W8A8) {
        if (!bits_set) o->gptq.quant.bits = 8;
        if (!group_set) o->gptq.quant.group_size = -1;
        o->gptq.quant.sym = 1;
    }
    o->dynamic = c->dynamic;
    o->calib_paths = c->calib;
    return -1;
}

static int qf_quantize_run(int argc, char **argv) {
    qf_quantize_cli *c = calloc(1, sizeof *c);
    if (!c) return QF_EXIT_FAILURE;
    c->o = qf_quantize_options_default();
    int rc = qf_quantize_parse(argc, argv, c);
    char *cmdline = NULL;
    if (rc < 0) {
        const char *model = argv[optind], *outdir = argv[optind + 1];
        cmdline = qf_join_argv(argc, argv);
        c->o.command_line = cmdline;
        qf_progress p = qf_cli_progress("quantize:");
        c->o.progress = &p;
        const double t0 = qf_clock_seconds();
        qf_status st = qf_quantize_model(model, outdir, &c->o);
        qf_cli_progress_done();
        const double secs = qf_clock_seconds() - t0;
        if (st == QF_STATUS_INTERRUPTED) {
            fprintf(stderr, "qforge quantize: %s\n", qf_error_message());
            rc = QF_EXIT_INTERRUPTED;
        } else if (st != QF_STATUS_OK) {
            rc = qf_cli_fail("quantize", st);
        } else {
            printf("quantized %s -> %s in %.1f s\n", model, outdir, secs);
            rc = QF_EXIT_OK;
        }
    }
    for (size_t i = 0; i < c->o.n_dynamic; i++) free(c->dynamic[i].pattern);
    free(cmdline);
    free(c);
    return rc;
}

const qf_cli_command qf_cmd_quantize = {"quantize", "quantize a model to a GPTQ checkpoint (RTN, GPTQ, AWQ)",
                                        qf_quantize_run, qf_quantize_help};
