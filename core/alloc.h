/* Allocation helpers shared by the modules: growable arrays with checked sizes. */
#ifndef QF_ALLOC_H
#define QF_ALLOC_H

#include <stddef.h>

#include "core/status.h"

/* Grows *arr (elements of `elem` bytes, capacity *cap) by doubling until it holds at
 * least `need` elements. `what` names the array in errors ("model tensors"). */
qf_status qf_array_grow(void **arr, size_t *cap, size_t need, size_t elem, const char *what);

#endif
