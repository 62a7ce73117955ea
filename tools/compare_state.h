/* What `qforge compare` keeps in OUT.qforge-tmp so that an interrupted run can continue
 * (--resume) where it stopped:
 *   compare-state.json   the settings that shape the table (a resume must match them)
 *   source.qflogits      the source's distributions (the KL base)
 *   <name>.row.json      a row: after its quantize (quantize time, peak RSS), then again
 *                        with its evaluation
 *   <name>/              a method's artifact; <name>.qforge-tmp its interrupted quantize,
 *                        which `quantize --resume` continues
 * Rows are JSON with every number printed to round-trip exactly. */
#ifndef QF_TOOLS_COMPARE_STATE_H
#define QF_TOOLS_COMPARE_STATE_H

#include <stdint.h>

#include "core/status.h"
#include "runtime/eval.h"

typedef struct qf_compare_row {
    const char *label;
    int bits;
    int64_t group;
    uint64_t bytes;
    double seconds, rss_mib; /* quantize wall time and peak RSS, across attempts */
    int resumed;             /* the quantize was continued by a later run */
    int evaluated;           /* ev holds the evaluation */
    qf_eval_result ev;
} qf_compare_row;

/* A fresh run (resume 0, or nothing to resume) creates tmp and writes settings there;
 * a resume checks tmp's settings against `settings` (canonical JSON text). *resumed
 * says which happened. */
qf_status qf_compare_state_begin(const char *tmp, const char *settings, int resume,
                                 int *resumed);
/* Removes the settings and the rows of names[0..n) from tmp (the run finished). */
void qf_compare_state_finish(const char *tmp, const char *const *names, int n);
/* Writes tmp/<name>.row.json (atomic). */
qf_status qf_compare_row_save(const char *tmp, const char *name, const qf_compare_row *r);
/* Reads tmp/<name>.row.json into r's numbers (label, bits, group untouched); *found 0
 * when there is none. */
qf_status qf_compare_row_load(const char *tmp, const char *name, qf_compare_row *r,
                              int *found);

#endif
