/* The CUDA backend's layout of a 4-bit qf_qweight (W4A16 GPTQ / AWQ weights), built once
 * on the host at load time, plus its scalar CPU reference GEMV. Plain C: it is built and
 * tested on every machine, with or without CUDA (tests/test_cuda_w4_layout.c); the
 * kernels that read it are in w4_gemv.cu.
 *
 * Columns. The input columns are reordered so that every group is one contiguous run:
 * columns sorted by group, stable (act-order g_idx), or the identity order (no g_idx).
 * Every group's run is padded with zero codes to gp columns, gp = the largest group's
 * column count rounded up to QF_CUDA_W4_CHUNK = 32, so packed column c is in group
 * c / gp and one 16-byte load (32 codes) never straddles two groups. kp = n_groups * gp
 * columns per row; perm[c] is the input column of packed column c (-1 = padding). At run
 * time only the activations are permuted (qf_cuda_w4_prep gathers x into this order;
 * padding gets x = 0), never the weights.
 *
 * Codes. Row-major (out, kp / 8) 32-bit words, 8 codes a word. Within the word of packed
 * columns 8j .. 8j+7, column 8j + 2k sits at bits 4k..4k+3 and column 8j + 2k + 1 at bits
 * 16+4k..19+4k (k = 0..3), so that qf_cuda_w4_pair_bits(word, k) is one AND/OR away from
 * the fp16 pair (1024 + code(8j+2k), 1024 + code(8j+2k+1)): the kernel's dequantization
 * costs no conversion instruction.
 *
 * Scales and zeros. Per (row, group) one pair of fp16 values, (out, n_groups, 2):
 * the scale rounded to fp16 (exact for GPTQ / AWQ checkpoints, which store fp16 scales)
 * and 1024 + zero (exact), so that w = scale * ((1024 + q) - (1024 + zero)). */
#ifndef QF_CUDA_W4_LAYOUT_H
#define QF_CUDA_W4_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/qweight.h"
#include "core/status.h"

#ifdef __CUDACC__
#define QF_CUDA_HD __host__ __device__
#else
#define QF_CUDA_HD
#endif

#define QF_CUDA_W4_CHUNK 32          /* codes per 16-byte load */
#define QF_CUDA_W4_MAX_DIM (1 << 24) /* limit on out and kp (the kernels index with int) */
/* The activations are stored as fp16(x * 2^-XSHIFT) so that a kernel's fp16 partial sum of
 * 4 products (|q - zero| <= 15) cannot overflow for any |x| <= 65504; the kernel scales
 * by 2^XSHIFT again in fp32. */
#define QF_CUDA_W4_XSHIFT 6

typedef struct qf_cuda_w4 {
    int64_t out, in;   /* the weight's shape */
    int64_t n_groups;
    int64_t gp;        /* packed columns per group, a multiple of QF_CUDA_W4_CHUNK */
    int64_t kp;        /* packed columns per row = n_groups * gp */
    uint32_t *qw;      /* (out, kp / 8) codes, 8 a word (see above) */
    uint16_t *sz;      /* (out, n_groups, 2) fp16 bits: scale, 1024 + zero */
    int32_t *perm;     /* (kp) input column of each packed column, -1 = padding */
    int dequant_ok;    /* every scale * (q - zero) is finite in fp16 (the prefill path) */
} qf_cuda_w4;

/* Repacks w (validated here; 4 bits only, else UNSUPPORTED) into l. Fails with
 * INVALID_ARG when a scale is not a finite, non-zero fp16 after rounding. w is left
 * untouched; `what` names the tensor in error messages. */
qf_status qf_cuda_w4_init(qf_cuda_w4 *l, const qf_qweight *w, const char *what);
/* Frees the arrays and zeroes *l; NULL and zeroed structs are fine. */
void qf_cuda_w4_free(qf_cuda_w4 *l);
/* Bytes a GEMV streams from the weight: codes + scales/zeros. */
size_t qf_cuda_w4_bytes(const qf_cuda_w4 *l);

/* Code of packed column c of row o (scalar read-back of the packing). */
int qf_cuda_w4_code(const qf_cuda_w4 *l, int64_t o, int64_t c);

/* The 32-bit pattern of the fp16 pair (1024 + code(8j + 2k), 1024 + code(8j + 2k + 1)) of
 * the word of columns 8j .. 8j+7; the kernel and the tests share it. */
static inline QF_CUDA_HD uint32_t qf_cuda_w4_pair_bits(uint32_t word, int k) {
    return ((word >> (4 * k)) & 0x000F000Fu) | 0x64006400u;
}

/* The activations in the kernel's form: xh (m, kp) = fp16(x[t, perm[c]] * 2^-XSHIFT),
 * round to nearest even, 0 for padding. x is (m, in). The reference of the prep kernel. */
void qf_cuda_w4_prep_ref(const qf_cuda_w4 *l, const float *x, int64_t m, uint16_t *xh);

/* wh (out, kp) fp16 bits = fp16(scale * (q - zero)) for every packed column (padding: code
 * 0), the product exact in fp32 and rounded once to nearest even: the weight dequantized in
 * the packed column order, the reference of qf_cuda_w4_dequant (bit-identical). */
void qf_cuda_w4_dequant_ref(const qf_cuda_w4 *l, uint16_t *wh);

/* Token t of the prefill GEMM: y (out) = 2^XSHIFT sum_c xh[t, c] wh[o, c] and mag (out)
 * = the same sum of |products|, in double, from prepared xh (m, kp) and wh (out, kp) of
 * qf_cuda_w4_dequant_ref (fp16 bits; every product is exact in fp32): the exact value the
 * fused GEMM (and the dequantize + cuBLAS path) round only by summing in fp32, and the
 * scale of that rounding. */
void qf_cuda_w4_gemm_ref(const qf_cuda_w4 *l, const uint16_t *xh, const uint16_t *wh, int64_t t,
                         double *y, double *mag);

/* y (m, out) = x (m, in) W^T from the layout (fp16 scales, exact zeros), accumulated in
 * double: the ground truth the GEMV kernel is tested against. */
void qf_cuda_w4_gemv_ref(const qf_cuda_w4 *l, const float *x, int64_t m, float *y);

#endif
