/* Shared by the packed-checkpoint adapters (formats/gptq.c, formats/awq.c) and their
 * users (model validation, the runtime): which adapter reads a linear; the names
 * "PREFIX.SUFFIX" of a packed linear's tensors, finding one with its dtype and shape
 * checked, copying its bytes out of the (possibly unaligned) mapping, and the optional
 * PREFIX.bias. `kind` ("GPTQ", "AWQ") names the format in errors. */
#ifndef QF_FORMATS_PACKED_TENSORS_H
#define QF_FORMATS_PACKED_TENSORS_H

#include <stdint.h>

#include "core/dtype.h"
#include "core/qweight.h"
#include "core/status.h"
#include "formats/model.h"

#define QF_PACKED_NAME_MAX 512

/* buf (QF_PACKED_NAME_MAX) = "prefix.suffix"; fails when too long. */
qf_status qf_packed_name(char *buf, const char *prefix, const char *suffix);
/* Tensor prefix.suffix of m, which must exist with this dtype and shape. */
qf_status qf_packed_find(const qf_model *m, const char *kind, const char *prefix,
                         const char *suffix, qf_dtype dtype, int ndim, const int64_t *shape,
                         const qf_model_tensor **out);
/* malloc'ed copy of t's bytes, or NULL. */
void *qf_packed_copy(const qf_model_tensor *t);
/* prefix.bias (out) as F32 into *bias (malloc'ed), or *bias untouched when absent. */
qf_status qf_packed_read_bias(const qf_model *m, const char *prefix, int64_t out, float **bias);

/* Whether m's quantization_config names quant_method `method` (case-insensitive): 1 or
 * 0 in *is; FORMAT when the config is not valid JSON. */
qf_status qf_packed_quant_method_is(const qf_model *m, const char *method, int *is);

/* For a GPTQ or AWQ checkpoint: 1 if linear `prefix` is stored packed (P.qweight). */
int qf_packed_model_has(const qf_model *m, const char *prefix);
/* Reads packed linear `prefix` with the adapter its quant_method names (gptq / awq). */
qf_status qf_packed_model_read(const qf_model *m, const char *prefix, qf_qweight *dst,
                               float **bias);

#endif
