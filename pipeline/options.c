/* Options of `qforge quantize`: defaults, --dynamic specs, the canonical parameter JSON
 * (recorded in the artifact and checked on --resume), the quantization_config they
 * produce and the per-module bits / group size / skip. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

#include "pipeline/run.h"

qf_quantize_options qf_quantize_options_default(void) {
    qf_quantize_options o;
    memset(&o, 0, sizeof o);
    o.method = QF_QUANT_METHOD_GPTQ;
    o.gptq = qf_gptq_options_default();
    o.awq = qf_awq_options_default();
    o.sq_alpha = 0.5f;
    o.sink_weight = QF_SINK_WEIGHT;
    o.true_sequential = 1;
    o.gpu_tf32 = 1;
    o.checkpoint_every = 1;
    o.format = QF_QUANT_FORMAT_GPTQ;
    o.calib.n_samples = QF_CALIB_DEFAULT_SAMPLES;
    o.calib.seqlen = QF_CALIB_DEFAULT_SEQLEN;
    o.calib.seed = 0;
    return o;
}

static qf_status qf_pipe_check_regex(const char *re, const char *what) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (c) {
        pcre2_code_free(c);
        return QF_STATUS_OK;
    }
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(err, msg, sizeof msg);
    return qf_error_set(QF_STATUS_INVALID_ARG, "%s '%s': bad regular expression at offset %zu: %s",
                        what, re, (size_t)off, (const char *)msg);
}

static const char *const qf_quant_method_names[QF_QUANT_METHOD_COUNT] = {
    "rtn", "gptq", "awq", "awq+gptq", "smoothquant"};

const char *qf_quant_method_name(qf_quant_method m) {
    return (unsigned)m < QF_QUANT_METHOD_COUNT ? qf_quant_method_names[m] : NULL;
}

qf_quant_method qf_quant_method_parse(const char *s) {
    for (int m = 0; m < QF_QUANT_METHOD_COUNT; m++)
        if (!strcmp(s, qf_quant_method_names[m])) return (qf_quant_method)m;
    return QF_QUANT_METHOD_COUNT;
}

int qf_quant_method_gptq(qf_quant_method m) {
    return m == QF_QUANT_METHOD_GPTQ || m == QF_QUANT_METHOD_AWQ_GPTQ;
}

int qf_quant_method_awq(qf_quant_method m) {
    return m == QF_QUANT_METHOD_AWQ || m == QF_QUANT_METHOD_AWQ_GPTQ;
}

static int qf_pipe_valid_bits(long b) { return b == 2 || b == 3 || b == 4 || b == 8; }

qf_status qf_quantize_parse_dynamic(const char *spec, qf_gptq_dynamic *d) {
    memset(d, 0, sizeof *d);
    const char *re = spec;
    if (!strncmp(spec, "-:", 2)) {
        d->skip = 1;
        re = spec + 2;
    } else if (!strncmp(spec, "+:", 2)) {
        re = spec + 2;
    }
    size_t len = strlen(re);
    if (!d->skip) {
        const char *eq = strrchr(re, '=');
        char *end = NULL;
        QF_RETURN_IF(!eq, QF_STATUS_INVALID_ARG,
                     "--dynamic '%s': expected REGEX=BITS:GROUP or -:REGEX", spec);
        long bits = strtol(eq + 1, &end, 10);
        QF_RETURN_IF(end == eq + 1 || *end != ':' || !qf_pipe_valid_bits(bits),
                     QF_STATUS_INVALID_ARG, "--dynamic '%s': BITS must be 2, 3, 4 or 8", spec);
        const char *g = end + 1;
        long long group = strtoll(g, &end, 10);
        QF_RETURN_IF(end == g || *end || group == 0 || group < -1 || group > (1 << 20),
                     QF_STATUS_INVALID_ARG,
                     "--dynamic '%s': GROUP must be a positive group size or -1", spec);
        d->bits = (int)bits;
        d->group_size = group;
        len = (size_t)(eq - re);
    }
    QF_RETURN_IF(len == 0, QF_STATUS_INVALID_ARG, "--dynamic '%s': empty regular expression",
                 spec);
    d->pattern = malloc(len + 1);
    QF_RETURN_IF(!d->pattern, QF_STATUS_NOMEM, "out of memory");
    memcpy(d->pattern, re, len);
    d->pattern[len] = 0;
    qf_status st = qf_pipe_check_regex(d->pattern, "--dynamic");
    if (st != QF_STATUS_OK) {
        free(d->pattern);
        d->pattern = NULL;
    }
    return st;
}

qf_status qf_pipe_gptq_config(qf_qrun *r) {
    const qf_quantize_options *o = r->opt;
    const int gptq = qf_quant_method_gptq(o->method);
    if (o->skip_regex) QF_FORWARD(qf_pipe_check_regex(o->skip_regex, "--skip"));
    qf_gptq_config *c = &r->gcfg;
    memset(c, 0, sizeof *c);
    c->bits = o->gptq.quant.bits;
    c->group_size = o->gptq.quant.group_size > 0 ? o->gptq.quant.group_size : -1;
    c->desc_act = gptq && o->gptq.desc_act;
    c->sym = o->gptq.quant.sym;
    c->true_sequential = gptq && o->true_sequential;
    c->static_groups = gptq && o->gptq.static_groups;
    c->damp_percent = o->gptq.damp_percent;
    c->format = o->format == QF_QUANT_FORMAT_GPTQ_V2 ? QF_GPTQ_FORMAT_V2 : QF_GPTQ_FORMAT_V1;
    c->quantizer = "qforge:" QF_VERSION;
    const size_t n = o->n_dynamic + (o->skip_regex ? 1 : 0);
    if (n == 0) return QF_STATUS_OK;
    c->dynamic = calloc(n, sizeof *c->dynamic);
    QF_RETURN_IF(!c->dynamic, QF_STATUS_NOMEM, "out of memory");
    c->n_dynamic = n;
    size_t k = 0;
    if (o->skip_regex) { /* a search: recorded as ".*(?:REGEX)" for re.match consumers */
        size_t len = strlen(o->skip_regex) + 8;
        char *pat = malloc(len);
        if (pat) snprintf(pat, len, ".*(?:%s)", o->skip_regex);
        c->dynamic[k++] = (qf_gptq_dynamic){pat, 1, 0, 0};
    }
    for (size_t i = 0; i < o->n_dynamic; i++, k++) {
        QF_FORWARD(qf_pipe_check_regex(o->dynamic[i].pattern, "--dynamic"));
        c->dynamic[k] = o->dynamic[i];
        c->dynamic[k].pattern = strdup(o->dynamic[i].pattern);
    }
    for (size_t i = 0; i < n; i++)
        QF_RETURN_IF(!c->dynamic[i].pattern, QF_STATUS_NOMEM, "out of memory");
    return QF_STATUS_OK;
}

qf_status qf_pipe_skipped(const qf_qrun *r, char ***names, size_t *n) {
    *names = NULL, *n = 0;
    qf_status st = QF_STATUS_OK;
    for (int64_t l = 0; l < r->cfg->num_hidden_layers && st == QF_STATUS_OK; l++)
        for (int i = 0; i < QF_LAYER_N_LINEARS && st == QF_STATUS_OK; i++) {
            char name[200];
            snprintf(name, sizeof name, "model.layers.%lld.%s", (long long)l,
                     qf_layer_linear_name((qf_layer_linear)i));
            int skip = 0, bits = 0;
            int64_t group = 0;
            st = qf_gptq_config_for_module(&r->gcfg, name, &skip, &bits, &group);
            if (st != QF_STATUS_OK || !skip) continue;
            char **nn = realloc(*names, (*n + 1) * sizeof *nn);
            char *dup = nn ? strdup(name) : NULL;
            if (nn) *names = nn;
            if (!dup) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
            else (*names)[(*n)++] = dup;
        }
    if (st != QF_STATUS_OK) {
        for (size_t k = 0; k < *n; k++) free((*names)[k]);
        free(*names);
        *names = NULL, *n = 0;
    }
    return st;
}

qf_status qf_pipe_awq_config(const qf_qrun *r, qf_awq_config *c) {
    const qf_model_config *m = r->cfg;
    const qf_quantize_options *o = r->opt;
    memset(c, 0, sizeof *c);
    c->bits = 4;
    c->group_size = o->gptq.quant.group_size;
    c->zero_point = 1;
    QF_RETURN_IF(o->gptq.desc_act && !o->gptq.static_groups, QF_STATUS_INVALID_ARG,
                 "--format awq cannot store act-order without --static-groups (no g_idx)");
    qf_arch_linear lin[QF_ARCH_N_LINEARS];
    qf_arch_layer_linears(m, lin);
    qf_status st = qf_pipe_skipped(r, &c->not_convert, &c->n_not_convert);
    for (int64_t l = 0; l < m->num_hidden_layers && st == QF_STATUS_OK; l++)
        for (int i = 0; i < QF_LAYER_N_LINEARS && st == QF_STATUS_OK; i++) {
            char name[200];
            snprintf(name, sizeof name, "model.layers.%lld.%s", (long long)l,
                     qf_layer_linear_name((qf_layer_linear)i));
            int skip = 0, bits = 0;
            int64_t group = 0;
            st = qf_gptq_config_for_module(&r->gcfg, name, &skip, &bits, &group);
            if (st != QF_STATUS_OK || skip) continue;
            if (group != c->group_size)
                st = qf_error_set(QF_STATUS_INVALID_ARG, "--format awq: '%s' would get group "
                                  "%lld; the AWQ layout has one group size", name, (long long)group);
            else
                st = qf_awq_check_shape(bits, group, lin[i].out, lin[i].in, 0, name);
            if (st != QF_STATUS_OK && group == c->group_size) st = qf_error_wrap(st, "--format awq: ");
        }
    if (st != QF_STATUS_OK) qf_awq_config_free(c);
    return st;
}

qf_status qf_pipe_params_json(const qf_qrun *r, char **out) {
    const qf_quantize_options *o = r->opt;
    const int gptq = qf_quant_method_gptq(o->method), awq = qf_quant_method_awq(o->method);
    cJSON *j = cJSON_CreateObject();
    QF_RETURN_IF(!j, QF_STATUS_NOMEM, "out of memory");
    cJSON_AddStringToObject(j, "method", qf_quant_method_name(o->method));
    cJSON_AddNumberToObject(j, "bits", o->gptq.quant.bits);
    cJSON_AddNumberToObject(j, "group_size", (double)r->gcfg.group_size);
    cJSON_AddBoolToObject(j, "sym", o->gptq.quant.sym);
    cJSON_AddBoolToObject(j, "mse", o->gptq.quant.mse);
    static const char *const formats[] = {"gptq", "gptq_v2", "awq", "compressed-tensors"};
    cJSON_AddStringToObject(j, "format", formats[o->format]);
    if (o->format == QF_QUANT_FORMAT_W8A8)
        cJSON_AddStringToObject(j, "activations", o->act_static ? "static per-tensor int8"
                                                                : "dynamic per-token int8");
    cJSON *dyn = cJSON_AddArrayToObject(j, "dynamic");
    for (size_t i = 0; i < r->gcfg.n_dynamic; i++) {
        const qf_gptq_dynamic *d = &r->gcfg.dynamic[i];
        char buf[64];
        snprintf(buf, sizeof buf, "%d:%lld", d->bits, (long long)d->group_size);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "pattern", d->pattern);
        cJSON_AddStringToObject(e, "override", d->skip ? "skip" : buf);
        cJSON_AddItemToArray(dyn, e);
    }
    if (gptq) {
        cJSON_AddBoolToObject(j, "desc_act", o->gptq.desc_act);
        cJSON_AddBoolToObject(j, "static_groups", o->gptq.static_groups);
        cJSON_AddNumberToObject(j, "damp_percent", o->gptq.damp_percent);
        cJSON_AddNumberToObject(j, "damp_auto_increment", o->gptq.damp_auto_increment);
        cJSON_AddNumberToObject(j, "block_size", (double)o->gptq.block_size);
        cJSON_AddBoolToObject(j, "true_sequential", o->true_sequential);
        cJSON_AddNumberToObject(j, "sink_weight", o->sink_weight);
    }
    if (o->gptq_cuda) {
        cJSON_AddStringToObject(j, "device", "cuda");
        cJSON_AddStringToObject(j, "gpu_precision", o->gpu_tf32 ? "tf32" : "fp32");
    }
    if (awq) {
        cJSON *a = cJSON_AddObjectToObject(j, "awq");
        cJSON_AddNumberToObject(a, "n_grid", o->awq.n_grid);
        cJSON_AddBoolToObject(a, "duo_scaling", o->awq.duo_scaling);
        cJSON_AddNumberToObject(a, "search_samples", (double)o->awq.search_samples);
        const int clip = o->awq.clip && !gptq;
        cJSON_AddBoolToObject(a, "clip", clip);
        if (clip) {
            cJSON_AddNumberToObject(a, "clip_grid", o->awq.clip_grid);
            cJSON_AddNumberToObject(a, "clip_max_shrink", o->awq.clip_max_shrink);
            cJSON_AddNumberToObject(a, "clip_tokens", (double)o->awq.clip_tokens);
        }
    }
    if (o->method == QF_QUANT_METHOD_SMOOTHQUANT) {
        if (o->sq_alpha < 0.0f) {
            cJSON_AddStringToObject(j, "alpha", "auto");
            cJSON_AddNumberToObject(j, "alpha_search_samples", (double)o->awq.search_samples);
        } else {
            cJSON_AddNumberToObject(j, "alpha", o->sq_alpha);
        }
    }
    if (o->method != QF_QUANT_METHOD_RTN || o->act_static) {
        cJSON *cal = cJSON_AddArrayToObject(j, "calibration_files");
        for (size_t i = 0; i < o->n_calib_paths; i++) { // names only: the sha256 pins them
            char name[256];
            qf_path_basename(o->calib_paths[i], name, sizeof name);
            cJSON_AddItemToArray(cal, cJSON_CreateString(name));
        }
        cJSON_AddNumberToObject(j, "calibration_samples", (double)r->n_samples);
        cJSON_AddNumberToObject(j, "calibration_seqlen", (double)r->seqlen);
        char seed[24];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->calib.seed);
        cJSON_AddStringToObject(j, "seed", seed);
    }
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    QF_RETURN_IF(!*out, QF_STATUS_NOMEM, "out of memory");
    return QF_STATUS_OK;
}
