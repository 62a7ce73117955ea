/* Calibration activation store (private to pipeline/): one (seqlen, width) f32 buffer per
 * calibration sample, held in memory while the stores' total stays under a shared byte
 * budget, otherwise spilled per sample to a zstd file (level 1, streaming) in a scratch
 * directory. Also the zstd file helpers that the layer checkpoints use. */
#ifndef QF_PIPELINE_ACT_STORE_H
#define QF_PIPELINE_ACT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Bytes held in memory by all stores sharing it; limit 0 = no limit. */
typedef struct qf_act_budget {
    size_t limit;
    _Atomic size_t used; /* puts of different samples may run on several threads */
} qf_act_budget;

typedef struct qf_act_store {
    int64_t n_samples;
    size_t sample_floats; /* floats per sample */
    float **mem;          /* (n_samples) in-memory buffers, NULL when spilled or unset */
    uint8_t *spilled;     /* (n_samples) 1: the sample lives in its spill file */
    char *prefix;         /* spill files are "<prefix>-<i>.zst" */
    qf_act_budget *budget;
} qf_act_store;

/* An empty store of n_samples samples of sample_floats floats each; spill files go to
 * "<dir>/<name>-<i>.zst". */
qf_status qf_act_store_init(qf_act_store *s, const char *dir, const char *name,
                            int64_t n_samples, size_t sample_floats, qf_act_budget *budget);
/* Stores (a copy of) sample i, replacing what was there. Different samples may be put
 * and got on different threads at once. */
qf_status qf_act_store_put(qf_act_store *s, int64_t i, const float *x);
/* Copies sample i (which must have been put) into x (sample_floats). */
qf_status qf_act_store_get(const qf_act_store *s, int64_t i, float *x);
/* 1 if sample i is in its spill file (tests). */
int qf_act_store_is_spilled(const qf_act_store *s, int64_t i);
/* Frees the buffers, removes the spill files and gives the bytes back to the budget. */
void qf_act_store_free(qf_act_store *s);

/* n floats to a zstd file (level 1). durable: written atomically (temp + fsync + rename,
 * replacing an existing file); else written in place (scratch files). */
qf_status qf_act_zstd_write(const char *path, const float *x, size_t n, int durable);
/* Reads a file written by qf_act_zstd_write that must hold exactly n floats. */
qf_status qf_act_zstd_read(const char *path, float *x, size_t n);

#endif
