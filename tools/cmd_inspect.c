/* qforge inspect: what a checkpoint holds (architecture, sizes, dtypes, tensors, metadata). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void qf_inspect_help(FILE *out) {
    fprintf(out,
            "Usage: qforge inspect PATH [--json] [--no-tensors] [--no-metadata]\n"
            "\n"
            "Shows what a checkpoint holds: its format, architecture and config, parameter\n"
            "count, dtypes, total size, metadata, quantization, and a per-tensor table\n"
            "(Hugging Face name, dtype, shape, bytes; for GGUF also the name in the file).\n"
            "\n"
            "PATH is a Hugging Face checkpoint directory (config.json + model.safetensors or\n"
            "a sharded model.safetensors.index.json), a .safetensors file or a GGUF file.\n"
            "Files are fully validated when opened; a bad file is reported with its name and\n"
            "the problem.\n"
            "\n"
            "Options:\n"
            "  --json          print one JSON object instead of text\n"
            "  --no-tensors    leave out the per-tensor table\n"
            "  --no-metadata   leave out file metadata\n"
            "  -h, --help      this help\n");
}

typedef struct qf_dtype_stat {
    uint64_t tensors, bytes, params;
} qf_dtype_stat;

static const char *qf_source_name(qf_model_source s) {
    switch (s) {
    case QF_MODEL_SOURCE_HF_DIR: return "Hugging Face checkpoint directory";
    case QF_MODEL_SOURCE_SAFETENSORS: return "safetensors file";
    case QF_MODEL_SOURCE_GGUF: return "GGUF file";
    }
    return "?";
}

static size_t qf_count_files(const qf_model *m) {
    size_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = strcmp(m->tensors[j].file, m->tensors[i].file) == 0;
        n += !seen;
    }
    return n;
}

static void qf_shape_str(const qf_model_tensor *t, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

static int qf_is_block_type(qf_dtype t) { return qf_dtype_get_info(t)->block_elems > 1; }

static cJSON *qf_config_json(const qf_model_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "architecture", c->arch ? c->arch->hf_class : "");
    cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", (double)c->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)c->intermediate_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", (double)c->num_hidden_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", (double)c->num_attention_heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", (double)c->num_key_value_heads);
    cJSON_AddNumberToObject(o, "head_dim", (double)c->head_dim);
    cJSON_AddNumberToObject(o, "max_position_embeddings", (double)c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
    cJSON_AddNumberToObject(o, "rms_norm_eps", c->rms_norm_eps);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddNumberToObject(o, "sliding_window", (double)c->sliding_window);
    cJSON_AddBoolToObject(o, "attention_bias", c->attention_bias);
    return o;
}

/* "gptq, 4-bit, group 128, desc_act false, sym true, format gptq" from the checkpoint's
 * quantization_config (validated when the model was opened). */
static void qf_print_quant_config(const char *json) {
    cJSON *q = cJSON_Parse(json);
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(q, "bits");
    const cJSON *group = cJSON_GetObjectItemCaseSensitive(q, "group_size");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(q, "checkpoint_format");
    if (!cJSON_IsString(fmt)) fmt = cJSON_GetObjectItemCaseSensitive(q, "format");
    const cJSON *dyn = cJSON_GetObjectItemCaseSensitive(q, "dynamic");
    printf("quantization:  %s", cJSON_IsString(method) ? method->valuestring : "gptq");
    if (cJSON_IsNumber(bits)) printf(", %d-bit", bits->valueint);
    if (cJSON_IsNumber(group)) {
        if (group->valuedouble < 0) printf(", per-channel");
        else printf(", group %.0f", group->valuedouble);
    }
    static const char *const flags[] = {"desc_act", "sym"};
    for (int i = 0; i < 2; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(q, flags[i]);
        if (cJSON_IsBool(f)) printf(", %s %s", flags[i], cJSON_IsTrue(f) ? "true" : "false");
    }
    printf(", format %s", cJSON_IsString(fmt) ? fmt->valuestring : "gptq");
    if (cJSON_IsObject(dyn) && dyn->child)
        printf(", %d dynamic override%s", cJSON_GetArraySize(dyn),
               cJSON_GetArraySize(dyn) == 1 ? "" : "s");
    printf("\n");
    cJSON_Delete(q);
}

static void qf_print_text(const qf_model *m, const qf_dtype_stat *stats, uint64_t params,
                          uint64_t bytes, int show_tensors, int show_meta) {
    char b1[32];
    printf("path:          %s\n", m->path);
    printf("format:        %s (%zu file%s)\n", qf_source_name(m->source), qf_count_files(m),
           qf_count_files(m) == 1 ? "" : "s");
    if (m->has_config) {
        const qf_model_config *c = &m->config;
        printf("architecture:  %s (%s)\n", c->arch->hf_class, c->arch->model_type);
        printf("config:        hidden %lld, intermediate %lld, layers %lld, heads %lld (kv %lld), "
               "head_dim %lld, vocab %lld\n",
               (long long)c->hidden_size, (long long)c->intermediate_size,
               (long long)c->num_hidden_layers, (long long)c->num_attention_heads,
               (long long)c->num_key_value_heads, (long long)c->head_dim, (long long)c->vocab_size);
        printf("               context %lld, rope_theta %g, rms_norm_eps %g%s%s\n",
               (long long)c->max_position_embeddings, c->rope_theta, c->rms_norm_eps,
               c->tie_word_embeddings ? ", tied embeddings" : "",
               c->sliding_window ? ", sliding window" : "");
    } else {
        printf("architecture:  unknown (no config)\n");
    }
    printf("parameters:    %.1f M (%llu)\n", (double)params / 1e6, (unsigned long long)params);
    printf("size:          %s of tensor data in %zu tensors\n", qf_cli_format_bytes(bytes, b1),
           m->n_tensors);
    printf("dtypes:       ");
    int any_block = 0;
    for (int t = 0; t < QF_DTYPE_COUNT; t++) {
        if (!stats[t].tensors) continue;
        any_block |= qf_is_block_type((qf_dtype)t);
        printf(" %s: %llu tensors, %s;", qf_dtype_name((qf_dtype)t),
               (unsigned long long)stats[t].tensors, qf_cli_format_bytes(stats[t].bytes, b1));
    }
    printf("\n");
    if (m->quant_config_json) qf_print_quant_config(m->quant_config_json);
    else printf("quantization:  %s\n", any_block ? "ggml block quantization (see dtypes)" : "none");
    if (show_meta && m->n_meta) {
        printf("metadata:      %zu entries\n", m->n_meta);
        for (size_t i = 0; i < m->n_meta; i++)
            printf("  %-40s %.200s%s\n", m->meta[i].key, m->meta[i].value,
                   strlen(m->meta[i].value) > 200 ? "..." : "");
    }
    if (show_tensors) {
        int src = m->source == QF_MODEL_SOURCE_GGUF;
        printf("tensors:\n  %-52s %-6s %-16s %12s%s\n", "name", "dtype", "shape", "bytes",
               src ? "  in file" : "");
        for (size_t i = 0; i < m->n_tensors; i++) {
            const qf_model_tensor *t = &m->tensors[i];
            char shape[96];
            qf_shape_str(t, shape, sizeof shape);
            printf("  %-52s %-6s %-16s %12llu%s%s\n", t->name, qf_dtype_name(t->dtype), shape,
                   (unsigned long long)t->nbytes, src ? "  " : "", src ? t->source_name : "");
        }
    }
}

static void qf_print_json(const qf_model *m, const qf_dtype_stat *stats, uint64_t params,
                          uint64_t bytes, int show_tensors, int show_meta) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", m->path);
    cJSON_AddStringToObject(o, "format", m->source == QF_MODEL_SOURCE_GGUF          ? "gguf"
                                         : m->source == QF_MODEL_SOURCE_HF_DIR ? "hf"
                                                                               : "safetensors");
    cJSON_AddNumberToObject(o, "files", (double)qf_count_files(m));
    if (m->has_config) cJSON_AddItemToObject(o, "config", qf_config_json(&m->config));
    else cJSON_AddNullToObject(o, "config");
    cJSON *qc = m->quant_config_json ? cJSON_Parse(m->quant_config_json) : NULL;
    if (qc) cJSON_AddItemToObject(o, "quantization_config", qc);
    else cJSON_AddNullToObject(o, "quantization_config");
    cJSON_AddNumberToObject(o, "parameters", (double)params);
    cJSON_AddNumberToObject(o, "tensor_bytes", (double)bytes);
    cJSON_AddNumberToObject(o, "tensor_count", (double)m->n_tensors);
    cJSON *dt = cJSON_AddObjectToObject(o, "dtypes");
    for (int t = 0; t < QF_DTYPE_COUNT; t++) {
        if (!stats[t].tensors) continue;
        cJSON *e = cJSON_AddObjectToObject(dt, qf_dtype_name((qf_dtype)t));
        cJSON_AddNumberToObject(e, "tensors", (double)stats[t].tensors);
        cJSON_AddNumberToObject(e, "bytes", (double)stats[t].bytes);
        cJSON_AddNumberToObject(e, "parameters", (double)stats[t].params);
    }
    if (show_meta) {
        cJSON *md = cJSON_AddObjectToObject(o, "metadata");
        for (size_t i = 0; i < m->n_meta; i++)
            cJSON_AddStringToObject(md, m->meta[i].key, m->meta[i].value);
    }
    if (show_tensors) {
        cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
        for (size_t i = 0; i < m->n_tensors; i++) {
            const qf_model_tensor *t = &m->tensors[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", t->name);
            cJSON_AddStringToObject(e, "dtype", qf_dtype_name(t->dtype));
            cJSON *sh = cJSON_AddArrayToObject(e, "shape");
            for (int d = 0; d < t->ndim; d++)
                cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
            cJSON_AddNumberToObject(e, "bytes", (double)t->nbytes);
            cJSON_AddStringToObject(e, "file", t->file);
            cJSON_AddStringToObject(e, "source_name", t->source_name);
            cJSON_AddItemToArray(ts, e);
        }
    }
    char *s = cJSON_Print(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

static int qf_inspect_run(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                          {"no-tensors", no_argument, 0, 'T'},
                                          {"no-metadata", no_argument, 0, 'M'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    int json = 0, show_tensors = 1, show_meta = 1, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'T': show_tensors = 0; break;
        case 'M': show_meta = 0; break;
        case 'h': qf_inspect_help(stdout); return QF_EXIT_OK;
        default: return qf_cli_usage_error("inspect", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return qf_cli_usage_error("inspect", "expected exactly one PATH");
    qf_model *m = NULL;
    qf_status st = qf_model_open(argv[optind], &m);
    if (st != QF_STATUS_OK) return qf_cli_fail("inspect", st);
    qf_dtype_stat stats[QF_DTYPE_COUNT];
    memset(stats, 0, sizeof stats);
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const qf_model_tensor *t = &m->tensors[i];
        stats[t->dtype].tensors++;
        stats[t->dtype].bytes += t->nbytes;
        stats[t->dtype].params += t->numel;
        bytes += t->nbytes;
    }
    uint64_t params = qf_model_param_count(m);
    if (json) qf_print_json(m, stats, params, bytes, show_tensors, show_meta);
    else qf_print_text(m, stats, params, bytes, show_tensors, show_meta);
    qf_model_free(m);
    return QF_EXIT_OK;
}

const qf_cli_command qf_cmd_inspect = {"inspect", "show what a checkpoint (HF dir, safetensors, GGUF) holds",
                                       qf_inspect_run, qf_inspect_help};
