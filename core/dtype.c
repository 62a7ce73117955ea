/* dtype table, sizes and scalar float conversions (f16, bf16, f8). */
#include "core/dtype.h"

#include <math.h>
#include <string.h>

static const qf_dtype_info qf_dtype_infos[QF_DTYPE_COUNT] = {
    [QF_DTYPE_BOOL] = {"BOOL", 1, 8, 0},
    [QF_DTYPE_U8] = {"U8", 1, 8, 0},
    [QF_DTYPE_I8] = {"I8", 1, 8, 0},
    [QF_DTYPE_F8_E5M2] = {"F8_E5M2", 1, 8, 1},
    [QF_DTYPE_F8_E4M3] = {"F8_E4M3", 1, 8, 1},
    [QF_DTYPE_F8_E8M0] = {"F8_E8M0", 1, 8, 1},
    [QF_DTYPE_I16] = {"I16", 1, 16, 0},
    [QF_DTYPE_U16] = {"U16", 1, 16, 0},
    [QF_DTYPE_F16] = {"F16", 1, 16, 1},
    [QF_DTYPE_BF16] = {"BF16", 1, 16, 1},
    [QF_DTYPE_I32] = {"I32", 1, 32, 0},
    [QF_DTYPE_U32] = {"U32", 1, 32, 0},
    [QF_DTYPE_F32] = {"F32", 1, 32, 1},
    [QF_DTYPE_F64] = {"F64", 1, 64, 1},
    [QF_DTYPE_I64] = {"I64", 1, 64, 0},
    [QF_DTYPE_U64] = {"U64", 1, 64, 0},
    [QF_DTYPE_C64] = {"C64", 1, 64, 0},
    [QF_DTYPE_F4] = {"F4", 1, 4, 0},
    [QF_DTYPE_F6_E2M3] = {"F6_E2M3", 1, 6, 0},
    [QF_DTYPE_F6_E3M2] = {"F6_E3M2", 1, 6, 0},
    [QF_DTYPE_Q4_0] = {"Q4_0", 32, 18 * 8, 0},
    [QF_DTYPE_Q4_1] = {"Q4_1", 32, 20 * 8, 0},
    [QF_DTYPE_Q8_0] = {"Q8_0", 32, 34 * 8, 0},
    [QF_DTYPE_Q4_K] = {"Q4_K", 256, 144 * 8, 0},
    [QF_DTYPE_Q6_K] = {"Q6_K", 256, 210 * 8, 0},
};

const qf_dtype_info *qf_dtype_get_info(qf_dtype t) {
    if ((unsigned)t >= QF_DTYPE_COUNT) return NULL;
    return &qf_dtype_infos[t];
}

const char *qf_dtype_name(qf_dtype t) {
    const qf_dtype_info *i = qf_dtype_get_info(t);
    return i ? i->name : "?";
}

int qf_dtype_from_name(const char *name, size_t len) {
    for (int t = 0; t < QF_DTYPE_COUNT; t++) {
        const char *n = qf_dtype_infos[t].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return t;
    }
    return -1;
}

qf_status qf_dtype_nbytes(qf_dtype t, uint64_t numel, uint64_t *out) {
    const qf_dtype_info *i = qf_dtype_get_info(t);
    QF_RETURN_IF(!i, QF_STATUS_INVALID_ARG, "invalid dtype %d", (int)t);
    QF_RETURN_IF(numel % i->block_elems != 0, QF_STATUS_FORMAT,
                 "%llu elements is not a whole number of %s blocks of %u",
                 (unsigned long long)numel, i->name, i->block_elems);
    uint64_t blocks = numel / i->block_elems;
    QF_RETURN_IF(blocks > UINT64_MAX / i->block_bits, QF_STATUS_FORMAT,
                 "size of %llu %s elements overflows", (unsigned long long)numel, i->name);
    uint64_t bits = blocks * i->block_bits;
    QF_RETURN_IF(bits % 8 != 0, QF_STATUS_FORMAT,
                 "%llu %s elements do not fill a whole number of bytes",
                 (unsigned long long)numel, i->name);
    *out = bits / 8;
    return QF_STATUS_OK;
}

static float qf_bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t qf_f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float qf_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    if (exp == 0x1F) return qf_bits_to_f32(sign | 0x7F800000u | (man << 13));
    if (exp == 0) {
        float v = ldexpf((float)man, -24); /* subnormal or zero */
        return sign ? -v : v;
    }
    return qf_bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t qf_fp32_to_fp16(float f) {
    uint32_t u = qf_f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a >= 0x7F800000u) /* inf or nan */
        return sign | (a > 0x7F800000u ? 0x7E00u : 0x7C00u);
    if (a >= 0x477FF000u) return sign | 0x7C00u; /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {                       /* below smallest normal: subnormal */
        /* value = a as float; subnormal unit is 2^-24 */
        float v = qf_bits_to_f32(a);
        float q = v * 16777216.0f; /* exact scaling by 2^24 */
        /* round half to even */
        float r = nearbyintf(q);
        return sign | (uint16_t)r;
    }
    uint32_t exp = (a >> 23) - 112;
    uint32_t man = a & 0x7FFFFFu;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return sign | (uint16_t)h;
}

float qf_bf16_to_fp32(uint16_t h) { return qf_bits_to_f32((uint32_t)h << 16); }

uint16_t qf_fp32_to_bf16(float f) {
    uint32_t u = qf_f32_to_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float qf_f8e4m3_to_fp32(uint8_t v) {
    uint32_t sign = v >> 7, exp = (v >> 3) & 0xF, man = v & 0x7;
    float r;
    if (exp == 0xF && man == 0x7) return NAN;
    if (exp == 0) r = ldexpf((float)man, -9);
    else r = ldexpf((float)(8 + man), (int)exp - 10);
    return sign ? -r : r;
}

float qf_f8e5m2_to_fp32(uint8_t v) { return qf_fp16_to_fp32((uint16_t)((uint16_t)v << 8)); }

float qf_f8e8m0_to_fp32(uint8_t v) {
    if (v == 0xFF) return NAN;
    return ldexpf(1.0f, (int)v - 127);
}

qf_status qf_dtype_to_f32(qf_dtype t, const void *src, size_t n, float *dst) {
    const uint8_t *b = src;
    switch (t) {
    case QF_DTYPE_F32:
        if (n) memmove(dst, src, n * sizeof(float)); /* src/dst may be NULL when n == 0 */
        return QF_STATUS_OK;
    case QF_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            dst[i] = qf_fp16_to_fp32(h);
        }
        return QF_STATUS_OK;
    case QF_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            dst[i] = qf_bf16_to_fp32(h);
        }
        return QF_STATUS_OK;
    case QF_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, b + 8 * i, 8);
            dst[i] = (float)d;
        }
        return QF_STATUS_OK;
    case QF_DTYPE_F8_E4M3:
        for (size_t i = 0; i < n; i++) dst[i] = qf_f8e4m3_to_fp32(b[i]);
        return QF_STATUS_OK;
    case QF_DTYPE_F8_E5M2:
        for (size_t i = 0; i < n; i++) dst[i] = qf_f8e5m2_to_fp32(b[i]);
        return QF_STATUS_OK;
    case QF_DTYPE_F8_E8M0:
        for (size_t i = 0; i < n; i++) dst[i] = qf_f8e8m0_to_fp32(b[i]);
        return QF_STATUS_OK;
    default:
        return qf_error_set(QF_STATUS_UNSUPPORTED, "cannot convert %s to F32", qf_dtype_name(t));
    }
}

qf_status qf_dtype_from_f32(qf_dtype t, const float *src, size_t n, void *dst) {
    uint8_t *b = dst;
    switch (t) {
    case QF_DTYPE_F32:
        if (n) memmove(dst, src, n * sizeof(float)); /* src/dst may be NULL when n == 0 */
        return QF_STATUS_OK;
    case QF_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = qf_fp32_to_fp16(src[i]);
            memcpy(b + 2 * i, &h, 2);
        }
        return QF_STATUS_OK;
    case QF_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = qf_fp32_to_bf16(src[i]);
            memcpy(b + 2 * i, &h, 2);
        }
        return QF_STATUS_OK;
    default:
        return qf_error_set(QF_STATUS_UNSUPPORTED, "cannot convert F32 to %s", qf_dtype_name(t));
    }
}
