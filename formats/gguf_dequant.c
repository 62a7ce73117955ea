/* Scalar reference dequantizers for the ggml types qforge reads from GGUF files.
 * Block layouts from ggml-common.h, arithmetic (including the order of float
 * operations) from ggml-quants.c dequantize_row_*, so results are bit-identical. */
#include "formats/gguf.h"

#include <string.h>

#define QF_QK4_0 32
#define QF_QK4_1 32
#define QF_QK8_0 32
#define QF_QK_K 256
#define QF_Q4_0_BYTES 18  /* fp16 d, 16 bytes of nibbles */
#define QF_Q4_1_BYTES 20  /* fp16 d, fp16 m, 16 bytes of nibbles */
#define QF_Q8_0_BYTES 34  /* fp16 d, 32 int8 */
#define QF_Q4_K_BYTES 144 /* fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes qs */
#define QF_Q6_K_BYTES 210 /* 128 bytes ql, 64 bytes qh, 16 int8 scales, fp16 d */

static float qf_half_at(const uint8_t *p) {
    return qf_fp16_to_fp32((uint16_t)(p[0] | (p[1] << 8)));
}

/* A product the compiler may not fuse with the following add into an FMA (clang fuses
 * within one expression when FMA is available; ggml's reference rounds twice). */
static float qf_mul(float a, float b) { return a * b; }

/* x = d * (q - 8); byte j holds element j (low nibble) and element j + 16 (high). */
static void qf_dequant_q4_0(const uint8_t *b, size_t nb, float *y) {
    for (size_t i = 0; i < nb; i++, b += QF_Q4_0_BYTES, y += QF_QK4_0) {
        const float d = qf_half_at(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < QF_QK4_0 / 2; j++) {
            const int x0 = (qs[j] & 0x0F) - 8;
            const int x1 = (qs[j] >> 4) - 8;
            y[j] = x0 * d;
            y[j + QF_QK4_0 / 2] = x1 * d;
        }
    }
}

/* x = d * q + m. */
static void qf_dequant_q4_1(const uint8_t *b, size_t nb, float *y) {
    for (size_t i = 0; i < nb; i++, b += QF_Q4_1_BYTES, y += QF_QK4_1) {
        const float d = qf_half_at(b);
        const float m = qf_half_at(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < QF_QK4_1 / 2; j++) {
            const int x0 = qs[j] & 0x0F;
            const int x1 = qs[j] >> 4;
            y[j] = qf_mul((float)x0, d) + m;
            y[j + QF_QK4_1 / 2] = qf_mul((float)x1, d) + m;
        }
    }
}

/* x = q * d. */
static void qf_dequant_q8_0(const uint8_t *b, size_t nb, float *y) {
    for (size_t i = 0; i < nb; i++, b += QF_Q8_0_BYTES, y += QF_QK8_0) {
        const float d = qf_half_at(b);
        for (int j = 0; j < QF_QK8_0; j++) y[j] = (int8_t)b[2 + j] * d;
    }
}

/* Scale and min of sub-block j (0..7) from the 12 packed bytes: j < 4 use the low 6
 * bits of bytes j and j+4; j >= 4 combine a nibble of byte j+4 with the top 2 bits of
 * bytes j-4 (scale) and j (min). */
static void qf_q4_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* 8 sub-blocks of 32: x = (d * sc) * q - (dmin * m); each 32 bytes of qs hold two
 * sub-blocks (low nibbles first). */
static void qf_dequant_q4_k(const uint8_t *b, size_t nb, float *y) {
    for (size_t i = 0; i < nb; i++, b += QF_Q4_K_BYTES) {
        const float d = qf_half_at(b);
        const float dmin = qf_half_at(b + 2);
        const uint8_t *scales = b + 4;
        const uint8_t *q = b + 16;
        for (int j = 0; j < QF_QK_K / 64; j++, q += 32) {
            uint8_t sc, m;
            qf_q4_k_scale_min(2 * j, scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            qf_q4_k_scale_min(2 * j + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = qf_mul(d1, (float)(q[l] & 0x0F)) - m1;
            for (int l = 0; l < 32; l++) *y++ = qf_mul(d2, (float)(q[l] >> 4)) - m2;
        }
    }
}

/* 16 sub-blocks of 16 with int8 scales: x = (d * sc) * (q - 32), q = 4 low bits from
 * ql and 2 high bits from qh; each half (128 values) uses 64 bytes of ql and 32 of qh. */
static void qf_dequant_q6_k(const uint8_t *b, size_t nb, float *y) {
    for (size_t i = 0; i < nb; i++, b += QF_Q6_K_BYTES) {
        const uint8_t *ql = b;
        const uint8_t *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        const float d = qf_half_at(b + 208);
        for (int n = 0; n < QF_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

qf_status qf_gguf_dequant_ref(qf_dtype t, const void *src, size_t n, float *dst) {
    const uint8_t *b = src;
    size_t blck;
    switch (t) {
    case QF_DTYPE_F32: memcpy(dst, src, n * sizeof(float)); return QF_STATUS_OK;
    case QF_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = qf_half_at(b + 2 * i);
        return QF_STATUS_OK;
    case QF_DTYPE_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = qf_bf16_to_fp32((uint16_t)(b[2 * i] | (b[2 * i + 1] << 8)));
        return QF_STATUS_OK;
    case QF_DTYPE_Q4_0:
    case QF_DTYPE_Q4_1:
    case QF_DTYPE_Q8_0: blck = 32; break;
    case QF_DTYPE_Q4_K:
    case QF_DTYPE_Q6_K: blck = QF_QK_K; break;
    default:
        return qf_error_set(QF_STATUS_UNSUPPORTED, "no GGUF dequantizer for dtype %s",
                            qf_dtype_name(t));
    }
    QF_RETURN_IF(n % blck != 0, QF_STATUS_INVALID_ARG,
                 "%zu elements is not a whole number of %s blocks of %zu", n, qf_dtype_name(t),
                 blck);
    size_t nb = n / blck;
    switch (t) {
    case QF_DTYPE_Q4_0: qf_dequant_q4_0(b, nb, dst); break;
    case QF_DTYPE_Q4_1: qf_dequant_q4_1(b, nb, dst); break;
    case QF_DTYPE_Q8_0: qf_dequant_q8_0(b, nb, dst); break;
    case QF_DTYPE_Q4_K: qf_dequant_q4_k(b, nb, dst); break;
    default: qf_dequant_q6_k(b, nb, dst); break;
    }
    return QF_STATUS_OK;
}
