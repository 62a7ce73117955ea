/* One decoder layer being quantized (private to pipeline/): its weights, scratch, the
 * quantized linears and what the report says about them; shared by the GPTQ / RTN passes
 * (quantize_layer.c) and the AWQ transform (awq_layer.c). */
#ifndef QF_PIPELINE_PIPE_LAYER_H
#define QF_PIPELINE_PIPE_LAYER_H

#include "awq/awq.h"
#include "gptq/gptq.h"
#include "pipeline/layer_pass.h"
#include "pipeline/run.h"
#include "pipeline/sample_slots.h"

typedef struct qf_linear_report {
    int skipped, bits, gptq;
    int64_t group_size;      /* -1: per-channel */
    double weight_error;     /* |W - Q|^2 / |W|^2 */
    double rtn_error, gptq_error, damp_percent; /* GPTQ only */
    int clipped;             /* AWQ clip search applied */
} qf_linear_report;

typedef struct qf_awq_report {
    int searched;            /* 0: not applicable (GQA for v -> o, all linears skipped) */
    qf_awq_search_result res;
} qf_awq_report;

typedef struct qf_pipe_layer {
    qf_layer_weights lw;
    qf_qweight q[QF_LAYER_N_LINEARS];
    qf_linear_report rep[QF_LAYER_N_LINEARS];
    qf_awq_report awq[QF_SCALE_N_GROUPS]; /* by qf_layer_scale_group */
    int sq_done;                          /* SmoothQuant factors folded in */
    float sq_alpha;                       /* with this alpha */
    double sq_error;                      /* alpha auto: the chosen alpha's W8A8 layer
                                             output MSE (0 when not searched) */
    char prefix[QF_LAYER_N_LINEARS][160];
    qf_pipe_slot *slot;       /* n_slots sample slots; slot 0 also serves the serial code */
    int n_slots;
    double t_load, t_pass, t_solve, t_finish, t_copy; /* seconds: reading the weights,
                                 GPTQ's / the quantized forward's passes over the samples,
                                 GPTQ's solves, finishing the linears (dequantized weight,
                                 error; GPU: its upload), GPU: the activations' copies */
    double t_transform, t_clip; /* seconds: SmoothQuant's / AWQ's transform (statistics,
                                 search, fold; with AWQ's clip search), that clip search */
    qf_act_store att_store, h_store;
} qf_pipe_layer;

/* Bytes of sample slots allowed in all. */
#define QF_PIPE_SLOTS_BUDGET ((size_t)4 << 30)

/* Allocates L's sample slots (once): one per thread as far as the samples and
 * QF_PIPE_SLOTS_BUDGET allow (one on the GPU path). */
qf_status qf_pipe_layer_buffers(qf_qrun *r, qf_pipe_layer *L);

/* The RTN grid of linear i (its bits / group size, v1's zero_min). */
qf_quant_params qf_pipe_quant_params(const qf_qrun *r, const qf_pipe_layer *L, int i);
/* GPTQ's options for linear i (that grid, the run's threads). */
qf_gptq_options qf_pipe_gptq_options(const qf_qrun *r, const qf_pipe_layer *L, int i);
/* Records GPTQ's statistics in linear i's report. */
void qf_pipe_gptq_stats(qf_pipe_layer *L, int i, const qf_gptq_stats *s);
/* After linear i's codes are in L->q[i] (rtn: rounded here first from its f32 weight):
 * the dequantized weight replaces the f32 one, the report gets the weight error. */
qf_status qf_pipe_finish_linear(qf_qrun *r, qf_pipe_layer *L, int i, int rtn);

/* GPTQ's passes (pipeline/layer_pass.h): what the progress says for each; the Hessian
 * (0 q/k/v, 1 o, 2 gate/up, 3 down) that feeds each linear; the order linears are
 * quantized in (true_sequential's [k,v,q], [o], [up,gate], [down]); the Hessians'
 * widths. */
extern const char *const qf_pipe_pass_what[QF_LAYER_N_PASSES];
extern const int qf_pipe_hessian_of[QF_LAYER_N_LINEARS];
extern const int qf_pipe_order[QF_LAYER_N_LINEARS];
void qf_pipe_hessian_widths(const qf_qrun *r, int64_t w[4]);

/* Quantizes the not-skipped linears with RTN (replacing their f32 weights by the
 * dequantized ones). */
qf_status qf_pipe_rtn_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer);
/* GPTQ on the calibration activations in r->x, which become the next layer's inputs. */
qf_status qf_pipe_gptq_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer);
#ifdef QF_HAVE_CUDA
/* The same on the GPU (--device cuda, pipeline/cuda/quantize_layer_cuda.c): the passes, Hessians and
 * solves there; r->x is read where the device does not already hold this layer's inputs,
 * and written at the end when a checkpoint saves it. */
qf_status qf_pipe_gptq_layer_cuda(qf_qrun *r, qf_pipe_layer *L, int64_t layer);
/* AWQ's transform with its statistics and losses on the GPU, then (clip) the clip search
 * on the host (pipeline/cuda/awq_layer_cuda.c). */
qf_status qf_pipe_awq_layer_cuda(qf_qrun *r, qf_pipe_layer *L, int64_t layer, int clip);
/* r->x = the (quantized) layer applied to it, on the GPU (the FULL pass). */
qf_status qf_pipe_forward_layer_cuda(qf_qrun *r, qf_pipe_layer *L, int64_t layer);
/* The GPU state (made at the first layer), L's weights uploaded, this layer's inputs on the
 * device (from r->x unless already there). */
qf_status qf_pipe_cuda_load(qf_qrun *r, qf_pipe_layer *L, int64_t layer);
#endif
/* r->x = the (quantized) layer applied to r->x. */
qf_status qf_pipe_forward_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer);
/* The AWQ transform of the FP layer on r->x: scale search and folding, then (clip) the
 * clip search; L->lw holds the transformed weights. */
qf_status qf_pipe_awq_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer, int clip);
/* AWQ's clip search on the scaled layer (q and k are not clipped, as AutoAWQ): each other
 * linear's weights clamped per output row and group to the range that best keeps its
 * output on clip[g] (nc tokens of its scaling group g's input, divided by g's scales). */
qf_status qf_pipe_awq_clip(qf_qrun *r, qf_pipe_layer *L, int64_t layer,
                           float *const clip[QF_SCALE_N_GROUPS], int64_t nc);
/* The SmoothQuant transform of the FP layer on r->x (smoothquant_layer.c): max|x| at the
 * inputs of q,k,v and gate,up over every sample, the factors for opt->sq_alpha (< 0:
 * searched per layer) folded into input_layernorm and post_attention_layernorm. */
qf_status qf_pipe_sq_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer);
/* Static per-tensor activation scales (W8A8 with opt->act_static, act_scales.c): max|x| at
 * the input of every linear of lw with its act_i8 bit over the first ns samples of r->x,
 * lw run in float (before its weights are quantized), lw->act_scale[i] = max / 127.5 as
 * compressed-tensors' symmetric int8 observer computes it (tiny but > 0 for an all-zero
 * input). Runs on L's sample slots (ns progress units of layer `layer`). */
qf_status qf_pipe_act_scales(qf_qrun *r, qf_pipe_layer *L, int64_t layer, qf_layer_weights *lw,
                             int64_t ns);

#endif
