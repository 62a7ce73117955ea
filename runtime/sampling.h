/* Next-token sampling for `qforge generate`: greedy (temperature 0), or temperature with
 * optional top-k / top-p, from a seeded generator (same seed -> same tokens). */
#ifndef QF_SAMPLING_H
#define QF_SAMPLING_H

#include <stdint.h>

typedef struct qf_sampler {
    float temperature; /* 0 = greedy */
    int top_k;         /* 0 = off */
    float top_p;       /* 1 = off */
    uint64_t state;    /* generator state; set by qf_sampler_seed */
} qf_sampler;

/* Index of the largest of n values (the first one on ties). */
int64_t qf_argmax_f32(const float *x, int64_t n);

void qf_sampler_seed(qf_sampler *s, uint64_t seed);
/* Picks a token from logits (vocab entries). scratch holds 2 * vocab floats. */
int32_t qf_sampler_pick(qf_sampler *s, const float *logits, int64_t vocab, float *scratch);

#endif
