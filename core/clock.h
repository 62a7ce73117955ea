/* Wall-clock seconds for timings (CLOCK_MONOTONIC: unaffected by clock changes). */
#ifndef QF_CLOCK_H
#define QF_CLOCK_H

#include <time.h>

/* Seconds since an arbitrary fixed point; differences are elapsed time. */
static inline double qf_clock_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
