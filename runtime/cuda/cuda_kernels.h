/* C API of the CUDA kernels (built only with CUDA: QF_HAVE_CUDA). Every function returns
 * a qf_status and fills the error message; none prints. Kernel launches are asynchronous:
 * a wrapper reports launch errors (bad configuration, no device) at once, errors during
 * execution surface at the next synchronising call (qf_cuda_sync, qf_cuda_download).
 * CUDA errors map to: out of device memory -> NOMEM; no device / driver -> UNSUPPORTED;
 * anything else -> IO (the device failed). `stream` is a cudaStream_t, NULL = default.
 * Pointers marked (device) are device memory. Each kernel has a CPU reference it is
 * tested against (tests/test_cuda_kernels.c); the references are named with each. */
#ifndef QF_CUDA_KERNELS_H
#define QF_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the C headers below have no guards of their own */
#endif

#include "core/status.h"
#include "runtime/cuda/w4_layout.h"
#include "runtime/cpu/i8linear.h"

/* ---- device and memory (cuda_mem.cu) --------------------------------------------------- */
/* OK if a usable GPU is present, else UNSUPPORTED with the reason in the message. */
qf_status qf_cuda_device_check(void);
qf_status qf_cuda_malloc(void **p, size_t bytes, const char *what);
void qf_cuda_free(void *p); /* NULL is fine */
qf_status qf_cuda_upload(void *dst, const void *src, size_t bytes);   /* host -> device */
qf_status qf_cuda_download(void *dst, const void *src, size_t bytes); /* device -> host */
/* Waits for all work on the device; reports errors of kernels that already ran. */
qf_status qf_cuda_sync(void);

/* ---- W4A16 GEMV (w4_gemv.cu) ----------------------------------------------------------- */
/* A qf_cuda_w4 layout in device memory (shape fields copied from the host layout). */
typedef struct qf_cuda_w4_dev {
    int64_t out, in, n_groups, gp, kp;
    uint32_t *qw;  /* (device) (out, kp / 8) */
    uint32_t *sz;  /* (device) (out, n_groups) fp16 pairs: scale, 1024 + zero */
    int32_t *perm; /* (device) (kp) */
    int dequant_ok; /* qf_cuda_w4's: the fp16 dequantization is finite */
} qf_cuda_w4_dev;

#define QF_CUDA_W4_MAX_M 8 /* tokens per GEMV call */
/* From this many tokens on, a W4 linear dequantizes its weight to fp16 (qf_cuda_w4_dequant)
 * and runs a cuBLAS tensor-core GEMM instead of GEMV calls of 8 tokens (each of which
 * streams the whole weight): 2.5 bytes a weight written and read once against 0.5 per
 * 8 tokens. */
#define QF_CUDA_W4_GEMM_MIN_M 17

qf_status qf_cuda_w4_upload(qf_cuda_w4_dev *d, const qf_cuda_w4 *l);
void qf_cuda_w4_dev_free(qf_cuda_w4_dev *d); /* NULL and zeroed structs are fine */

/* xh (device, (m, kp) fp16 bits, 16-byte aligned) = x (device, (m, in) fp32) gathered
 * into the packed column order and scaled by 2^-QF_CUDA_W4_XSHIFT: the act-order
 * permutation applied to the activations. Bit-identical to qf_cuda_w4_prep_ref. One
 * prep serves every linear that reads the same x with the same layout columns. */
qf_status qf_cuda_w4_prep(const qf_cuda_w4_dev *d, const float *x, int64_t m, uint16_t *xh,
                          void *stream);
/* y (device, (m, out) fp32) = x W^T from prepared xh, m in [1, QF_CUDA_W4_MAX_M]
 * (m = 1: decode). Products and sums of 4 products in fp16, everything else in fp32:
 * |y - qf_cuda_w4_gemv_ref| <= 5.1 * 2^-11 * sum_i s |q_i - z| |x_i| plus fp32 sum
 * rounding (derivation in tests/test_cuda_kernels.c). */
qf_status qf_cuda_w4_gemv(const qf_cuda_w4_dev *d, const uint16_t *xh, int64_t m, float *y,
                          void *stream);

/* Candidate decode GEMV layouts under measurement (w4_gemv_variants.cu): a block of
 * `warps` warps shares `rows` rows, their chunks interleaved over the warps, `unroll`
 * loads in flight per lane. The runtime uses qf_cuda_w4_gemv; these are timed by
 * bench/cuda_gemv.cu and checked by test_cuda_kernels until one is measured faster. */
typedef struct qf_cuda_w4_variant {
    int rows, warps, unroll;
} qf_cuda_w4_variant;
/* The compiled variants (*v points to a static table); returns their count. */
int qf_cuda_w4_variants(const qf_cuda_w4_variant **v);
/* y (device, (1, out)) = x W^T for one token from prepared xh with variant i; the
 * arithmetic and error bound of qf_cuda_w4_gemv. */
qf_status qf_cuda_w4_gemv_variant(const qf_cuda_w4_dev *d, const uint16_t *xh, float *y,
                                  int variant, void *stream);

/* wh (device, (out, kp) fp16 bits, 16-byte aligned) = the weight dequantized in the
 * packed column order, bit-identical to qf_cuda_w4_dequant_ref (w4_dequant.cu). The
 * prefill GEMM is then y = 2^XSHIFT (xh wh^T) with xh from qf_cuda_w4_prep. Refuses a
 * layout whose dequant_ok is 0. */
qf_status qf_cuda_w4_dequant(const qf_cuda_w4_dev *d, uint16_t *wh, void *stream);

/* y (device, (m, out) fp32) = 2^XSHIFT xh wh^T, or y += that (acc), from prepared xh
 * (m, kp), the weight dequantized tile by tile in shared memory with the bits of
 * qf_cuda_w4_dequant (never stored): a fused tensor-core GEMM (w4_gemm.cu; WMMA fp16 in,
 * fp32 accumulation). Its error against the exact sum is the fp32 accumulation's,
 * |dy| <= (kp + 2) 2^-24 2^XSHIFT sum_c |xh_c wh_c| (qf_cuda_w4_gemm_ref). Candidate
 * prefill path under measurement: the runtime dequantizes + cuBLAS until it is timed
 * faster (bench/cuda_gemv.cu). Refuses a layout whose dequant_ok is 0. */
qf_status qf_cuda_w4_gemm(const qf_cuda_w4_dev *d, const uint16_t *xh, int64_t m, float *y,
                          int acc, void *stream);

/* ---- W8A8 (i8_linear.cu) --------------------------------------------------------------- */
/* A qf_cpu_i8linear (runtime/cpu/i8linear.h: int8 (out, kp) rows padded with zeros, F32
 * per-row scales, static activation scale or 0) in device memory. */
typedef struct qf_cuda_i8_dev {
    int64_t out, in, kp;
    int8_t *w;    /* (device) (out, kp) */
    float *scale; /* (device) (out) */
    float in_scale;
} qf_cuda_i8_dev;

/* Device scratch of one W8A8 call for m tokens: xq (m, kp) int8 (16-byte aligned), xs (m)
 * f32, acc (m, out) int32. */
typedef struct qf_cuda_i8_work {
    int8_t *xq;
    float *xs;
    int32_t *acc;
} qf_cuda_i8_work;

/* Uploads l (its rows are padded to QF_CPU_I8_BLOCK columns, as cuBLAS int8 needs). */
qf_status qf_cuda_i8_upload(qf_cuda_i8_dev *d, const qf_cpu_i8linear *l);
void qf_cuda_i8_dev_free(qf_cuda_i8_dev *d); /* NULL and zeroed structs are fine */
/* y (device, (m, out) fp32) = (add ? y + : ) the CPU's qf_cpu_i8linear_rows of x (device,
 * (m, in)) bit for bit: per-token codes and scales (wk->xq, wk->xs, also the CPU's
 * qf_cpu_i8_quantize / qf_cpu_i8_token_scale), exact int32 sums from cuBLAS's int8 GEMM
 * (cublas: a cublasHandle_t; its stream is set to `stream`), float(acc) * (xs * scale).
 * m in [1, 65535]. */
qf_status qf_cuda_i8_linear(void *cublas, const qf_cuda_i8_dev *d, const float *x, int64_t m,
                            float *y, int add, qf_cuda_i8_work *wk, void *stream);

/* ---- fused elementwise / row kernels (rmsnorm.cu, rope.cu, swiglu.cu) ------------------ */
/* qf_cpu_rmsnorm_ref on the device: y = w * (x * (1 / sqrt(mean(x^2) + eps))) per row of
 * n, one block a row (x, w, y device; y may alias x). */
qf_status qf_cuda_rmsnorm(const float *x, const float *w, float *y, int64_t m, int64_t n,
                          float eps, void *stream);
/* qf_cpu_rope_apply on the device, bit-identical: rotate_half of `heads` consecutive heads
 * of 2 * half floats for each of m tokens at x + t * stride, with the (m, half) cos/sin
 * tables of qf_cpu_rope_table (device). q and k rotate in one launch when they are
 * consecutive in the token's row (a fused qkv buffer: heads = n_heads + n_kv). */
qf_status qf_cuda_rope_apply(float *x, int64_t m, int64_t stride, int64_t heads, int64_t half,
                             const float *cos_t, const float *sin_t, void *stream);
/* qf_cpu_swiglu on the device: gate[i] = gate[i] / (1 + exp(-gate[i])) * up[i]. */
qf_status qf_cuda_swiglu(float *gate, const float *up, int64_t n, void *stream);

/* ---- forward-pass glue (forward_kernels.cu) -------------------------------------------- */
/* x (device, (m, hid) fp32) = rows tok[0..m) (device, ids already checked < vocab) of the
 * embedding table (device, (vocab, hid), fp16 bits when f16, else fp32). */
qf_status qf_cuda_embed(const void *table, int f16, const int32_t *tok, int64_t m, int64_t hid,
                        float *x, void *stream);
/* y[t, i] += x[t * x_stride + i] for t < m, i < n (device, fp32): x_stride = n adds a
 * matrix (residual), 0 adds one row to every row (bias). */
qf_status qf_cuda_add_rows(float *y, const float *x, int64_t m, int64_t n, int64_t x_stride,
                           void *stream);
/* y (device, fp16 bits) = x (device, fp32) rounded to nearest even (inf past the range). */
qf_status qf_cuda_f32_to_f16(const float *x, uint16_t *y, int64_t n, void *stream);

/* ---- attention (attention_prefill.cu, attention_decode.cu, attention_kv.cu) ----------- */
/* Shapes, cache layouts (fp16 and int8, per kv head position-major), the split plan and
 * the CPU references (runtime/cuda/attention_ref.c, in double) are in attention_host.h.
 * q, out: (device) fp32 (m, n_heads, head_dim); caches (device, 16-byte aligned) of one
 * layer. Tolerances against the references: tests/test_cuda_attention.c. */
#include "runtime/cuda/attention_host.h"

/* k, v (device, (m, n_kv, head_dim) fp32 at token stride kv_stride floats) into the caches
 * at positions p0..p0+m-1: bit-identical to qf_cuda_kv_append_f16_ref / _i8_ref. */
qf_status qf_cuda_kv_append_f16(const qf_cuda_attn *a, const float *k, const float *v,
                                int64_t kv_stride, int64_t m, int64_t p0, uint16_t *kc,
                                uint16_t *vc, void *stream);
qf_status qf_cuda_kv_append_i8(const qf_cuda_attn *a, const float *k, const float *v,
                               int64_t kv_stride, int64_t m, int64_t p0, const qf_cuda_kv_i8 *c,
                               void *stream);
/* Queries at positions p0..p0+m-1 over the fp16 cache holding positions 0..p0+m-1
 * (qf_cuda_attention_ref): tiles of 64 (token, head) rows x 64 keys, online softmax. */
qf_status qf_cuda_attention_prefill(const qf_cuda_attn *a, const float *q, int64_t m,
                                    int64_t p0, const uint16_t *kc, const uint16_t *vc,
                                    float *out, void *stream);
/* One query token q (n_heads, head_dim) at position p over the cache holding 0..p, in
 * `splits` key ranges (qf_cuda_attn_splits) combined by a second kernel; work (device)
 * holds qf_cuda_attn_work_floats(a, splits) floats. fp16 cache, or int8
 * (qf_cuda_attention_i8_ref). */
qf_status qf_cuda_attention_decode(const qf_cuda_attn *a, const float *q, int64_t p,
                                   const uint16_t *kc, const uint16_t *vc, int64_t splits,
                                   float *work, float *out, void *stream);
qf_status qf_cuda_attention_decode_i8(const qf_cuda_attn *a, const float *q, int64_t p,
                                      const qf_cuda_kv_i8 *c, int64_t splits, float *work,
                                      float *out, void *stream);
/* Multiprocessors of the current device (for qf_cuda_attn_splits). */
qf_status qf_cuda_sm_count(int64_t *n);

#ifdef __cplusplus
}
#endif

#endif
