/* Calibration samples through one decoder layer on all of the run's threads (private to
 * pipeline/): each thread takes one sample at a time in its own slot (layer scratch and
 * sample buffers) with single-threaded OpenBLAS, so a pass scales with the threads
 * instead of with OpenBLAS's threading of one sample's small GEMMs. What a sample adds
 * to shared sums (Hessians, statistics, errors) is added afterwards in sample order, the
 * threads sharing out disjoint parts of the sums (a Hessian's row blocks): the results do
 * not depend on the number of threads. */
#ifndef QF_PIPELINE_SAMPLE_SLOTS_H
#define QF_PIPELINE_SAMPLE_SLOTS_H

#include "pipeline/layer.h"

typedef struct qf_pipe_slot {
    qf_layer_ctx ctx;
    float *x, *xn, *xn2; /* (S, hidden): the sample, a normed copy, a second one */
    float *att;          /* (S, heads * head_dim) */
    float *h;            /* (S, intermediate) */
} qf_pipe_slot;

/* n slots (n >= 1) for seqlen-token samples of cfg's layers; act_width as
 * qf_layer_ctx_init's. */
qf_status qf_pipe_slots_init(qf_pipe_slot **slots, int n, const qf_model_config *cfg,
                             int64_t seqlen, int64_t act_width);
void qf_pipe_slots_free(qf_pipe_slot *slots, int n);
/* Bytes one slot holds. */
size_t qf_pipe_slot_bytes(const qf_model_config *cfg, int64_t seqlen, int64_t act_width);

/* Sample i in slot s. */
typedef qf_status (*qf_pipe_sample_fn)(void *arg, qf_pipe_slot *s, int64_t i);
/* What sample i (left in s by the work) adds to the shared sums: called on every thread
 * ith of nth for each sample in order, each thread doing its share (disjoint parts of the
 * sums; ith 0 of 1 when alone). */
typedef qf_status (*qf_pipe_reduce_fn)(void *arg, const qf_pipe_slot *s, int64_t i, int ith,
                                       int nth);

struct qf_qrun;
struct qf_pipe_layer;
/* Samples 0..n-1 in batches of L's slots: progress (`what`) and the interruption check
 * before each batch, then work(arg, slot j, i0 + j) for the batch on the pool's threads
 * at once, then reduce (NULL: none) for each of them in sample order. With one slot both
 * run here with OpenBLAS on every thread, else on the pool with single-threaded OpenBLAS
 * (whose own threads then sleep rather than spin beside the pool's). */
qf_status qf_pipe_each_sample(struct qf_qrun *r, struct qf_pipe_layer *L, int64_t layer,
                              const char *what, int64_t n, qf_pipe_sample_fn work,
                              qf_pipe_reduce_fn reduce, void *arg);

#endif
