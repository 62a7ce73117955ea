/* The state of one `qforge quantize` run shared by the pipeline's files (private):
 * options, the open model, calibration, temp directory layout, the layer inputs. */
#ifndef QF_PIPELINE_RUN_H
#define QF_PIPELINE_RUN_H

#include <stdint.h>

#include "formats/gptq.h"
#include "formats/model.h"
#include "pipeline/act_store.h"
#include "pipeline/layer.h"
#include "pipeline/pipeline.h"

#define QF_PIPE_PATH_MAX 4096

typedef struct qf_qrun {
    const qf_quantize_options *opt;
    const char *model_path, *outdir;
    char tmpdir[QF_PIPE_PATH_MAX]; /* OUTDIR.qforge-tmp */
    qf_model *m;
    const qf_model_config *cfg;
    qf_gptq_config gcfg;       /* what quantization_config says (dynamic incl. --skip) */
    char *params_json;         /* every parameter that shapes the output (state + report) */
    char model_sha[65];        /* config + tensors of the source */
    int have_calib;
    qf_calib calib;
    char calib_sha[65];
    int64_t n_samples, seqlen; /* 0 for RTN */
    qf_act_budget budget;
    qf_act_store x;            /* (n_samples) layer inputs (seqlen, hidden) */
    int64_t n_layers;
    int n_threads;             /* resolved opt->n_threads (>= 1) */
    struct qf_cpu_pool *pool;  /* n_threads threads when n_threads > 1, else NULL: the
                                  per-row work of quantizing a linear, the AWQ search */
    uint64_t units_done, units_total; /* progress */
    struct qf_cuda_qlayer *gpu; /* --device cuda: the GPU layer state (made at the first
                                   GPTQ layer), else NULL */
    int64_t gpu_x_layer;        /* the layer whose inputs the GPU holds (-1: none) */
    int64_t saved_x;            /* the layer whose inputs the temp dir holds (-1: none) */
    double t0;                 /* qf_clock_seconds() at this attempt's start */
    double seconds_before;     /* --resume: earlier attempts' time up to their last
                                  checkpoint (state.json) */
    double rss_before;         /* --resume: their peak RSS, bytes */
    int64_t resumed_at;        /* --resume: the layer this attempt started at (else 0) */
} qf_qrun;

/* Starts this attempt's clock (r->t0). */
void qf_pipe_start_clock(qf_qrun *r);
/* This attempt's seconds so far. */
double qf_pipe_elapsed(const qf_qrun *r);
/* Peak RSS of this process and of the earlier attempts, bytes. */
double qf_pipe_peak_rss(const qf_qrun *r);

/* Names of the decoder linears left unquantized (--skip, "-:" dynamic rules), in layer
 * order; *names and each name malloc'ed. */
qf_status qf_pipe_skipped(const qf_qrun *r, char ***names, size_t *n);

/* --format awq: the AWQ quantization_config (modules_to_not_convert = the skipped
 * linears' names), after checking that every quantized linear can be stored in that
 * layout; free with qf_awq_config_free. */
qf_status qf_pipe_awq_config(const qf_qrun *r, qf_awq_config *c);

/* Parameters as canonical JSON (compared on --resume, recorded in the report). */
qf_status qf_pipe_params_json(const qf_qrun *r, char **out);
/* Fills r->gcfg from the options (skip regex first as a "-:" dynamic entry). */
qf_status qf_pipe_gptq_config(qf_qrun *r);

/* Joins dir/name into buf (QF_PIPE_PATH_MAX). */
qf_status qf_pipe_join(char *buf, const char *dir, const char *name);

/* Temp dir: creates it (fresh run) or validates its state.json and loads the layer
 * inputs (--resume); sets *start_layer. */
qf_status qf_pipe_begin(qf_qrun *r, int64_t *start_layer);
/* Whether a checkpoint follows layer `layer` (opt->checkpoint_every). */
int qf_pipe_checkpoint_due(const qf_qrun *r, int64_t layer);
/* After layer `layer` (its layers/NNNN.safetensors written): saves the next layer's
 * inputs and state.json, drops the inputs saved before. */
qf_status qf_pipe_checkpoint(qf_qrun *r, int64_t layer);
/* "<tmpdir>/layers/NNNN.safetensors" */
qf_status qf_pipe_layer_path(const qf_qrun *r, int64_t layer, char *buf);

/* Quantizes decoder layer `layer` (activations in r->x become the next layer's inputs)
 * and writes its layer file. */
qf_status qf_pipe_quantize_layer(qf_qrun *r, int64_t layer);

/* Progress + interruption check. */
qf_status qf_pipe_progress(qf_qrun *r, int64_t layer, const char *what);

/* Assembles OUTDIR from the layer files (in <tmpdir>/out, renamed at the end). */
qf_status qf_pipe_write_output(qf_qrun *r);

#endif
