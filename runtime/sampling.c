/* Greedy / temperature / top-k / top-p sampling with a splitmix64 generator. */
#include "runtime/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t qf_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int64_t qf_argmax_f32(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

void qf_sampler_seed(qf_sampler *s, uint64_t seed) { s->state = seed; }

static double qf_uniform(qf_sampler *s) { return (double)(qf_splitmix64(&s->state) >> 11) * 0x1.0p-53; }

typedef struct qf_cand {
    float p;
    int32_t id;
} qf_cand;

static int qf_cmp_cand(const void *a, const void *b) {
    const qf_cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id - y->id;
}

int32_t qf_sampler_pick(qf_sampler *s, const float *logits, int64_t vocab, float *scratch) {
    int64_t best = qf_argmax_f32(logits, vocab);
    if (s->temperature <= 0.0f) return (int32_t)best;
    qf_cand *c = (qf_cand *)scratch; /* 2 floats per candidate */
    double sum = 0.0;
    for (int64_t i = 0; i < vocab; i++) {
        double p = exp((double)(logits[i] - logits[best]) / s->temperature);
        c[i].p = (float)p;
        c[i].id = (int32_t)i;
        sum += p;
    }
    int64_t n = vocab;
    if (s->top_k > 0 || s->top_p < 1.0f) {
        qsort(c, (size_t)vocab, sizeof *c, qf_cmp_cand);
        if (s->top_k > 0 && s->top_k < n) n = s->top_k;
        double acc = 0.0;
        for (int64_t i = 0; i < n; i++) {
            acc += c[i].p / sum;
            if (acc >= s->top_p) {
                n = i + 1;
                break;
            }
        }
        sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += c[i].p;
    }
    double r = qf_uniform(s) * sum, acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        acc += c[i].p;
        if (r < acc) return c[i].id;
    }
    return c[n - 1].id;
}
