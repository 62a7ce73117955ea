/* Growable arrays with overflow-checked capacities (alloc.h). */
#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>

#define QF_ARRAY_MIN_CAP 16

qf_status qf_array_grow(void **arr, size_t *cap, size_t need, size_t elem, const char *what) {
    if (need <= *cap) return QF_STATUS_OK;
    size_t ncap = *cap ? *cap : QF_ARRAY_MIN_CAP;
    while (ncap < need) {
        QF_RETURN_IF(ncap > SIZE_MAX / 2 / elem, QF_STATUS_NOMEM, "%s: size overflow", what);
        ncap *= 2;
    }
    void *p = realloc(*arr, ncap * elem);
    QF_RETURN_IF(!p, QF_STATUS_NOMEM, "%s: out of memory (%zu bytes)", what, ncap * elem);
    *arr = p;
    *cap = ncap;
    return QF_STATUS_OK;
}
