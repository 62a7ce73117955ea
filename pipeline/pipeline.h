/* `qforge quantize`: the layer-wise calibration driver shared by every method
 * (DESIGN.md §2). One decoder layer's weights in memory at a time; the calibration
 * activations (n_samples, seqlen, hidden) flow through the layers, captured at every
 * linear's input (Hessians for GPTQ), and the *quantized* layer's output is what the next
 * layer sees. Output: a GPTQ checkpoint directory written under OUTDIR.qforge-tmp and
 * renamed into place at the end; that temp dir also holds per-layer checkpoints so an
 * interrupted run can --resume. */
#ifndef QF_PIPELINE_H
#define QF_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "calib-data/calib.h"
#include "core/progress.h"
#include "core/status.h"
#include "formats/awq.h"
#include "formats/gptq.h"
#include "awq/awq.h"
#include "gptq/gptq.h"

typedef enum qf_quant_method {
    QF_QUANT_METHOD_RTN,
    QF_QUANT_METHOD_GPTQ,
    QF_QUANT_METHOD_AWQ,      /* AWQ transform (scales + clip), then RTN */
    QF_QUANT_METHOD_AWQ_GPTQ, /* AWQ transform (scales), then GPTQ */
    QF_QUANT_METHOD_SMOOTHQUANT, /* SmoothQuant transform, then RTN (W8A8) */
    QF_QUANT_METHOD_COUNT,
} qf_quant_method;

/* "rtn", "gptq", "awq", "awq+gptq", "smoothquant"; NULL if out of range. */
const char *qf_quant_method_name(qf_quant_method m);
/* The method named s (as above), or QF_QUANT_METHOD_COUNT. */
qf_quant_method qf_quant_method_parse(const char *s);
/* Whether the method rounds with GPTQ (Hessians) / needs calibration activations. */
int qf_quant_method_gptq(qf_quant_method m);
int qf_quant_method_awq(qf_quant_method m);

/* What the artifact is written as (formats/gptq.h, formats/awq.h). */
typedef enum qf_quant_format {
    QF_QUANT_FORMAT_GPTQ,    /* GPTQ v1 (zero points stored minus one) */
    QF_QUANT_FORMAT_GPTQ_V2, /* GPTQ v2 */
    QF_QUANT_FORMAT_AWQ,     /* AutoAWQ GEMM (4 bits, group dividing every input width,
                                no act-order g_idx, no per-module bit overrides) */
    QF_QUANT_FORMAT_W8A8,    /* compressed-tensors int-quantized: 8-bit symmetric
                                per-channel weights, activations quantized at run time,
                                per token or static per tensor (act_static), simulated
                                in the calibration forward too */
} qf_quant_format;

/* Default --sink-weight (bench/results/quantize-smollm2.md "attention sink"). */
#define QF_SINK_WEIGHT 32.0f

typedef struct qf_quantize_options {
    qf_quant_method method;
    qf_gptq_options gptq;   /* quant params (bits, group, sym, mse) + GPTQ settings; RTN
                               uses only .quant */
    qf_awq_options awq;     /* awq, awq+gptq (awq+gptq never clips: GPTQ picks the
                               rounding) */
    float sq_alpha;         /* smoothquant: migration strength in [0, 1]; 0.5; < 0: auto
                               (per layer, by the W8A8 layer output error on the first
                               awq.search_samples windows) */
    float sink_weight;      /* GPTQ: Hessian weight of each calibration window's first
                               token (the model's attention sink, attended by every later
                               token) relative to the others' 1; default QF_SINK_WEIGHT */
    int gptq_cuda;          /* gptq, awq, awq+gptq on the GPU: each layer's calibration
                               passes, AWQ's scale search, Hessians and solves (pipeline/
                               cuda, gptq/cuda), the samples' activations resident there;
                               AWQ's clip search, RTN, finishing each linear and the output
                               stay on the CPU. Fails without CUDA or a usable GPU, and for
                               rtn, smoothquant and W8A8 */
    int gpu_tf32;           /* with gptq_cuda: GEMMs and Hessian sums on TF32 tensor cores
                               (1, default) or in plain fp32 (0) */
    int true_sequential;    /* 1 (default): [k,v,q] -> o -> [up,gate] -> down, each group
                               seeing the already-quantized ones' outputs */
    qf_quant_format format; /* output layout */
    int act_static;         /* W8A8: one static activation scale per linear (max|x| over
                               the calibration data / 127.5) instead of per token */
    const char *skip_regex; /* modules left unquantized (PCRE2), or NULL */
    size_t n_dynamic;       /* per-module overrides (GPTQModel `dynamic`) */
    const qf_gptq_dynamic *dynamic;
    const char *const *calib_paths; /* n_calib_paths == 0: the embedded default corpus */
    size_t n_calib_paths;
    qf_calib_options calib;
    size_t mem_budget;      /* bytes of activations kept in memory before spilling
                               (zstd) to the temp dir; 0 = no limit */
    int resume;             /* continue an interrupted run found in OUTDIR.qforge-tmp */
    int checkpoint_every;   /* layers between the checkpoints --resume continues from (the
                               next layer's activations and state.json): 1 (default) after
                               every layer; 0 never (nothing to resume) */
    const char *save_calib; /* if set: the calibration windows used are also written
                               there (safetensors, "tokens" I32 (n_samples, seqlen)) so
                               other tools can be fed the same tokens; must not exist */
    int n_threads;          /* 0 = every online core */
    const char *command_line; /* recorded in the report; may be NULL */
    const qf_progress *progress; /* "layer 3/30 model.layers.2.mlp.up_proj"; may be NULL */
} qf_quantize_options;

/* Defaults: GPTQ 4-bit g128 asym, true_sequential, v1 format, 128 x 2048 default
 * calibration, seed 0, AWQ options as qf_awq_options_default. */
qf_quantize_options qf_quantize_options_default(void);

/* Parses a --dynamic spec: "REGEX=BITS:GROUP" (or "+:REGEX=BITS:GROUP"; GROUP -1 =
 * per-channel) sets the bits and group size of the modules whose name matches REGEX;
 * "-:REGEX" leaves them unquantized. d->pattern is malloc'ed (free it). Fails with a
 * message on a malformed spec or a regex PCRE2 rejects. */
qf_status qf_quantize_parse_dynamic(const char *spec, qf_gptq_dynamic *d);

/* Quantizes the model at model_path (HF dir or GGUF) into outdir, which must not exist.
 * Writes config.json (+ quantization_config), quantize_config.json, model.safetensors,
 * tokenizer files, generation_config.json and quantize_report.json. */
qf_status qf_quantize_model(const char *model_path, const char *outdir,
                            const qf_quantize_options *opt);

#endif
