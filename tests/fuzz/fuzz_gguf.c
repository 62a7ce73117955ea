/* libFuzzer target for the GGUF reader and the GGUF -> qf_model adapter: parses the input
 * with qf_gguf_open_memory, touches every KV pair (typed getters, every array element up
 * to a bound) and every tensor (a bounded dequantization, and a RoPE un-permuting read of
 * small tensors), then opens the same bytes as a model through an in-memory file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "formats/model.h"

#define FUZZ_ARRAY_TOUCH 4096     /* array elements read per KV */
#define FUZZ_DEQUANT_ELEMS 8192   /* elements dequantized per tensor */
#define FUZZ_READ_MAX_ELEMS 65536 /* whole-tensor reads only below this */

static volatile uint64_t fuzz_sink;

static void fuzz_touch_kv(const qf_gguf_file *g, const qf_gguf_kv *kv) {
    char key[QF_GGUF_MAX_NAME + 1];
    memcpy(key, kv->key.ptr, (size_t)kv->key.len);
    key[kv->key.len] = '\0';
    uint64_t u;
    double d;
    int b;
    qf_gguf_str s;
    if (qf_gguf_get_u64(g, key, &u) == QF_STATUS_OK) fuzz_sink += u;
    if (qf_gguf_get_f64(g, key, &d) == QF_STATUS_OK) fuzz_sink += (uint64_t)(d == d);
    if (qf_gguf_get_bool(g, key, &b) == QF_STATUS_OK) fuzz_sink += (uint64_t)b;
    if (qf_gguf_get_str(g, key, &s) == QF_STATUS_OK && s.len)
        fuzz_sink += (uint8_t)s.ptr[s.len - 1];
    if (kv->type != QF_GGUF_TYPE_ARRAY) return;
    uint64_t n = kv->arr_len < FUZZ_ARRAY_TOUCH ? kv->arr_len : FUZZ_ARRAY_TOUCH;
    for (uint64_t i = 0; i < n; i++) {
        int64_t iv;
        if (kv->arr_strs) {
            if (kv->arr_strs[i].len) fuzz_sink += (uint8_t)kv->arr_strs[i].ptr[0];
        } else if (qf_gguf_arr_get_int(kv, i, &iv) == QF_STATUS_OK) {
            fuzz_sink += (uint64_t)iv;
        } else if (qf_gguf_arr_get_f64(kv, i, &d) == QF_STATUS_OK) {
            fuzz_sink += (uint64_t)(d == d);
        }
    }
    qf_gguf_arr_get_int(kv, kv->arr_len, &(int64_t){0}); /* out of range: must fail cleanly */
}

static void fuzz_touch_tensor(const qf_gguf_tensor *t) {
    if (t->name.len) fuzz_sink += (uint8_t)t->name.ptr[0];
    if (t->dtype == QF_DTYPE_COUNT || t->numel == 0) return;
    const qf_dtype_info *info = qf_dtype_get_info(t->dtype);
    uint64_t n = t->numel < FUZZ_DEQUANT_ELEMS ? t->numel : FUZZ_DEQUANT_ELEMS;
    n -= n % info->block_elems;
    float *out = malloc((n ? n : 1) * sizeof *out);
    if (!out) return;
    if (n && qf_gguf_dequant_ref(t->dtype, t->data, (size_t)n, out) == QF_STATUS_OK)
        fuzz_sink += (uint64_t)(out[n - 1] == out[n - 1]);
    free(out);

    if (t->numel > FUZZ_READ_MAX_ELEMS || t->ndim < 1) return;
    qf_model_tensor mt = {.name = "fuzz",
                          .dtype = t->dtype,
                          .ndim = t->ndim,
                          .numel = t->numel,
                          .nbytes = t->nbytes,
                          .data = t->data};
    for (int d = 0; d < t->ndim; d++) mt.shape[d] = t->ne[t->ndim - 1 - d];
    mt.rope_unpermute_heads = mt.shape[0] > 0 ? (int)(1 + (uint64_t)mt.shape[0] % 4) : 1;
    float *w = malloc(t->numel * sizeof *w);
    if (w && qf_model_tensor_read_f32(&mt, w) == QF_STATUS_OK)
        fuzz_sink += (uint64_t)(w[0] == w[0]);
    free(w);
}

/* The adapter only opens paths: hand it the bytes as an in-memory file. */
static void fuzz_open_model(const uint8_t *data, size_t size) {
    static int fd = -1;
    if (fd < 0) fd = memfd_create("fuzz_gguf", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 0) != 0) return;
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0) return;
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    qf_model *m = NULL;
    if (qf_model_open(path, &m) == QF_STATUS_OK) {
        for (size_t i = 0; i < m->n_meta; i++) fuzz_sink += strlen(m->meta[i].value);
        fuzz_sink += qf_model_param_count(m);
    }
    qf_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qf_gguf_file *g = NULL;
    if (qf_gguf_open_memory(data, size, "fuzz.gguf", &g) != QF_STATUS_OK) return 0;
    for (size_t i = 0; i < qf_gguf_kv_count(g); i++) fuzz_touch_kv(g, qf_gguf_kv_get(g, i));
    for (size_t i = 0; i < qf_gguf_tensor_count(g); i++)
        fuzz_touch_tensor(qf_gguf_tensor_get(g, i));
    fuzz_sink += qf_gguf_version(g) + qf_gguf_alignment(g) + qf_gguf_data_offset(g);
    qf_gguf_close(g);
    fuzz_open_model(data, size);
    return 0;
}
