/* Compute backends as tables of function pointers (cpu always; cuda when built with
 * CUDA). The forward pass and kernels plug in here as they land. */
#ifndef QF_BACKEND_H
#define QF_BACKEND_H

#include <stddef.h>

#include "core/status.h"

typedef struct qf_backend {
    const char *name; /* "cpu", "cuda" */
    /* 1 if the backend can run on this machine now. */
    int (*available)(void);
    /* One line about the device(s): CPU features, GPU names; or why unavailable. */
    void (*describe)(char *buf, size_t n);
} qf_backend;

size_t qf_backend_count(void);
const qf_backend *qf_backend_get(size_t i);
/* NULL if no backend of that name was built. */
const qf_backend *qf_backend_find(const char *name);

#endif
