/* qforge eval: perplexity (and KL divergence against a saved base run) over a text file. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/fileio.h"

#define QF_EVAL_TEXT_MAX (1ull << 30)
#define QF_EVAL_DEFAULT_CTX 2048

static void qf_eval_help(FILE *out) {
    fprintf(out,
            "Usage: qforge eval MODEL --text FILE [--ctx N] [--stride N] [--max-chunks N] [--bos]\n"
            "                   [--save-logits FILE | --kl-base FILE] [--kl-topk K]\n"
            "                   [--threads N] [--weights f32|f16] [--device cpu|cuda] [--json]\n"
            "\n"
            "Perplexity of MODEL (HF directory, safetensors with config, or GGUF) on a text file,\n"
            "by the protocol of the GPTQ/AWQ papers: the whole file is tokenized as one stream\n"
            "(no BOS), cut into non-overlapping windows of --ctx tokens (a shorter tail is\n"
            "dropped; a text shorter than one window is evaluated as one shorter window), each\n"
            "window runs from an empty cache and is scored on every position after its first;\n"
            "ppl = exp(mean NLL over all scored tokens). Numbers from different ctx/stride/bos\n"
            "settings or texts are not comparable, so the report states them all and the text's\n"
            "SHA-256.\n"
            "\n"
            "Options:\n"
            "  --text FILE        UTF-8 text to evaluate (e.g. ../shared/data/wikitext-2/wiki.test.raw)\n"
            "  --ctx N            window length in tokens (default 2048, or the model's maximum\n"
            "                     if smaller; includes the BOS token with --bos)\n"
            "  --stride N         start a window every N tokens (default: ctx, no overlap); with\n"
            "                     overlap, each window scores only tokens no earlier window scored\n"
            "  --max-chunks N     evaluate only the first N windows\n"
            "  --bos              start every window with the tokenizer's BOS token (not scored)\n"
            "  --save-logits FILE save this run's distributions (top-k log-probs per scored token,\n"
            "                     zstd) as the base for later --kl-base runs\n"
            "  --kl-base FILE     compare with a saved base run: KL divergence (mean, p99, max),\n"
            "                     top-1 agreement, base ppl and delta ppl. The text, ctx, stride and\n"
            "                     bos must be the same as the base run's.\n"
            "  --kl-topk K        tokens kept per position with --save-logits (default 32, max 256);\n"
            "                     KL is computed over them plus one bucket for the rest (a lower\n"
            "                     bound of the full KL; the covered mass is reported)\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --weights T        in-memory weights: f32 or f16 (default: f16 for F16/BF16/quantized\n"
            "                     checkpoints, else f32)\n"
            "  --device D         cpu (default) or cuda: run the forward pass on the GPU (fp16 KV\n"
            "                     cache; fails if this build has no CUDA or no GPU is usable)\n"
            "  --json             print the result as JSON\n"
            "  -h, --help         this help\n");
}

typedef struct qf_eval_args {
    const char *text, *save, *kl_base, *weights, *device;
    int64_t ctx, stride, max_chunks, threads, topk;
    int bos, json;
} qf_eval_args;

static int qf_eval_parse(int argc, char **argv, qf_eval_args *a) {
    static const struct option opts[] = {
        {"text", required_argument, 0, 't'},        {"ctx", required_argument, 0, 'c'},
        {"stride", required_argument, 0, 's'},      {"max-chunks", required_argument, 0, 'm'},
        {"bos", no_argument, 0, 'b'},               {"save-logits", required_argument, 0, 'S'},
        {"kl-base", required_argument, 0, 'K'},     {"kl-topk", required_argument, 0, 'k'},
        {"threads", required_argument, 0, 'T'},     {"weights", required_argument, 0, 'w'},
        {"json", no_argument, 0, 'j'},              {"help", no_argument, 0, 'h'},
        {"device", required_argument, 0, 'D'},
        {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int64_t *num = c == 'c' ? &a->ctx : c == 's' ? &a->stride : c == 'm' ? &a->max_chunks
                     : c == 'T' ? &a->threads : c == 'k' ? &a->topk : NULL;
        if (num) {
            if (!qf_cli_parse_i64(optarg, num) || *num == 0)
                return qf_cli_usage_error("eval", "'%s' is not a positive integer", optarg);
            continue;
        }
        switch (c) {
        case 't': a->text = optarg; break;
        case 'b': a->bos = 1; break;
        case 'S': a->save = optarg; break;
        case 'K': a->kl_base = optarg; break;
        case 'w': a->weights = optarg; break;
        case 'D': a->device = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': qf_eval_help(stdout); return -1;
        default: return qf_cli_usage_error("eval", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc) return qf_cli_usage_error("eval", "expected exactly one MODEL");
    if (!a->text) return qf_cli_usage_error("eval", "missing --text FILE");
    if (a->save && a->kl_base) return qf_cli_usage_error("eval", "use --save-logits or --kl-base, not both");
    return QF_EXIT_OK;
}

static void qf_eval_print(const qf_eval_args *a, const char *model, const char *sha,
                          const qf_eval_result *r, int64_t ctx, int64_t stride) {
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddStringToObject(o, "text", a->text);
        cJSON_AddStringToObject(o, "text_sha256", sha);
        cJSON_AddNumberToObject(o, "ctx", (double)ctx);
        cJSON_AddNumberToObject(o, "stride", (double)stride);
        cJSON_AddBoolToObject(o, "bos", a->bos);
        cJSON_AddNumberToObject(o, "text_tokens", (double)r->n_tokens);
        cJSON_AddNumberToObject(o, "windows", (double)r->n_windows);
        cJSON_AddNumberToObject(o, "scored_tokens", (double)r->n_scored);
        cJSON_AddNumberToObject(o, "nll_sum", r->nll_sum);
        cJSON_AddNumberToObject(o, "ppl", r->ppl);
        cJSON_AddNumberToObject(o, "seconds", r->seconds);
        cJSON_AddNumberToObject(o, "tokens_per_s", r->tokens_per_s);
        if (r->has_kl) {
            cJSON_AddNumberToObject(o, "base_ppl", r->base_ppl);
            cJSON_AddNumberToObject(o, "delta_ppl", r->ppl - r->base_ppl);
            cJSON_AddNumberToObject(o, "kld_mean", r->kld_mean);
            cJSON_AddNumberToObject(o, "kld_p99", r->kld_p99);
            cJSON_AddNumberToObject(o, "kld_max", r->kld_max);
            cJSON_AddNumberToObject(o, "top1_agreement", r->top1_agree);
            cJSON_AddNumberToObject(o, "topk_coverage", r->topk_coverage);
        }
        char *s = cJSON_Print(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
        return;
    }
    printf("ppl %.4f  (ctx %lld, stride %lld, bos %s; %lld scored tokens in %lld windows of %lld text tokens)\n",
           r->ppl, (long long)ctx, (long long)stride, a->bos ? "yes" : "no", (long long)r->n_scored,
           (long long)r->n_windows, (long long)r->n_tokens);
    printf("text %s  sha256 %s\n", a->text, sha);
    printf("model %s  %.1f s, %.0f tokens/s\n", model, r->seconds, r->tokens_per_s);
    if (r->has_kl)
        printf("vs base: base ppl %.4f, delta ppl %+.4f, KLD mean %.6f p99 %.6f max %.6f, "
               "top-1 agreement %.2f%% (top-k mass covered %.4f)\n",
               r->base_ppl, r->ppl - r->base_ppl, r->kld_mean, r->kld_p99, r->kld_max,
               100.0 * r->top1_agree, r->topk_coverage);
    if (a->save) printf("saved base distributions to %s\n", a->save);
}

static int qf_eval_run(int argc, char **argv) {
    qf_eval_args a = {0};
    int rc = qf_eval_parse(argc, argv, &a);
    if (rc != QF_EXIT_OK) return rc < 0 ? QF_EXIT_OK : rc;
    const char *model_path = argv[optind];
    qf_dtype weights;
    rc = qf_cli_parse_weights("eval", a.weights, &weights);
    if (rc != QF_EXIT_OK) return rc;
    qf_runtime_device device;
    rc = qf_cli_parse_device("eval", a.device, &device);
    if (rc == QF_EXIT_OK) rc = qf_cli_check_device("eval", device);
    if (rc != QF_EXIT_OK) return rc;
    char *text = NULL;
    size_t text_len = 0;
    qf_status st = qf_file_read_all(a.text, QF_EVAL_TEXT_MAX, &text, &text_len);
    if (st != QF_STATUS_OK) return qf_cli_fail("eval", st);
    if (text_len == 0) {
        free(text);
        fprintf(stderr, "qforge eval: error: '%s' is empty: nothing to evaluate\n", a.text);
        return QF_EXIT_FAILURE;
    }
    char sha[65];
    qf_sha256_hex(text, text_len, sha);

    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    qf_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    st = qf_model_open(model_path, &m);
    if (st == QF_STATUS_OK) st = qf_model_load_tokenizer(m, &tok);
    if (st == QF_STATUS_OK) st = qf_tokenizer_encode(tok, text, text_len, 0, &ids, &n_ids);
    free(text);
    int64_t ctx = a.ctx ? a.ctx : QF_EVAL_DEFAULT_CTX;
    if (st == QF_STATUS_OK && !a.ctx && ctx > m->config.max_position_embeddings)
        ctx = m->config.max_position_embeddings;
    if (st == QF_STATUS_OK && ctx > m->config.max_position_embeddings)
        st = qf_error_set(QF_STATUS_INVALID_ARG, "--ctx %lld exceeds the model's maximum of %lld positions",
                          (long long)ctx, (long long)m->config.max_position_embeddings);
    int32_t bos = -1;
    if (st == QF_STATUS_OK && a.bos) {
        bos = qf_tokenizer_bos_id(tok);
        if (bos < 0) st = qf_error_set(QF_STATUS_INVALID_ARG, "--bos: the tokenizer has no BOS token");
    }
    qf_runtime_options ro = {.n_threads = (int)a.threads, .max_ctx = ctx, .weight_dtype = weights,
                             .device = device};
    if (st == QF_STATUS_OK) st = qf_runtime_init(m, &ro, &rt);
    qf_eval_result r;
    int64_t stride = a.stride ? a.stride : ctx - (a.bos ? 1 : 0);
    if (st == QF_STATUS_OK) {
        qf_eval_options eo = {.ctx = ctx,
                              .stride = stride,
                              .max_chunks = a.max_chunks,
                              .bos_id = bos,
                              .save_logits = a.save,
                              .kl_base = a.kl_base,
                              .topk = (int)a.topk,
                              .text_sha256 = sha,
                              .progress = qf_cli_progress("eval: window")};
        st = qf_eval_perplexity(rt, ids, (int64_t)n_ids, &eo, &r);
        qf_cli_progress_done();
    }
    if (st == QF_STATUS_OK) qf_eval_print(&a, model_path, sha, &r, ctx, stride);
    free(ids);
    qf_tokenizer_free(tok);
    qf_runtime_free(rt);
    qf_model_free(m);
    return st == QF_STATUS_OK ? QF_EXIT_OK : qf_cli_fail("eval", st);
}

const qf_cli_command qf_cmd_eval = {"eval", "perplexity / KL divergence of a model on a text",
                                    qf_eval_run, qf_eval_help};
