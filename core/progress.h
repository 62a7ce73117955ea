/* Progress reporting for long work: library code calls back, tools/ decide how
 * (and whether) to show it. */
#ifndef QF_PROGRESS_H
#define QF_PROGRESS_H

#include <stdint.h>

typedef struct qf_progress {
    /* Called with what is being done ("tensor model.layers.3.mlp.up_proj.weight"),
     * units done and the total; may be NULL. Returns non-zero to ask the work to stop. */
    int (*fn)(void *user, const char *what, uint64_t done, uint64_t total);
    void *user;
} qf_progress;

/* Calls p->fn if set; returns its stop request (0 = continue). */
static inline int qf_progress_report(const qf_progress *p, const char *what, uint64_t done,
                                     uint64_t total) {
    return (p && p->fn) ? p->fn(p->user, what, done, total) : 0;
}

#endif
