/* Speed of the runtime: prefill and decode tokens/s (median of repeats) on a fixed
 * pseudo-random token sequence, and the process's peak RSS. */
#ifndef QF_BENCH_H
#define QF_BENCH_H

#include <stdint.h>

#include "core/status.h"
#include "runtime/runtime.h"

typedef struct qf_bench_options {
    int64_t prompt;  /* prefill length (tokens) */
    int64_t gen;     /* decoded tokens after the prompt */
    int repeats;     /* runs; the median is reported */
} qf_bench_options;

typedef struct qf_bench_result {
    double prefill_tok_s; /* median */
    double decode_tok_s;  /* median */
    double prefill_s, decode_s; /* medians of the run times */
    int64_t peak_rss_bytes;
} qf_bench_result;

qf_status qf_bench_run(qf_runtime *rt, const qf_bench_options *opt, qf_bench_result *res);

#endif
