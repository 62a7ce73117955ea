/* AutoAWQ GEMM packing (REFERENCE.md "AWQ checkpoint"): eight 4-bit values per int32
 * along the output dimension, nibble i of word c holding column 8c + order[i] with
 * order [0,2,4,6,1,3,5,7]; qweight (in, out/8), qzeros (in/g, out/8), scales (in/g, out). */
#include <stdio.h>

#include "core/dtype.h"
#include "formats/awq.h"

static const int awq_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

qf_status qf_awq_check_shape(int bits, int64_t group_size, int64_t out, int64_t in,
                             int has_g_idx, const char *what) {
    QF_RETURN_IF(bits != 4, QF_STATUS_UNSUPPORTED, "%s: the AWQ GEMM layout holds 4-bit "
                 "weights only, not %d-bit", what, bits);
    QF_RETURN_IF(out <= 0 || in <= 0 || out > INT64_MAX / 8 || in > INT64_MAX / 8,
                 QF_STATUS_FORMAT, "%s: bad linear shape (%lld, %lld)", what, (long long)out,
                 (long long)in);
    QF_RETURN_IF(out % 8, QF_STATUS_UNSUPPORTED, "%s: AWQ packs 8 output columns per int32; "
                 "out %lld is not a multiple of 8", what, (long long)out);
    QF_RETURN_IF(group_size <= 0 || group_size > in || in % group_size, QF_STATUS_UNSUPPORTED,
                 "%s: AWQ needs a group size dividing the input width (in %lld, group %lld)",
                 what, (long long)in, (long long)group_size);
    QF_RETURN_IF(has_g_idx, QF_STATUS_UNSUPPORTED, "%s: the AWQ layout has no g_idx "
                 "(act-order without static groups cannot be stored)", what);
    return QF_STATUS_OK;
}

qf_status qf_awq_pack(const qf_qweight *q, int32_t *qweight, int32_t *qzeros,
                      uint16_t *scales) {
    QF_FORWARD(qf_awq_check_shape(q->bits, q->group_size, q->out, q->in, q->g_idx != NULL,
                                  "awq pack"));
    QF_FORWARD(qf_qweight_validate(q, "awq pack"));
    const int64_t out = q->out, in = q->in, ng = q->n_groups, ow = out / 8;
    for (int64_t i = 0; i < in; i++)
        for (int64_t c = 0; c < ow; c++) {
            uint32_t word = 0;
            for (int k = 0; k < 8; k++)
                word |= (uint32_t)q->q[(8 * c + awq_order[k]) * in + i] << (4 * k);
            qweight[i * ow + c] = (int32_t)word;
        }
    for (int64_t g = 0; g < ng; g++) {
        for (int64_t c = 0; c < ow; c++) {
            uint32_t word = 0;
            for (int k = 0; k < 8; k++)
                word |= (uint32_t)q->zeros[g * out + 8 * c + awq_order[k]] << (4 * k);
            qzeros[g * ow + c] = (int32_t)word;
        }
        for (int64_t o = 0; o < out; o++) scales[g * out + o] = qf_fp32_to_fp16(q->scales[g * out + o]);
    }
    return QF_STATUS_OK;
}

qf_status qf_awq_unpack(const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                        qf_qweight *q, const char *what) {
    QF_FORWARD(qf_awq_check_shape(q->bits, q->group_size, q->out, q->in, q->g_idx != NULL,
                                  what));
    const int64_t out = q->out, in = q->in, ng = q->n_groups, ow = out / 8;
    for (int64_t i = 0; i < in; i++)
        for (int64_t c = 0; c < ow; c++) {
            const uint32_t word = (uint32_t)qweight[i * ow + c];
            for (int k = 0; k < 8; k++)
                q->q[(8 * c + awq_order[k]) * in + i] = (uint8_t)((word >> (4 * k)) & 15u);
        }
    for (int64_t g = 0; g < ng; g++) {
        for (int64_t c = 0; c < ow; c++) {
            const uint32_t word = (uint32_t)qzeros[g * ow + c];
            for (int k = 0; k < 8; k++)
                q->zeros[g * out + 8 * c + awq_order[k]] = (uint8_t)((word >> (4 * k)) & 15u);
        }
        for (int64_t o = 0; o < out; o++) q->scales[g * out + o] = qf_fp16_to_fp32(scales[g * out + o]);
    }
    return qf_qweight_validate(q, what);
}
