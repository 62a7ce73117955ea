/* A small fixed thread pool for the forward pass: the caller and n-1 workers run the same
 * function, split the work by thread index, and meet at barriers that spin briefly and then
 * yield the CPU (so a busy machine, where two of our threads may share a core, does not
 * stall on spinning waiters). Workers sleep between jobs. */
#ifndef QF_CPU_POOL_H
#define QF_CPU_POOL_H

#include "core/status.h"

typedef struct qf_cpu_pool qf_cpu_pool;

/* fn(arg, ith, nth) runs on every thread, ith = 0 on the caller. */
typedef void (*qf_cpu_pool_fn)(void *arg, int ith, int nth);

qf_status qf_cpu_pool_init(int n_threads, qf_cpu_pool **out);
void qf_cpu_pool_free(qf_cpu_pool *p);

/* Runs fn on all threads and returns when every thread has finished it. Not reentrant:
 * one job at a time per pool. */
void qf_cpu_pool_run(qf_cpu_pool *p, qf_cpu_pool_fn fn, void *arg);

/* fn on every thread (p NULL: once, here, as thread 0 of 1), each returning a status;
 * the first failed thread's (lowest ith) status and message become the caller's (error
 * messages are per thread). */
typedef qf_status (*qf_cpu_pool_status_fn)(void *arg, int ith, int nth);
qf_status qf_cpu_pool_run_status(qf_cpu_pool *p, qf_cpu_pool_status_fn fn, void *arg);

/* Called by every thread of the current job: returns when all have arrived. */
void qf_cpu_pool_barrier(qf_cpu_pool *p);

#endif
