/* The list of compiled-in backends. */
#include "runtime/backend.h"

#include <string.h>

extern const qf_backend qf_backend_cpu;
#ifdef QF_HAVE_CUDA
extern const qf_backend qf_backend_cuda;
#endif

static const qf_backend *const qf_backends[] = {
    &qf_backend_cpu,
#ifdef QF_HAVE_CUDA
    &qf_backend_cuda,
#endif
};

size_t qf_backend_count(void) { return sizeof qf_backends / sizeof qf_backends[0]; }

const qf_backend *qf_backend_get(size_t i) {
    return i < qf_backend_count() ? qf_backends[i] : NULL;
}

const qf_backend *qf_backend_find(const char *name) {
    for (size_t i = 0; i < qf_backend_count(); i++)
        if (strcmp(qf_backends[i]->name, name) == 0) return qf_backends[i];
    return NULL;
}
