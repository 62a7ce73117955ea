/* qf_qweight: the canonical quantized linear weight (DESIGN.md §1). Every quantizer
 * (RTN in core/quant.c, GPTQ in gptq/) produces it, every writer (formats/gptq*, later
 * AWQ / compressed-tensors / GGUF) packs it, every reader fills it, and the runtime
 * repacks it once at load time. Codes are unpacked (one byte each) in the weight's own
 * (out, in) orientation; scales and zero points are per (group, output row), the order
 * GPTQ computes and stores them in.
 *
 * Dequantization: w[o, i] = scales[g, o] * (q[o, i] - zeros[g, o]),  g = g_idx[i]
 * (g = i / group_size when g_idx is NULL). */
#ifndef QF_QWEIGHT_H
#define QF_QWEIGHT_H

#include <stdint.h>

#include "core/status.h"

#define QF_QWEIGHT_MAX_BITS 8

typedef struct qf_qweight {
    int bits;           /* 2, 3, 4 or 8 */
    int sym;            /* 1: every zero point is 2^(bits-1) */
    int64_t out, in;    /* the weight's shape (out, in) */
    int64_t group_size; /* input columns per group; == in for per-channel (-1 on disk) */
    int64_t n_groups;   /* ceil(in / group_size) */
    uint8_t *q;         /* (out, in) codes in [0, 2^bits) */
    float *scales;      /* (n_groups, out) finite and > 0; fp16-representable when the
                           quantizer was asked for fp16 scales (the GPTQ default) */
    uint8_t *zeros;     /* (n_groups, out) zero points in [0, 2^bits) */
    int32_t *g_idx;     /* (in) group of each input column (act-order), or NULL:
                           column i is in group i / group_size */
} qf_qweight;

/* Allocates the arrays of a (out, in) weight (zeroed; g_idx only if with_g_idx).
 * group_size <= 0 or >= in means per-channel. Fails on bits outside {2,3,4,8}, empty or
 * overflowing shapes, or out of memory. */
qf_status qf_qweight_init(qf_qweight *w, int bits, int sym, int64_t out, int64_t in,
                          int64_t group_size, int with_g_idx);
/* Frees the arrays and zeroes *w; NULL and zeroed structs are fine. */
void qf_qweight_free(qf_qweight *w);

/* Checks what a reader filled in: codes and zeros < 2^bits, sym zeros == 2^(bits-1),
 * scales finite and > 0, g_idx entries in [0, n_groups). `what` names the tensor in the
 * error message. */
qf_status qf_qweight_validate(const qf_qweight *w, const char *what);

/* dst (out, in) = the dequantized weight (scalar reference of every kernel). */
void qf_qweight_dequant_ref(const qf_qweight *w, float *dst);
/* Rows [o0, o1) of it (dst is still the whole (out, in) matrix). */
void qf_qweight_dequant_rows(const qf_qweight *w, float *dst, int64_t o0, int64_t o1);

#endif
