/* GPTQ tensor packing: qf_qweight <-> qweight / qzeros / scales / g_idx.
 *
 * Every packed tensor is a little-endian bit stream of 32-bit words: value k of a
 * stream occupies bits [k*bits, (k+1)*bits), LSB first, and may straddle two words
 * (3-bit: 32 values in 3 words, split 10 | 1 | 10 | 1 | 10 exactly as GPTQModel /
 * AutoGPTQ pack them). qweight streams run along the input dimension (one per output
 * column), qzeros streams along the output dimension (one per group).
 *
 * Zero points: "gptq_v2" stores z; "gptq" (v1) stores z - 1.
 *   Reading v1 follows GPTQModel, the producer of today's v1 files: for 2/4/8 bits the
 *   constant 0x..0101 (one per field) is added to each whole word modulo 2^32, so a
 *   stored all-ones field (z = 0 written by GPTQModel's word-wise subtraction) reads
 *   back as 0 and the borrow it caused in the next field is undone; for 3 bits each
 *   field is (s + 1) mod 8. For every file without an all-ones field this equals the
 *   per-field "+1" of AutoGPTQ / transformers / vLLM.
 *   Writing v1 rejects a zero point of 0: consumers that add 1 per field after
 *   unpacking would read 2^bits (and a word-wise subtraction corrupts the next field),
 *   so no v1 encoding of it is exact for all of them; use gptq_v2. */
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "formats/gptq.h"

/* Writes value v (< 2^bits) at stream position k into the words at w[0], w[stride], ... */
static void gptq_put(uint32_t *w, size_t stride, int bits, int64_t k, uint32_t v) {
    uint64_t bit = (uint64_t)k * (uint64_t)bits;
    size_t word = (size_t)(bit / 32);
    unsigned shift = (unsigned)(bit % 32);
    w[word * stride] |= v << shift;
    if (shift + (unsigned)bits > 32) w[(word + 1) * stride] |= v >> (32 - shift);
}

static uint32_t gptq_get(const uint32_t *w, size_t stride, int bits, int64_t k) {
    uint64_t bit = (uint64_t)k * (uint64_t)bits;
    size_t word = (size_t)(bit / 32);
    unsigned shift = (unsigned)(bit % 32);
    uint32_t v = w[word * stride] >> shift;
    if (shift + (unsigned)bits > 32) v |= w[(word + 1) * stride] << (32 - shift);
    return v & ((1u << bits) - 1u);
}

/* The v1 word offset: 1 in the lowest bit of every field (2/4/8 bits). */
static uint32_t gptq_v1_word_offset(int bits) {
    uint32_t c = 0;
    for (int s = 0; s < 32; s += bits) c |= 1u << s;
    return c;
}

static qf_status gptq_check_shape(const qf_qweight *q, const char *what) {
    QF_RETURN_IF(!q || !q->q || !q->scales || !q->zeros, QF_STATUS_INVALID_ARG,
                 "%s: qweight arrays not initialised", what);
    QF_RETURN_IF(q->bits != 2 && q->bits != 3 && q->bits != 4 && q->bits != 8,
                 QF_STATUS_UNSUPPORTED, "%s: GPTQ bits %d not in {2, 3, 4, 8}", what, q->bits);
    QF_RETURN_IF((q->in * q->bits) % 32 != 0 || (q->out * q->bits) % 32 != 0,
                 QF_STATUS_UNSUPPORTED,
                 "%s: shape (out %lld, in %lld) cannot be packed at %d bits: in*bits and "
                 "out*bits must be multiples of 32",
                 what, (long long)q->out, (long long)q->in, q->bits);
    return QF_STATUS_OK;
}

qf_status qf_gptq_pack(const qf_qweight *q, qf_gptq_format fmt, int32_t *qweight,
                       int32_t *qzeros, uint16_t *scales, int32_t *g_idx) {
    QF_FORWARD(gptq_check_shape(q, "gptq pack"));
    QF_RETURN_IF(!qweight || !qzeros || !scales || !g_idx, QF_STATUS_INVALID_ARG,
                 "gptq pack: NULL output");
    QF_RETURN_IF(fmt != QF_GPTQ_FORMAT_V1 && fmt != QF_GPTQ_FORMAT_V2, QF_STATUS_INVALID_ARG,
                 "gptq pack: unknown format %d", (int)fmt);
    QF_FORWARD(qf_qweight_validate(q, "gptq pack"));
    const int64_t out = q->out, in = q->in, ng = q->n_groups;
    const size_t zcols = (size_t)(out * q->bits / 32);
    if (fmt == QF_GPTQ_FORMAT_V1)
        for (size_t k = 0; k < (size_t)ng * (size_t)out; k++)
            QF_RETURN_IF(q->zeros[k] == 0, QF_STATUS_UNSUPPORTED,
                         "gptq pack: zero point 0 at (group %zu, row %zu) cannot be stored "
                         "exactly in checkpoint_format 'gptq' (v1 stores zero - 1); use "
                         "'gptq_v2'",
                         k / (size_t)out, k % (size_t)out);
    memset(qweight, 0, (size_t)(in * q->bits / 32) * (size_t)out * sizeof *qweight);
    memset(qzeros, 0, (size_t)ng * zcols * sizeof *qzeros);
    uint32_t *wq = (uint32_t *)qweight, *wz = (uint32_t *)qzeros;
    for (int64_t o = 0; o < out; o++) {
        const uint8_t *row = q->q + (size_t)o * (size_t)in; // (in)
        for (int64_t i = 0; i < in; i++) gptq_put(wq + o, (size_t)out, q->bits, i, row[i]);
    }
    for (int64_t g = 0; g < ng; g++)
        for (int64_t o = 0; o < out; o++) {
            size_t p = (size_t)g * (size_t)out + (size_t)o;
            uint32_t z = q->zeros[p] - (fmt == QF_GPTQ_FORMAT_V1 ? 1u : 0u);
            gptq_put(wz + (size_t)g * zcols, 1, q->bits, o, z);
            uint16_t h = qf_fp32_to_fp16(q->scales[p]);
            float back = qf_fp16_to_fp32(h);
            QF_RETURN_IF(!(back > 0.0f) || back > 65504.0f, QF_STATUS_INVALID_ARG,
                         "gptq pack: scale %g at (group %lld, row %lld) is not representable "
                         "as a positive finite fp16",
                         (double)q->scales[p], (long long)g, (long long)o);
            scales[p] = h;
        }
    for (int64_t i = 0; i < in; i++)
        g_idx[i] = q->g_idx ? q->g_idx[i] : (int32_t)(i / q->group_size);
    return QF_STATUS_OK;
}

qf_status qf_gptq_unpack(const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                         const int32_t *g_idx, qf_gptq_format fmt, qf_qweight *q,
                         const char *what) {
    const char *name = what ? what : "gptq";
    QF_FORWARD(gptq_check_shape(q, name));
    QF_RETURN_IF(!qweight || !qzeros || !scales || !g_idx, QF_STATUS_INVALID_ARG,
                 "%s: NULL input tensor", name);
    QF_RETURN_IF(fmt != QF_GPTQ_FORMAT_V1 && fmt != QF_GPTQ_FORMAT_V2, QF_STATUS_INVALID_ARG,
                 "%s: unknown format %d", name, (int)fmt);
    const int64_t out = q->out, in = q->in, ng = q->n_groups;
    const size_t zcols = (size_t)(out * q->bits / 32);
    const uint32_t *wq = (const uint32_t *)qweight;
    for (int64_t o = 0; o < out; o++) {
        uint8_t *row = q->q + (size_t)o * (size_t)in; // (in)
        for (int64_t i = 0; i < in; i++)
            row[i] = (uint8_t)gptq_get(wq + o, (size_t)out, q->bits, i);
    }
    uint32_t *zrow = malloc(zcols * sizeof *zrow);
    QF_RETURN_IF(!zrow, QF_STATUS_NOMEM, "%s: out of memory", name);
    const uint32_t v1_word = gptq_v1_word_offset(q->bits);
    for (int64_t g = 0; g < ng; g++) {
        memcpy(zrow, qzeros + (size_t)g * zcols, zcols * sizeof *zrow);
        if (fmt == QF_GPTQ_FORMAT_V1 && q->bits != 3)
            for (size_t c = 0; c < zcols; c++) zrow[c] += v1_word;
        for (int64_t o = 0; o < out; o++) {
            size_t p = (size_t)g * (size_t)out + (size_t)o;
            uint32_t z = gptq_get(zrow, 1, q->bits, o);
            if (fmt == QF_GPTQ_FORMAT_V1 && q->bits == 3) z = (z + 1u) & 7u;
            q->zeros[p] = (uint8_t)z;
            q->scales[p] = qf_fp16_to_fp32(scales[p]);
        }
    }
    free(zrow);
    int plain = 1;
    for (int64_t i = 0; i < in && plain; i++) plain = g_idx[i] == (int32_t)(i / q->group_size);
    if (!plain) {
        for (int64_t i = 0; i < in; i++)
            QF_RETURN_IF(g_idx[i] < 0 || g_idx[i] >= ng, QF_STATUS_FORMAT,
                         "%s: g_idx[%lld] = %d outside [0, %lld)", name, (long long)i,
                         (int)g_idx[i], (long long)ng);
        if (!q->g_idx) {
            q->g_idx = malloc((size_t)in * sizeof *q->g_idx);
            QF_RETURN_IF(!q->g_idx, QF_STATUS_NOMEM, "%s: out of memory", name);
        }
        memcpy(q->g_idx, g_idx, (size_t)in * sizeof *q->g_idx);
    } else if (q->g_idx) {
        free(q->g_idx);
        q->g_idx = NULL;
    }
    return qf_qweight_validate(q, name);
}
