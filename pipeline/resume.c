/* The temp directory OUTDIR.qforge-tmp and --resume: layout
 *   state.json         parameters, model and calibration hashes, next layer, time and
 *                      peak RSS so far (written last)
 *   layers/NNNN.safetensors   each finished layer's tensors (atomic)
 *   x-NNNN/<i>.zst     the inputs of layer NNNN, one file per calibration sample
 *   scratch/           activation spill files
 *   out/               the artifact being assembled
 * A fresh run refuses an existing temp dir; --resume checks state.json against this run
 * and continues at its next layer. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fileio.h"
#include "pipeline/run.h"
#include "runtime/cpu/linear.h"
#include "runtime/cpu/pool.h"

#define QF_PIPE_STATE_MAX (1u << 20)
#define QF_PIPE_STATE_VERSION 2

void qf_pipe_start_clock(qf_qrun *r) { r->t0 = qf_clock_seconds(); }

double qf_pipe_elapsed(const qf_qrun *r) { return qf_clock_seconds() - r->t0; }

double qf_pipe_peak_rss(const qf_qrun *r) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double now = (double)ru.ru_maxrss * 1024.0;
    return now > r->rss_before ? now : r->rss_before;
}

qf_status qf_pipe_join(char *buf, const char *dir, const char *name) {
    int n = snprintf(buf, QF_PIPE_PATH_MAX, "%s/%s", dir, name);
    QF_RETURN_IF(n < 0 || n >= QF_PIPE_PATH_MAX, QF_STATUS_INVALID_ARG, "path too long: %s/%s",
                 dir, name);
    return QF_STATUS_OK;
}

static qf_status qf_pipe_mkdir(const char *path) {
    QF_RETURN_IF(mkdir(path, 0755) != 0 && errno != EEXIST, QF_STATUS_IO,
                 "'%s': cannot create directory: %s", path, strerror(errno));
    return QF_STATUS_OK;
}

qf_status qf_pipe_layer_path(const qf_qrun *r, int64_t layer, char *buf) {
    char name[64];
    snprintf(name, sizeof name, "layers/%04lld.safetensors", (long long)layer);
    return qf_pipe_join(buf, r->tmpdir, name);
}

/* The inputs of `layer`: its directory (sample < 0) or one sample's file. */
static qf_status qf_pipe_x_path(const qf_qrun *r, int64_t layer, int64_t sample, char *buf) {
    char name[64];
    if (sample < 0) snprintf(name, sizeof name, "x-%04lld", (long long)layer);
    else snprintf(name, sizeof name, "x-%04lld/%lld.zst", (long long)layer, (long long)sample);
    return qf_pipe_join(buf, r->tmpdir, name);
}

static qf_status qf_pipe_state_text(const qf_qrun *r, int64_t next_layer, char **out) {
    cJSON *j = cJSON_CreateObject();
    QF_RETURN_IF(!j, QF_STATUS_NOMEM, "out of memory");
    cJSON_AddNumberToObject(j, "version", QF_PIPE_STATE_VERSION);
    cJSON_AddStringToObject(j, "params", r->params_json);
    cJSON_AddStringToObject(j, "model_sha256", r->model_sha);
    cJSON_AddStringToObject(j, "calibration_sha256", r->have_calib ? r->calib_sha : "");
    cJSON_AddNumberToObject(j, "layers", (double)r->n_layers);
    cJSON_AddNumberToObject(j, "next_layer", (double)next_layer);
    cJSON_AddNumberToObject(j, "seconds", r->seconds_before + qf_pipe_elapsed(r));
    cJSON_AddNumberToObject(j, "peak_rss_bytes", qf_pipe_peak_rss(r));
    *out = cJSON_Print(j);
    cJSON_Delete(j);
    QF_RETURN_IF(!*out, QF_STATUS_NOMEM, "out of memory");
    return QF_STATUS_OK;
}

/* The string field `key` of the state must equal `want`. */
static qf_status qf_pipe_state_expect(const cJSON *j, const char *path, const char *key,
                                      const char *want, const char *what) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    QF_RETURN_IF(!cJSON_IsString(v), QF_STATUS_FORMAT, "'%s': missing or invalid '%s'", path,
                 key);
    QF_RETURN_IF(strcmp(v->valuestring, want) != 0, QF_STATUS_INVALID_ARG,
                 "cannot resume from '%s': it was made with different %s (was %s, now %s); "
                 "remove the directory to start over",
                 path, what, v->valuestring, want);
    return QF_STATUS_OK;
}

static qf_status qf_pipe_state_check(qf_qrun *r, const cJSON *j, const char *path,
                                     int64_t *next) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
    QF_RETURN_IF(!cJSON_IsNumber(v) || v->valuedouble != QF_PIPE_STATE_VERSION,
                 QF_STATUS_FORMAT, "'%s': unknown state version", path);
    QF_FORWARD(qf_pipe_state_expect(j, path, "params", r->params_json, "parameters"));
    QF_FORWARD(qf_pipe_state_expect(j, path, "model_sha256", r->model_sha, "model weights"));
    QF_FORWARD(qf_pipe_state_expect(j, path, "calibration_sha256",
                                    r->have_calib ? r->calib_sha : "", "calibration data"));
    const cJSON *nl = cJSON_GetObjectItemCaseSensitive(j, "layers");
    const cJSON *nx = cJSON_GetObjectItemCaseSensitive(j, "next_layer");
    QF_RETURN_IF(!cJSON_IsNumber(nl) || nl->valuedouble != (double)r->n_layers ||
                     !cJSON_IsNumber(nx) || nx->valuedouble < 1 ||
                     nx->valuedouble > (double)r->n_layers ||
                     nx->valuedouble != (double)(int64_t)nx->valuedouble,
                 QF_STATUS_FORMAT, "'%s': invalid 'layers' / 'next_layer'", path);
    *next = (int64_t)nx->valuedouble;
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(j, "seconds");
    const cJSON *rss = cJSON_GetObjectItemCaseSensitive(j, "peak_rss_bytes");
    QF_RETURN_IF(!cJSON_IsNumber(sec) || !(sec->valuedouble >= 0.0) || !cJSON_IsNumber(rss) ||
                     !(rss->valuedouble >= 0.0),
                 QF_STATUS_FORMAT, "'%s': invalid 'seconds' / 'peak_rss_bytes'", path);
    r->seconds_before = sec->valuedouble;
    r->rss_before = rss->valuedouble;
    r->resumed_at = *next;
    return QF_STATUS_OK;
}

static qf_status qf_pipe_load_x(qf_qrun *r, int64_t layer) {
    const size_t n = (size_t)(r->seqlen * r->cfg->hidden_size);
    float *buf = malloc(n * sizeof(float));
    QF_RETURN_IF(!buf, QF_STATUS_NOMEM, "out of memory");
    char path[QF_PIPE_PATH_MAX];
    qf_status st = QF_STATUS_OK;
    for (int64_t i = 0; i < r->n_samples && st == QF_STATUS_OK; i++) {
        st = qf_pipe_x_path(r, layer, i, path);
        if (st == QF_STATUS_OK) st = qf_act_zstd_read(path, buf, n);
        if (st == QF_STATUS_OK) st = qf_act_store_put(&r->x, i, buf);
    }
    free(buf);
    return st;
}

static qf_status qf_pipe_resume(qf_qrun *r, int64_t *start_layer) {
    char path[QF_PIPE_PATH_MAX];
    QF_FORWARD(qf_pipe_join(path, r->tmpdir, "state.json"));
    char *text = NULL;
    size_t len = 0;
    QF_FORWARD(qf_file_read_all(path, QF_PIPE_STATE_MAX, &text, &len));
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    QF_RETURN_IF(!j, QF_STATUS_FORMAT, "'%s': invalid JSON", path);
    qf_status st = qf_pipe_state_check(r, j, path, start_layer);
    cJSON_Delete(j);
    QF_FORWARD(st);
    char scratch[QF_PIPE_PATH_MAX];
    QF_FORWARD(qf_pipe_join(scratch, r->tmpdir, "scratch"));
    qf_remove_tree(scratch);
    QF_FORWARD(qf_pipe_join(scratch, r->tmpdir, "out"));
    qf_remove_tree(scratch);
    QF_FORWARD(qf_pipe_join(scratch, r->tmpdir, "scratch"));
    QF_FORWARD(qf_pipe_mkdir(scratch));
    if (r->have_calib && *start_layer < r->n_layers) {
        QF_FORWARD(qf_pipe_load_x(r, *start_layer));
        r->saved_x = *start_layer;
    }
    return QF_STATUS_OK;
}

qf_status qf_pipe_begin(qf_qrun *r, int64_t *start_layer) {
    *start_layer = 0;
    r->saved_x = -1;
    if (qf_path_exists(r->tmpdir)) {
        QF_RETURN_IF(!r->opt->resume, QF_STATUS_INVALID_ARG,
                     "'%s' exists (left by an interrupted run?): pass --resume to continue it, "
                     "or remove it",
                     r->tmpdir);
        char state[QF_PIPE_PATH_MAX];
        QF_FORWARD(qf_pipe_join(state, r->tmpdir, "state.json"));
        if (qf_path_exists(state)) return qf_pipe_resume(r, start_layer);
        qf_remove_tree(r->tmpdir); /* stopped inside the first layer: nothing to keep */
    }
    char sub[QF_PIPE_PATH_MAX];
    QF_FORWARD(qf_pipe_mkdir(r->tmpdir));
    QF_FORWARD(qf_pipe_join(sub, r->tmpdir, "layers"));
    QF_FORWARD(qf_pipe_mkdir(sub));
    QF_FORWARD(qf_pipe_join(sub, r->tmpdir, "scratch"));
    return qf_pipe_mkdir(sub);
}

int qf_pipe_checkpoint_due(const qf_qrun *r, int64_t layer) {
    const int every = r->opt->checkpoint_every;
    return every > 0 && (layer + 1) % every == 0;
}

/* Writing the next layer's inputs, one file per sample, the samples shared out over the
 * run's pool. */
typedef struct qf_pipe_save_job {
    qf_qrun *r;
    int64_t layer;
} qf_pipe_save_job;

static qf_status qf_pipe_save_fn(void *arg, int ith, int nth) {
    const qf_pipe_save_job *j = arg;
    const qf_qrun *r = j->r;
    const size_t n = (size_t)(r->seqlen * r->cfg->hidden_size);
    int64_t i0, i1;
    qf_cpu_share(r->n_samples, ith, nth, &i0, &i1);
    if (i0 >= i1) return QF_STATUS_OK;
    float *buf = malloc(n * sizeof(float));
    QF_RETURN_IF(!buf, QF_STATUS_NOMEM, "out of memory");
    char path[QF_PIPE_PATH_MAX];
    qf_status st = QF_STATUS_OK;
    for (int64_t i = i0; i < i1 && st == QF_STATUS_OK; i++) {
        st = qf_pipe_x_path(r, j->layer, i, path);
        if (st == QF_STATUS_OK) st = qf_act_store_get(&r->x, i, buf);
        if (st == QF_STATUS_OK) st = qf_act_zstd_write(path, buf, n, 1);
    }
    free(buf);
    return st;
}

static qf_status qf_pipe_save_x(qf_qrun *r, int64_t layer) {
    char path[QF_PIPE_PATH_MAX];
    QF_FORWARD(qf_pipe_x_path(r, layer, -1, path));
    QF_FORWARD(qf_pipe_mkdir(path));
    qf_pipe_save_job j = {r, layer};
    return qf_cpu_pool_run_status(r->pool, qf_pipe_save_fn, &j);
}

qf_status qf_pipe_checkpoint(qf_qrun *r, int64_t layer) {
    char path[QF_PIPE_PATH_MAX];
    const int64_t next = layer + 1;
    if (r->have_calib && next < r->n_layers) QF_FORWARD(qf_pipe_save_x(r, next));
    char *text = NULL;
    QF_FORWARD(qf_pipe_state_text(r, next, &text));
    qf_status st = qf_pipe_join(path, r->tmpdir, "state.json");
    if (st == QF_STATUS_OK) st = qf_file_write_atomic(path, text, strlen(text), 1);
    free(text);
    QF_FORWARD(st);
    if (r->saved_x >= 0 && r->saved_x != next) {
        QF_FORWARD(qf_pipe_x_path(r, r->saved_x, -1, path));
        qf_remove_tree(path);
    }
    r->saved_x = r->have_calib && next < r->n_layers ? next : -1;
    return QF_STATUS_OK;
}
