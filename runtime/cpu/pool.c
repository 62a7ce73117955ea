/* The forward pass's thread pool: pthread workers woken per job through a condition
 * variable (after a short spin, since jobs come back to back), and a generation-counting
 * barrier whose waiters spin with pause and then sched_yield. */
#include "runtime/cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QF_CPU_PAUSE() _mm_pause()
#else
#define QF_CPU_PAUSE() ((void)0)
#endif

/* Spins before yielding at a barrier / before sleeping between jobs. */
#define QF_CPU_POOL_SPIN_BARRIER 512
#define QF_CPU_POOL_SPIN_JOB 20000

struct qf_cpu_pool {
    int n;
    pthread_t *threads; /* (n - 1) workers */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic unsigned job_gen; /* bumped per job (and at shutdown) */
    int quit;                 /* under mu, and published by a job_gen bump */
    qf_cpu_pool_fn fn;
    void *arg;
    _Atomic int arrived;
    _Atomic unsigned barrier_gen;
};

void qf_cpu_pool_barrier(qf_cpu_pool *p) {
    if (p->n == 1) return;
    const unsigned gen = atomic_load_explicit(&p->barrier_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->arrived, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&p->barrier_gen, gen + 1, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&p->barrier_gen, memory_order_acquire) == gen;) {
        if (spins < QF_CPU_POOL_SPIN_BARRIER) {
            spins++;
            QF_CPU_PAUSE();
        } else {
            sched_yield();
        }
    }
}

typedef struct qf_cpu_worker {
    qf_cpu_pool *p;
    int ith;
} qf_cpu_worker;

static void *qf_cpu_pool_main(void *v) {
    qf_cpu_worker *w = v;
    qf_cpu_pool *p = w->p;
    const int ith = w->ith;
    free(w);
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->job_gen, memory_order_acquire) == seen &&
               spins < QF_CPU_POOL_SPIN_JOB) {
            spins++;
            QF_CPU_PAUSE();
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->job_gen, memory_order_acquire) == seen)
            pthread_cond_wait(&p->cv, &p->mu);
        seen = atomic_load_explicit(&p->job_gen, memory_order_acquire);
        const int quit = p->quit;
        qf_cpu_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        if (quit) return NULL;
        fn(arg, ith, p->n);
        qf_cpu_pool_barrier(p);
    }
}

void qf_cpu_pool_run(qf_cpu_pool *p, qf_cpu_pool_fn fn, void *arg) {
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        atomic_fetch_add_explicit(&p->job_gen, 1, memory_order_release);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    qf_cpu_pool_barrier(p);
}

static void qf_cpu_pool_stop(qf_cpu_pool *p, int started) {
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    atomic_fetch_add_explicit(&p->job_gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++) pthread_join(p->threads[i], NULL);
}

qf_status qf_cpu_pool_init(int n_threads, qf_cpu_pool **out) {
    *out = NULL;
    QF_RETURN_IF(n_threads < 1, QF_STATUS_INVALID_ARG, "thread pool: %d threads", n_threads);
    qf_cpu_pool *p = calloc(1, sizeof *p);
    QF_RETURN_IF(!p, QF_STATUS_NOMEM, "thread pool: out of memory");
    p->n = n_threads;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return qf_error_set(QF_STATUS_NOMEM, "thread pool: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 1; i < n_threads; i++) {
        qf_cpu_worker *w = malloc(sizeof *w);
        int rc = w ? 0 : -1;
        if (w) {
            *w = (qf_cpu_worker){.p = p, .ith = i};
            rc = pthread_create(&p->threads[i - 1], NULL, qf_cpu_pool_main, w);
            if (rc) free(w);
        }
        if (rc) {
            qf_cpu_pool_stop(p, i - 1);
            p->n = 1; /* nothing left to stop */
            qf_cpu_pool_free(p);
            return qf_error_set(QF_STATUS_NOMEM, "thread pool: cannot start thread %d of %d", i,
                                n_threads);
        }
    }
    *out = p;
    return QF_STATUS_OK;
}

void qf_cpu_pool_free(qf_cpu_pool *p) {
    if (!p) return;
    if (p->n > 1) qf_cpu_pool_stop(p, p->n - 1);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

#define QF_POOL_MSG_MAX 1024

typedef struct qf_pool_status_job {
    qf_cpu_pool_status_fn fn;
    void *arg;
    qf_status *st;                 /* (threads) */
    char (*msg)[QF_POOL_MSG_MAX];  /* (threads) */
} qf_pool_status_job;

static void qf_pool_status_fn(void *arg, int ith, int nth) {
    qf_pool_status_job *j = arg;
    j->st[ith] = j->fn(j->arg, ith, nth);
    if (j->st[ith] != QF_STATUS_OK) snprintf(j->msg[ith], QF_POOL_MSG_MAX, "%s", qf_error_message());
}

qf_status qf_cpu_pool_run_status(qf_cpu_pool *p, qf_cpu_pool_status_fn fn, void *arg) {
    if (!p) return fn(arg, 0, 1);
    qf_pool_status_job j = {fn, arg, calloc((size_t)p->n, sizeof *j.st),
                            calloc((size_t)p->n, sizeof *j.msg)};
    qf_status st = j.st && j.msg ? QF_STATUS_OK : qf_error_set(QF_STATUS_NOMEM, "out of memory");
    if (st == QF_STATUS_OK) qf_cpu_pool_run(p, qf_pool_status_fn, &j);
    for (int t = 0; st == QF_STATUS_OK && t < p->n; t++)
        if (j.st[t] != QF_STATUS_OK) st = qf_error_set(j.st[t], "%s", j.msg[t]);
    free(j.st), free(j.msg);
    return st;
}
