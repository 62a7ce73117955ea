/* qforge generate: greedy or sampled continuation of a prompt (a smoke test users trust). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/fileio.h"

#define QF_PROMPT_FILE_MAX (16u << 20)

static void qf_generate_help(FILE *out) {
    fprintf(out,
            "Usage: qforge generate MODEL (--prompt TEXT | --prompt-file FILE) [-n N] [--temp T]\n"
            "                       [--top-k K] [--top-p P]\n"
            "                       [--seed S] [--threads N] [--weights f32|f16]\n"
            "\n"
            "Continues TEXT with MODEL and prints the prompt and the continuation as it is made.\n"
            "Stops after N tokens, at the end-of-sequence token, or when the context is full.\n"
            "The prompt is tokenized with the tokenizer's special tokens (BOS if it adds one).\n"
            "\n"
            "Options:\n"
            "  --prompt TEXT   the text to continue\n"
            "  --prompt-file F read the prompt from a file (exactly, trailing newlines included)\n"
            "  -n N            tokens to generate (default 64)\n"
            "  --temp T        sampling temperature; 0 (default) = greedy\n"
            "  --top-k K       sample only among the K most likely tokens (default off)\n"
            "  --top-p P       sample only among the most likely tokens holding mass P (default 1)\n"
            "  --seed S        random seed for sampling (default 0): same seed, same output\n"
            "  --threads N     CPU threads (default: all cores)\n"
            "  --weights T     in-memory weights f32 or f16\n"
            "  -h, --help      this help\n");
}

typedef struct qf_gen_state {
    qf_sampler sampler;
    int64_t vocab;
    float *scratch;
    int32_t next;
} qf_gen_state;

static qf_status qf_gen_on_logits(void *user, int64_t first, int64_t count, const float *logits) {
    qf_gen_state *g = user;
    g->next = qf_sampler_pick(&g->sampler, logits + (count - 1) * g->vocab, g->vocab, g->scratch);
    (void)first;
    return QF_STATUS_OK;
}

/* Length of the longest prefix of s[0..len) that does not end inside a UTF-8 sequence. */
static size_t qf_utf8_complete_prefix(const char *s, size_t len) {
    size_t i = len, back = 0;
    while (i > 0 && back < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0) return len;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return len - (i - 1) < need ? i - 1 : len;
}

/* Prints the bytes of decode(ids) beyond those printed already; a UTF-8 sequence split
 * across tokens comes out once complete. */
static qf_status qf_gen_print(const qf_tokenizer *tok, const int32_t *ids, size_t n, size_t *printed) {
    char *text = NULL;
    size_t len = 0;
    QF_FORWARD(qf_tokenizer_decode(tok, ids, n, &text, &len));
    size_t end = qf_utf8_complete_prefix(text, len);
    if (end > *printed) {
        fwrite(text + *printed, 1, end - *printed, stdout);
        fflush(stdout);
        *printed = end;
    }
    free(text);
    return QF_STATUS_OK;
}

static int qf_generate_run(int argc, char **argv) {
    static const struct option opts[] = {{"prompt", required_argument, 0, 'p'}, {"prompt-file", required_argument, 0, 'f'},
                                          {"temp", required_argument, 0, 't'},
                                          {"top-k", required_argument, 0, 'k'},  {"top-p", required_argument, 0, 'P'},
                                          {"seed", required_argument, 0, 's'},   {"threads", required_argument, 0, 'T'},
                                          {"weights", required_argument, 0, 'w'}, {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *prompt = NULL, *prompt_file = NULL, *weights = NULL;
    int64_t n_gen = 64, top_k = 0, seed = 0, threads = 0;
    double temp = 0.0, top_p = 1.0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'f': prompt_file = optarg; break;
        case 'w': weights = optarg; break;
        case 'n':
        case 'k':
        case 's':
        case 'T': {
            int64_t *dst = c == 'n' ? &n_gen : c == 'k' ? &top_k : c == 's' ? &seed : &threads;
            if (!qf_cli_parse_i64(optarg, dst))
                return qf_cli_usage_error("generate", "'%s' is not a non-negative integer", optarg);
            break;
        }
        case 't':
        case 'P': {
            double v = strtod(optarg, &end);
            if (!*optarg || *end || v < 0 || (c == 'P' && (v <= 0 || v > 1)))
                return qf_cli_usage_error("generate", "bad value '%s' (--temp >= 0, 0 < --top-p <= 1)", optarg);
            if (c == 't') temp = v;
            else top_p = v;
            break;
        }
        case 'h': qf_generate_help(stdout); return QF_EXIT_OK;
        default: return qf_cli_usage_error("generate", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc) return qf_cli_usage_error("generate", "expected exactly one MODEL");
    if (!prompt == !prompt_file) return qf_cli_usage_error("generate", "give one of --prompt TEXT or --prompt-file FILE");
    char *file_text = NULL;
    if (prompt_file) {
        qf_status fst = qf_file_read_all(prompt_file, QF_PROMPT_FILE_MAX, &file_text, NULL);
        if (fst != QF_STATUS_OK) return qf_cli_fail("generate", fst);
        prompt = file_text;
    }

    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    int rc = qf_cli_open_runtime("generate", argv[optind], (int)threads, 0, weights, &m, &rt);
    if (rc != QF_EXIT_OK) {
        free(file_text);
        return rc;
    }
    qf_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    qf_gen_state g = {.vocab = m->config.vocab_size};
    g.sampler = (qf_sampler){.temperature = (float)temp, .top_k = (int)top_k, .top_p = (float)top_p};
    qf_sampler_seed(&g.sampler, (uint64_t)seed);
    qf_status st = qf_model_load_tokenizer(m, &tok);
    if (st == QF_STATUS_OK) st = qf_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &n_ids);
    if (st == QF_STATUS_OK && n_ids == 0) st = qf_error_set(QF_STATUS_INVALID_ARG, "the prompt is empty");
    if (st == QF_STATUS_OK && (int64_t)n_ids + n_gen > qf_runtime_max_ctx(rt))
        n_gen = qf_runtime_max_ctx(rt) - (int64_t)n_ids;
    if (st == QF_STATUS_OK && n_gen < 0)
        st = qf_error_set(QF_STATUS_INVALID_ARG, "the prompt (%zu tokens) does not fit the context", n_ids);
    int32_t *all = NULL;
    if (st == QF_STATUS_OK) {
        all = malloc(((size_t)n_ids + (size_t)n_gen + 1) * sizeof *all);
        g.scratch = malloc((size_t)g.vocab * 2 * sizeof(float));
        if (!all || !g.scratch) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
    }
    size_t n_all = 0, printed = 0;
    if (st == QF_STATUS_OK) {
        memcpy(all, ids, n_ids * sizeof *ids);
        n_all = n_ids;
        st = qf_gen_print(tok, all, n_all, &printed);
    }
    if (st == QF_STATUS_OK) st = qf_runtime_forward(rt, ids, (int64_t)n_ids, (int64_t)n_ids - 1, qf_gen_on_logits, &g);
    for (int64_t i = 0; st == QF_STATUS_OK && i < n_gen && !qf_cli_interrupted(); i++) {
        all[n_all++] = g.next;
        st = qf_gen_print(tok, all, n_all, &printed);
        if (g.next == qf_tokenizer_eos_id(tok) || i + 1 == n_gen) break;
        int32_t t = g.next;
        if (st == QF_STATUS_OK) st = qf_runtime_forward(rt, &t, 1, 0, qf_gen_on_logits, &g);
    }
    if (st == QF_STATUS_OK) putchar('\n');
    free(all);
    free(file_text);
    free(g.scratch);
    free(ids);
    qf_tokenizer_free(tok);
    qf_runtime_free(rt);
    qf_model_free(m);
    if (st == QF_STATUS_OK && qf_cli_interrupted()) return QF_EXIT_INTERRUPTED;
    return st == QF_STATUS_OK ? QF_EXIT_OK : qf_cli_fail("generate", st);
}

const qf_cli_command qf_cmd_generate = {"generate", "continue a prompt (greedy or sampled)", qf_generate_run,
                                        qf_generate_help};
