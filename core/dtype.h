/* Element types of tensors on disk and in memory: the safetensors dtypes plus
 * the ggml block-quantized types qforge reads from GGUF files. */
#ifndef QF_DTYPE_H
#define QF_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum qf_dtype {
    QF_DTYPE_BOOL,
    QF_DTYPE_U8,
    QF_DTYPE_I8,
    QF_DTYPE_F8_E5M2,
    QF_DTYPE_F8_E4M3,
    QF_DTYPE_F8_E8M0,
    QF_DTYPE_I16,
    QF_DTYPE_U16,
    QF_DTYPE_F16,
    QF_DTYPE_BF16,
    QF_DTYPE_I32,
    QF_DTYPE_U32,
    QF_DTYPE_F32,
    QF_DTYPE_F64,
    QF_DTYPE_I64,
    QF_DTYPE_U64,
    QF_DTYPE_C64,
    QF_DTYPE_F4,
    QF_DTYPE_F6_E2M3,
    QF_DTYPE_F6_E3M2,
    /* ggml block types (GGUF only) */
    QF_DTYPE_Q4_0,
    QF_DTYPE_Q4_1,
    QF_DTYPE_Q8_0,
    QF_DTYPE_Q4_K,
    QF_DTYPE_Q6_K,
    QF_DTYPE_COUNT
} qf_dtype;

typedef struct qf_dtype_info {
    const char *name;     /* safetensors spelling ("F16"), ggml spelling for blocks ("Q4_0") */
    uint32_t block_elems; /* elements per block: 1 for plain types */
    uint32_t block_bits;  /* bits per block */
    int is_float;         /* plain floating-point type convertible with qf_dtype_to_f32 */
} qf_dtype_info;

const qf_dtype_info *qf_dtype_get_info(qf_dtype t);
const char *qf_dtype_name(qf_dtype t);

/* Looks up a dtype by its exact name ("BF16"); returns -1 if unknown. */
int qf_dtype_from_name(const char *name, size_t len);

/* Bytes needed for `numel` elements: fails (QF_STATUS_FORMAT) when numel is not a
 * whole number of blocks or bytes, or on overflow. */
qf_status qf_dtype_nbytes(qf_dtype t, uint64_t numel, uint64_t *out);

/* Scalar conversions. */
float qf_fp16_to_fp32(uint16_t h);
uint16_t qf_fp32_to_fp16(float f);   /* round to nearest even; overflow -> inf */
float qf_bf16_to_fp32(uint16_t h);
uint16_t qf_fp32_to_bf16(float f);   /* round to nearest even; NaN stays NaN */
float qf_f8e4m3_to_fp32(uint8_t v);  /* OCP E4M3FN: no inf, S.1111.111 = NaN */
float qf_f8e5m2_to_fp32(uint8_t v);
float qf_f8e8m0_to_fp32(uint8_t v);  /* 2^(v-127), 0xFF = NaN */

/* Converts n elements of a plain float type (F8*, F16, BF16, F32, F64) to F32. */
qf_status qf_dtype_to_f32(qf_dtype t, const void *src, size_t n, float *dst);

/* Converts n F32 values to F16, BF16 or F32. */
qf_status qf_dtype_from_f32(qf_dtype t, const float *src, size_t n, void *dst);

#endif
