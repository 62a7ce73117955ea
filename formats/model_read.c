/* qf_model_tensor_read_f32: any stored tensor as F32 — plain float dtypes converted,
 * ggml block types dequantized, and GGUF q/k projections put back from llama.cpp's
 * RoPE row order into Hugging Face order. */
#include "formats/model.h"

#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"

/* llama.cpp's converter (convert_hf_to_gguf.py `permute`) stores, within each head of
 * D = rows/heads rows, HF row half*D/2 + i at GGUF row 2*i + half (the two rotary halves
 * interleaved). This is the inverse — what transformers' GGUF loader does in
 * reverse_permute_weights: w.reshape(heads, D/2, 2, rest).swapaxes(1, 2). */
static qf_status qf_model_rope_unpermute(const qf_model_tensor *t, float *w) {
    const int64_t heads = t->rope_unpermute_heads;
    QF_RETURN_IF(t->ndim < 1 || t->shape[0] <= 0, QF_STATUS_FORMAT,
                 "tensor '%s': cannot undo the RoPE permutation of a %d-d tensor", t->name,
                 t->ndim);
    const int64_t rows = t->shape[0];
    QF_RETURN_IF(rows % (2 * heads) != 0, QF_STATUS_FORMAT,
                 "tensor '%s': %lld rows do not split into %lld heads of an even size", t->name,
                 (long long)rows, (long long)heads);
    const size_t row_len = (size_t)(t->numel / (uint64_t)rows);
    const size_t d = (size_t)(rows / heads), half = d / 2;
    float *tmp = malloc(d * row_len * sizeof *tmp); /* one head, HF order */
    QF_RETURN_IF(!tmp && d * row_len > 0, QF_STATUS_NOMEM,
                 "tensor '%s': out of memory for the RoPE un-permutation", t->name);
    for (int64_t h = 0; h < heads; h++) {
        float *head = w + (size_t)h * d * row_len; /* (d, row_len), GGUF order */
        for (size_t i = 0; i < half; i++)
            for (size_t k = 0; k < 2; k++)
                memcpy(tmp + (k * half + i) * row_len, head + (2 * i + k) * row_len,
                       row_len * sizeof *tmp);
        memcpy(head, tmp, d * row_len * sizeof *tmp);
    }
    free(tmp);
    return QF_STATUS_OK;
}

static int qf_model_is_ggml_block(qf_dtype t) {
    return t == QF_DTYPE_Q4_0 || t == QF_DTYPE_Q4_1 || t == QF_DTYPE_Q8_0 || t == QF_DTYPE_Q4_K ||
           t == QF_DTYPE_Q6_K;
}

qf_status qf_model_tensor_read_f32(const qf_model_tensor *t, float *dst) {
    QF_RETURN_IF(!t || !dst, QF_STATUS_INVALID_ARG, "qf_model_tensor_read_f32: bad arguments");
    const qf_dtype_info *info = qf_dtype_get_info(t->dtype);
    QF_RETURN_IF(!info, QF_STATUS_INVALID_ARG, "tensor '%s': invalid dtype %d", t->name,
                 (int)t->dtype);
    QF_RETURN_IF(t->numel > SIZE_MAX / sizeof(float), QF_STATUS_NOMEM,
                 "tensor '%s': %llu elements do not fit in memory", t->name,
                 (unsigned long long)t->numel);
    uint64_t nbytes;
    qf_status st = qf_dtype_nbytes(t->dtype, t->numel, &nbytes);
    if (st != QF_STATUS_OK) return qf_error_wrap(st, "tensor '%s': ", t->name);
    QF_RETURN_IF(nbytes != t->nbytes, QF_STATUS_FORMAT,
                 "tensor '%s': %llu bytes stored but %llu %s elements need %llu", t->name,
                 (unsigned long long)t->nbytes, (unsigned long long)t->numel, info->name,
                 (unsigned long long)nbytes);
    if (t->numel == 0) return QF_STATUS_OK;
    QF_RETURN_IF(!t->data, QF_STATUS_INVALID_ARG, "tensor '%s': no data", t->name);
    size_t n = (size_t)t->numel;
    if (info->is_float)
        st = qf_dtype_to_f32(t->dtype, t->data, n, dst);
    else if (qf_model_is_ggml_block(t->dtype))
        st = qf_gguf_dequant_ref(t->dtype, t->data, n, dst);
    else
        return qf_error_set(QF_STATUS_UNSUPPORTED, "tensor '%s': dtype %s cannot be read as F32",
                            t->name, info->name);
    if (st != QF_STATUS_OK) return qf_error_wrap(st, "tensor '%s': ", t->name);
    if (t->rope_unpermute_heads > 0) QF_FORWARD(qf_model_rope_unpermute(t, dst));
    return QF_STATUS_OK;
}
