/* qforge compare: quantizes one model with several methods, evaluates every result
 * against the source on one text (perplexity, KL divergence, top-1 agreement) and
 * writes one table (Markdown + JSON) and a chart (SVG + PNG: ppl vs size on disk). Each
 * quantize runs in a child process so its time and peak RSS are its own. Everything is
 * built in OUT.qforge-tmp and renamed to OUT at the end. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "cli.h"
#include "core/fileio.h"
#include "core/sha256.h"
#include "pipeline/pipeline.h"
#include "runtime/eval.h"
#include "runtime/model_tokenizer.h"
#include "tools/compare_chart.h"
#include "tools/compare_state.h"

#define QF_COMPARE_TEXT_MAX (1ull << 30)
#define QF_COMPARE_MAX_METHODS 8
#define QF_COMPARE_PATH 4096

static void qf_compare_help(FILE *out) {
    fprintf(out,
            "Usage: qforge compare MODEL --text FILE --out DIR [options]\n"
            "\n"
            "Quantizes MODEL with each method, evaluates the source and every result on\n"
            "FILE (ctx windows as `qforge eval`; KL divergence and top-1 agreement against\n"
            "the source's own distributions) and writes into DIR (which must not exist):\n"
            "  compare.md, compare.json  one row per method: bits, group, size on disk, ppl,\n"
            "                            delta ppl, KLD (mean, p99), top-1 agreement,\n"
            "                            quantize time, quantize peak RSS\n"
            "  compare.svg, compare.png  perplexity vs size on disk, one point per method\n"
            "  <method>/                 each quantized checkpoint (GPTQ format; smoothquant:\n"
            "                            compressed-tensors W8A8)\n"
            "Each quantize runs in its own process (its time and peak RSS are its own).\n"
            "Work happens in DIR.qforge-tmp, which keeps every finished step: after Ctrl-C\n"
            "or a crash, run the same command with --resume.\n"
            "Methods with the same window length see the same calibration windows (same\n"
            "corpus, seed 0); nothing else is shared: from layer 1 on, each method's\n"
            "statistics depend on how it quantized the layers before.\n"
            "\n"
            "Options:\n"
            "  --methods LIST      comma-separated from rtn, gptq, awq, awq+gptq, smoothquant\n"
            "                      (default all). gptq runs with --desc-act --static-groups,\n"
            "                      as does the GPTQ step of awq+gptq; smoothquant is always\n"
            "                      W8A8 (8-bit per-channel weights, int8 activations; its\n"
            "                      row ignores --bits / --group-size / --sym)\n"
            "  --bits B            2, 3, 4 or 8 (default 4)\n"
            "  --group-size N      (default 128; -1 per-channel)\n"
            "  --sym               symmetric grid (default asymmetric)\n"
            "  --calib FILE        calibration text (repeatable; default: built-in corpus)\n"
            "  --calib-samples N   calibration windows for every method (default: each\n"
            "                      method's own, 128)\n"
            "  --calib-seqlen L    tokens per window for every method (default: gptq 2048,\n"
            "                      awq, awq+gptq and smoothquant 512)\n"
            "  --ctx N             evaluation window (default 2048, capped by the model)\n"
            "  --max-chunks N      evaluate only the first N windows\n"
            "  --threads N         threads (default 0 = every core)\n"
            "  --device D          cpu (default) or cuda: every evaluation on the GPU, and the\n"
            "                      quantizes that can run there (gptq, awq, awq+gptq; see\n"
            "                      `qforge quantize --help`); rtn and smoothquant on the CPU\n"
            "  --resume            continue the interrupted run found in DIR.qforge-tmp: rows\n"
            "                      already done are kept, an interrupted quantize continues\n"
            "                      from its last finished layer (its time then counts every\n"
            "                      attempt up to its last checkpoint; the row says resumed)\n"
            "  -h, --help          this help\n"
            "Exit codes: 0 ok, 1 failure, 2 bad command line, 130 interrupted.\n");
}

typedef struct qf_compare_args {
    const char *text, *out;
    qf_quant_method methods[QF_COMPARE_MAX_METHODS];
    int n_methods;
    int bits, sym, resume;
    qf_runtime_device device;
    int64_t group, samples, seqlen, ctx, max_chunks, threads;
    const char *calib[64];
    size_t n_calib;
} qf_compare_args;

static int qf_compare_methods(const char *list, qf_compare_args *a) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    a->n_methods = 0;
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
        const qf_quant_method m = qf_quant_method_parse(s);
        if (m == QF_QUANT_METHOD_COUNT)
            return qf_cli_usage_error("compare", "unknown method '%s' (rtn, gptq, awq, awq+gptq, "
                                                 "smoothquant)", s);
        for (int i = 0; i < a->n_methods; i++)
            if (a->methods[i] == m) return qf_cli_usage_error("compare", "method '%s' given twice", s);
        if (a->n_methods == QF_COMPARE_MAX_METHODS)
            return qf_cli_usage_error("compare", "too many methods");
        a->methods[a->n_methods++] = m;
    }
    return a->n_methods ? QF_EXIT_OK : qf_cli_usage_error("compare", "--methods is empty");
}

static int qf_compare_parse(int argc, char **argv, qf_compare_args *a) {
    static const struct option opts[] = {
        {"text", required_argument, 0, 't'},    {"out", required_argument, 0, 'o'},
        {"methods", required_argument, 0, 'm'}, {"bits", required_argument, 0, 'b'},
        {"group-size", required_argument, 0, 'g'}, {"sym", no_argument, 0, 's'},
        {"calib", required_argument, 0, 'c'},   {"calib-samples", required_argument, 0, 'n'},
        {"calib-seqlen", required_argument, 0, 'l'}, {"ctx", required_argument, 0, 'x'},
        {"max-chunks", required_argument, 0, 'k'}, {"threads", required_argument, 0, 'T'},
        {"resume", no_argument, 0, 'R'},        {"device", required_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    a->bits = 4, a->group = 128;
    int rc = qf_compare_methods("rtn,gptq,awq,awq+gptq,smoothquant", a), ch;
    int64_t v;
    opterr = 0;
    while (rc == QF_EXIT_OK && (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 't': a->text = optarg; break;
        case 'o': a->out = optarg; break;
        case 'm': rc = qf_compare_methods(optarg, a); break;
        case 's': a->sym = 1; break;
        case 'R': a->resume = 1; break;
        case 'D': rc = qf_cli_parse_device("compare", optarg, &a->device); break;
        case 'c':
            if (a->n_calib == sizeof a->calib / sizeof *a->calib)
                return qf_cli_usage_error("compare", "too many --calib");
            a->calib[a->n_calib++] = optarg;
            break;
        case 'g':
            if (!strcmp(optarg, "-1")) a->group = -1;
            else if (!qf_cli_parse_i64(optarg, &a->group) || a->group == 0)
                return qf_cli_usage_error("compare", "--group-size must be positive or -1");
            break;
        case 'b': case 'n': case 'l': case 'x': case 'k': case 'T':
            if (!qf_cli_parse_i64(optarg, &v) || (ch != 'T' && v == 0) || v > (1 << 24))
                return qf_cli_usage_error("compare", "'%s' is not a valid number", optarg);
            if (ch == 'b') {
                if (v != 2 && v != 3 && v != 4 && v != 8)
                    return qf_cli_usage_error("compare", "--bits must be 2, 3, 4 or 8");
                a->bits = (int)v;
            }
            if (ch == 'n') a->samples = v;
            if (ch == 'l') a->seqlen = v;
            if (ch == 'x') a->ctx = v;
            if (ch == 'k') a->max_chunks = v;
            if (ch == 'T') a->threads = v;
            break;
        case 'h': qf_compare_help(stdout); return -1;
        default: return qf_cli_usage_error("compare", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (rc != QF_EXIT_OK) return rc;
    if (optind + 1 != argc) return qf_cli_usage_error("compare", "expected exactly one MODEL");
    if (!a->text) return qf_cli_usage_error("compare", "missing --text FILE");
    if (!a->out) return qf_cli_usage_error("compare", "missing --out DIR");
    return QF_EXIT_OK;
}

/* buf (QF_COMPARE_PATH) = dir/name */
static qf_status qf_compare_join(char *buf, const char *dir, const char *name) {
    const int n = snprintf(buf, QF_COMPARE_PATH, "%s/%s", dir, name);
    QF_RETURN_IF(n < 0 || n >= QF_COMPARE_PATH, QF_STATUS_INVALID_ARG, "path too long: %s/%s",
                 dir, name);
    return QF_STATUS_OK;
}

/* The text, tokenized once with the source's tokenizer. */
typedef struct qf_compare_text {
    int32_t *ids;
    size_t n;
    char sha[65];
} qf_compare_text;

static qf_status qf_compare_load_text(const char *model, const char *path, qf_compare_text *t) {
    char *text = NULL;
    size_t len = 0;
    QF_FORWARD(qf_file_read_all(path, QF_COMPARE_TEXT_MAX, &text, &len));
    qf_sha256_hex(text, len, t->sha);
    qf_model *m = NULL;
    qf_tokenizer *tok = NULL;
    qf_status st = len ? qf_model_open(model, &m)
                       : qf_error_set(QF_STATUS_INVALID_ARG, "'%s' is empty: nothing to evaluate", path);
    if (st == QF_STATUS_OK) st = qf_model_load_tokenizer(m, &tok);
    if (st == QF_STATUS_OK) st = qf_tokenizer_encode(tok, text, len, 0, &t->ids, &t->n);
    qf_tokenizer_free(tok);
    qf_model_free(m);
    free(text);
    return st;
}

/* Evaluates the checkpoint at dir (save: write the base distributions; else compare). */
static qf_status qf_compare_eval(const qf_compare_args *a, const qf_compare_text *t,
                                 const char *dir, const char *base, int save,
                                 qf_eval_result *r) {
    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    QF_FORWARD(qf_model_open(dir, &m));
    int64_t ctx = a->ctx ? a->ctx : 2048;
    if (ctx > m->config.max_position_embeddings) ctx = m->config.max_position_embeddings;
    qf_runtime_options ro = {.n_threads = (int)a->threads, .max_ctx = ctx, .device = a->device};
    qf_status st = qf_runtime_init(m, &ro, &rt);
    if (st == QF_STATUS_OK) {
        qf_eval_options eo = {.ctx = ctx, .stride = ctx, .max_chunks = a->max_chunks,
                              .bos_id = -1, .save_logits = save ? base : NULL,
                              .kl_base = save ? NULL : base, .text_sha256 = t->sha,
                              .progress = qf_cli_progress("compare: eval window")};
        st = qf_eval_perplexity(rt, t->ids, (int64_t)t->n, &eo, r);
        qf_cli_progress_done();
    }
    qf_runtime_free(rt);
    qf_model_free(m);
    return st == QF_STATUS_OK ? st : qf_error_wrap(st, "evaluating '%s': ", dir);
}

/* Bytes of the *.safetensors files in dir (or of the file dir). */
static uint64_t qf_compare_size(const char *dir) {
    struct stat s;
    if (stat(dir, &s) == 0 && S_ISREG(s.st_mode)) return (uint64_t)s.st_size;
    DIR *d = opendir(dir);
    uint64_t total = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        const size_t n = strlen(e->d_name);
        char p[QF_COMPARE_PATH];
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors")) continue;
        if (qf_compare_join(p, dir, e->d_name) == QF_STATUS_OK && stat(p, &s) == 0)
            total += (uint64_t)s.st_size;
    }
    if (d) closedir(d);
    return total;
}

/* After `quantize --resume`: when it did continue at a later layer (resumed_at_layer),
 * its report's time and peak RSS, which count every attempt, replace this attempt's. */
static qf_status qf_compare_resumed_cost(const char *dir, qf_compare_row *row) {
    char p[QF_COMPARE_PATH], *text = NULL;
    size_t len = 0;
    QF_FORWARD(qf_compare_join(p, dir, "quantize_report.json"));
    QF_FORWARD(qf_file_read_all(p, 1u << 26, &text, &len));
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "total_seconds");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "peak_rss_bytes");
    const int ok = cJSON_IsNumber(s) && cJSON_IsNumber(r);
    row->resumed = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "resumed_at_layer"));
    if (ok && row->resumed) row->seconds = s->valuedouble, row->rss_mib = r->valuedouble / 1048576.0;
    cJSON_Delete(j);
    QF_RETURN_IF(!ok, QF_STATUS_FORMAT, "'%s': no total_seconds / peak_rss_bytes", p);
    return QF_STATUS_OK;
}

/* Quantizes in a child process (continuing an interrupted quantize of an earlier
 * compare run); fills seconds, peak RSS and resumed. */
static qf_status qf_compare_quantize(const qf_compare_args *a, const char *model, qf_quant_method m,
                                     const char *out, qf_compare_row *row) {
    qf_quantize_options o = qf_quantize_options_default();
    o.method = m;
    o.gptq.quant.bits = a->bits;
    o.gptq.quant.group_size = a->group;
    o.gptq.quant.sym = a->sym;
    o.gptq.desc_act = o.gptq.static_groups = qf_quant_method_gptq(m);
    o.calib_paths = a->calib;
    o.n_calib_paths = a->n_calib;
    if (qf_quant_method_awq(m)) o.calib.seqlen = QF_AWQ_CALIB_SEQLEN;
    if (m == QF_QUANT_METHOD_SMOOTHQUANT) { /* W8A8 */
        o.format = QF_QUANT_FORMAT_W8A8;
        o.gptq.quant.bits = 8, o.gptq.quant.sym = 1, o.gptq.quant.group_size = -1;
        o.calib.seqlen = QF_AWQ_CALIB_SEQLEN;
    }
    if (a->samples) o.calib.n_samples = a->samples;
    if (a->seqlen) o.calib.seqlen = a->seqlen;
    o.n_threads = (int)a->threads;
    o.gptq_cuda = a->device == QF_RUNTIME_DEVICE_CUDA &&
                  (qf_quant_method_gptq(m) || m == QF_QUANT_METHOD_AWQ);
    char qtmp[QF_COMPARE_PATH + 16];
    snprintf(qtmp, sizeof qtmp, "%s.qforge-tmp", out);
    o.resume = row->resumed = qf_path_exists(qtmp); /* left by an interrupted compare */
    char label[64];
    snprintf(label, sizeof label, "compare: quantize %s", qf_quant_method_name(m));
    qf_progress p = qf_cli_progress(label);
    o.progress = &p;
    const double t0 = qf_clock_seconds();
    fflush(NULL);
    const pid_t parent = getpid(), pid = fork();
    QF_RETURN_IF(pid < 0, QF_STATUS_IO, "fork failed");
    if (pid == 0) {
        /* a killed compare takes its quantize along (that stops at its next progress
         * report, its checkpoints kept), so a --resume never meets a stray writer */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(3); /* the parent died before prctl */
        const qf_status st = qf_quantize_model(model, out, &o);
        qf_cli_progress_done();
        if (st != QF_STATUS_OK)
            fprintf(stderr, "qforge compare: %s: %s\n", qf_quant_method_name(m), qf_error_message());
        _exit(st == QF_STATUS_OK ? 0 : st == QF_STATUS_INTERRUPTED ? 3 : 1);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    QF_RETURN_IF(wait4(pid, &status, 0, &ru) != pid, QF_STATUS_IO, "waiting for the quantize process failed");
    row->seconds = qf_clock_seconds() - t0;
    row->rss_mib = (double)ru.ru_maxrss / 1024.0;
    QF_RETURN_IF(WIFEXITED(status) && WEXITSTATUS(status) == 3, QF_STATUS_INTERRUPTED,
                 "interrupted while quantizing with %s", qf_quant_method_name(m));
    QF_RETURN_IF(!WIFEXITED(status) || WEXITSTATUS(status) != 0, QF_STATUS_INVALID_ARG,
                 "quantizing with %s failed (see above)", qf_quant_method_name(m));
    return row->resumed ? qf_compare_resumed_cost(out, row) : QF_STATUS_OK;
}

static cJSON *qf_compare_json(const qf_compare_args *a, const char *model, const qf_compare_row *rows,
                              int n, const qf_compare_text *t) {
    cJSON *j = cJSON_CreateObject();
    char name[512];
    qf_path_basename(model, name, sizeof name);
    cJSON_AddStringToObject(j, "model", name);
    qf_path_basename(a->text, name, sizeof name);
    cJSON_AddStringToObject(j, "text", name);
    cJSON_AddStringToObject(j, "text_sha256", t->sha);
    cJSON_AddNumberToObject(j, "ctx", (double)(a->ctx ? a->ctx : 2048));
    cJSON_AddStringToObject(j, "device", a->device == QF_RUNTIME_DEVICE_CUDA ? "cuda" : "cpu");
    cJSON_AddNumberToObject(j, "scored_tokens", (double)rows[0].ev.n_scored);
    cJSON *arr = cJSON_AddArrayToObject(j, "rows");
    for (int i = 0; i < n; i++) {
        const qf_compare_row *r = &rows[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "method", r->label);
        if (i) {
            cJSON_AddNumberToObject(e, "bits", r->bits);
            cJSON_AddNumberToObject(e, "group_size", (double)r->group);
        }
        cJSON_AddNumberToObject(e, "bytes", (double)r->bytes);
        cJSON_AddNumberToObject(e, "ppl", r->ev.ppl);
        if (i) {
            cJSON_AddNumberToObject(e, "delta_ppl", r->ev.ppl - rows[0].ev.ppl);
            cJSON_AddNumberToObject(e, "kld_mean", r->ev.kld_mean);
            cJSON_AddNumberToObject(e, "kld_p99", r->ev.kld_p99);
            cJSON_AddNumberToObject(e, "top1_agree", r->ev.top1_agree);
            cJSON_AddNumberToObject(e, "quantize_seconds", r->seconds);
            cJSON_AddNumberToObject(e, "quantize_peak_rss_mib", r->rss_mib);
            cJSON_AddBoolToObject(e, "quantize_resumed", r->resumed);
        }
        cJSON_AddItemToArray(arr, e);
    }
    return j;
}

static char *qf_compare_markdown(const qf_compare_row *rows, int n) {
    size_t cap = 4096 + (size_t)n * 512, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    len += (size_t)snprintf(s + len, cap - len,
                            "| method | bits | group | size on disk | ppl | Δppl | KLD mean | KLD p99 | "
                            "top-1 agree | quantize time | quantize peak RSS |\n"
                            "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const qf_compare_row *r = &rows[i];
        char sz[32];
        qf_cli_format_bytes(r->bytes, sz);
        if (i == 0)
            len += (size_t)snprintf(s + len, cap - len, "| %s | | | %s | %.4f | | | | | | |\n",
                                    r->label, sz, r->ev.ppl);
        else
            len += (size_t)snprintf(s + len, cap - len,
                                    "| %s | %d | %lld | %s | %.4f | %+.4f | %.5f | %.4f | %.2f%% | %.1f s%s | %.0f MiB |\n",
                                    r->label, r->bits, (long long)r->group, sz, r->ev.ppl,
                                    r->ev.ppl - rows[0].ev.ppl, r->ev.kld_mean, r->ev.kld_p99,
                                    100.0 * r->ev.top1_agree, r->seconds,
                                    r->resumed ? " (resumed)" : "", r->rss_mib);
    }
    return s;
}

static qf_status qf_compare_outputs(const qf_compare_args *a, const char *model, const char *dir,
                                    const qf_compare_row *rows, int n, const qf_compare_text *t) {
    char p[QF_COMPARE_PATH];
    char *md = qf_compare_markdown(rows, n);
    cJSON *j = qf_compare_json(a, model, rows, n, t);
    char *js = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    qf_chart_point pts[QF_COMPARE_MAX_METHODS + 1];
    for (int i = 0; i < n; i++)
        pts[i] = (qf_chart_point){rows[i].label, (double)rows[i].bytes / 1048576.0, rows[i].ev.ppl};
    char title[600], base[256], *svg = NULL;
    qf_path_basename(model, base, sizeof base);
    snprintf(title, sizeof title, "%s: perplexity vs size (%d-bit, group %lld)", base, a->bits,
             (long long)a->group);
    qf_status st = md && js ? qf_chart_svg(pts, (size_t)n, title, &svg)
                            : qf_error_set(QF_STATUS_NOMEM, "out of memory");
    const char *const names[3] = {"compare.md", "compare.json", "compare.svg"};
    const char *const bodies[3] = {md, js, svg};
    for (int k = 0; k < 3 && st == QF_STATUS_OK; k++) {
        st = qf_compare_join(p, dir, names[k]);
        if (st == QF_STATUS_OK) st = qf_file_write_atomic(p, bodies[k], strlen(bodies[k]), 0);
    }
    if (st == QF_STATUS_OK) st = qf_compare_join(p, dir, "compare.png");
    if (st == QF_STATUS_OK) st = qf_chart_png(svg, p);
    if (st == QF_STATUS_OK) fputs(md, stdout);
    free(md), free(js), free(svg);
    return st;
}

/* The settings a resumed run must share with the interrupted one (canonical JSON). */
static char *qf_compare_settings(const qf_compare_args *a, const char *model,
                                 const qf_compare_text *t) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "version", 1);
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "text_sha256", t->sha);
    cJSON *m = cJSON_AddArrayToObject(j, "methods");
    for (int i = 0; i < a->n_methods; i++)
        cJSON_AddItemToArray(m, cJSON_CreateString(qf_quant_method_name(a->methods[i])));
    cJSON_AddNumberToObject(j, "bits", a->bits);
    cJSON_AddNumberToObject(j, "group_size", (double)a->group);
    cJSON_AddBoolToObject(j, "sym", a->sym);
    cJSON *c = cJSON_AddArrayToObject(j, "calib");
    for (size_t i = 0; i < a->n_calib; i++) cJSON_AddItemToArray(c, cJSON_CreateString(a->calib[i]));
    cJSON_AddNumberToObject(j, "calib_samples", (double)a->samples);
    cJSON_AddNumberToObject(j, "calib_seqlen", (double)a->seqlen);
    cJSON_AddNumberToObject(j, "ctx", (double)a->ctx);
    cJSON_AddNumberToObject(j, "max_chunks", (double)a->max_chunks);
    cJSON_AddStringToObject(j, "device", a->device == QF_RUNTIME_DEVICE_CUDA ? "cuda" : "cpu");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* A method's file name in OUT ("awq+gptq" -> "awq_gptq"). */
static const char *qf_compare_name(qf_quant_method m) {
    return m == QF_QUANT_METHOD_AWQ_GPTQ ? "awq_gptq" : qf_quant_method_name(m);
}

/* One method's row: kept from an earlier run, or quantized and/or evaluated now (each
 * step saved as it finishes). */
static qf_status qf_compare_method(const qf_compare_args *a, const char *model, const char *tmp,
                                   const qf_compare_text *t, const char *base, qf_quant_method m,
                                   qf_compare_row *r) {
    const int sq = m == QF_QUANT_METHOD_SMOOTHQUANT;
    r->label = qf_quant_method_name(m);
    r->bits = sq ? 8 : a->bits;
    r->group = sq ? -1 : a->group;
    const char *name = qf_compare_name(m);
    char dir[QF_COMPARE_PATH];
    QF_FORWARD(qf_compare_join(dir, tmp, name));
    int found = 0;
    QF_FORWARD(qf_compare_row_load(tmp, name, r, &found));
    if (found && r->evaluated) return QF_STATUS_OK;
    if (!found || !qf_path_exists(dir)) {
        qf_remove_tree(dir); /* renamed into place, row not yet saved: redo */
        QF_FORWARD(qf_compare_quantize(a, model, m, dir, r));
        r->bytes = qf_compare_size(dir);
        QF_FORWARD(qf_compare_row_save(tmp, name, r));
    }
    QF_FORWARD(qf_compare_eval(a, t, dir, base, 0, &r->ev));
    r->evaluated = 1;
    return qf_compare_row_save(tmp, name, r);
}

static qf_status qf_compare_all(const qf_compare_args *a, const char *model, const char *tmp,
                                int *kept) {
    qf_compare_text t = {0};
    QF_FORWARD(qf_compare_load_text(model, a->text, &t));
    char *settings = qf_compare_settings(a, model, &t);
    int resumed = 0;
    qf_status st = settings ? qf_compare_state_begin(tmp, settings, a->resume, &resumed)
                            : qf_error_set(QF_STATUS_NOMEM, "out of memory");
    free(settings);
    if (resumed) printf("compare: continuing the run in '%s'\n", tmp);
    qf_compare_row rows[QF_COMPARE_MAX_METHODS + 1];
    memset(rows, 0, sizeof rows);
    char base[QF_COMPARE_PATH];
    rows[0].label = "source";
    rows[0].bytes = qf_compare_size(model);
    if (st == QF_STATUS_OK) st = qf_compare_join(base, tmp, "source.qflogits");
    int found = 0;
    if (st == QF_STATUS_OK) st = qf_compare_row_load(tmp, "source", &rows[0], &found);
    if (st == QF_STATUS_OK && !(found && rows[0].evaluated && qf_path_exists(base))) {
        st = qf_compare_eval(a, &t, model, base, 1, &rows[0].ev);
        rows[0].evaluated = 1;
        if (st == QF_STATUS_OK) st = qf_compare_row_save(tmp, "source", &rows[0]);
    }
    if (st == QF_STATUS_OK) *kept = 1; /* from here on, an interrupted run is worth resuming */
    int n = 1;
    for (int i = 0; i < a->n_methods && st == QF_STATUS_OK; i++, n++)
        st = qf_compare_method(a, model, tmp, &t, base, a->methods[i], &rows[n]);
    if (st == QF_STATUS_OK) st = qf_compare_outputs(a, model, tmp, rows, n, &t);
    if (st == QF_STATUS_OK) { /* the finished directory holds the table and artifacts */
        const char *names[QF_COMPARE_MAX_METHODS + 1] = {"source"};
        for (int i = 1; i < n; i++) names[i] = qf_compare_name(a->methods[i - 1]);
        remove(base);
        qf_compare_state_finish(tmp, names, n);
    }
    free(t.ids);
    return st;
}

static int qf_compare_run(int argc, char **argv) {
    qf_compare_args a;
    memset(&a, 0, sizeof a);
    int rc = qf_compare_parse(argc, argv, &a);
    if (rc != QF_EXIT_OK) return rc < 0 ? QF_EXIT_OK : rc;
    const char *model = argv[optind];
    rc = qf_cli_check_device("compare", a.device);
    if (rc != QF_EXIT_OK) return rc;
    if (qf_path_exists(a.out)) {
        fprintf(stderr, "qforge compare: error: '%s' already exists (refusing to overwrite)\n", a.out);
        return QF_EXIT_FAILURE;
    }
    char tmp[QF_COMPARE_PATH];
    if (strlen(a.out) > QF_COMPARE_PATH / 2) return qf_cli_usage_error("compare", "--out path too long");
    snprintf(tmp, sizeof tmp, "%s.qforge-tmp", a.out);
    int kept = qf_path_exists(tmp); /* never remove what an earlier run left */
    qf_status st = qf_compare_all(&a, model, tmp, &kept);
    if (st == QF_STATUS_OK && rename(tmp, a.out) != 0)
        st = qf_error_set(QF_STATUS_IO, "renaming '%s' to '%s' failed", tmp, a.out);
    if (st != QF_STATUS_OK) {
        if (!kept) qf_remove_tree(tmp);
        const int ec = st == QF_STATUS_INTERRUPTED ? QF_EXIT_INTERRUPTED : qf_cli_fail("compare", st);
        if (st == QF_STATUS_INTERRUPTED) fprintf(stderr, "qforge compare: %s\n", qf_error_message());
        if (kept && qf_path_exists(tmp))
            fprintf(stderr, "qforge compare: finished steps are kept in '%s': run the same "
                            "command with --resume to continue\n", tmp);
        return ec;
    }
    printf("written: %s/compare.{md,json,svg,png}\n", a.out);
    return QF_EXIT_OK;
}

const qf_cli_command qf_cmd_compare = {"compare", "quantize with several methods and compare them",
                                       qf_compare_run, qf_compare_help};
