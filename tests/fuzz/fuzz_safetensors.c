/* libFuzzer target for the safetensors reader: qf_st_open_memory on arbitrary bytes.
 * When a file opens, every guarantee of a valid file is checked (offsets tile the
 * data buffer, sizes match shapes, lookups find every name and metadata key) and
 * every tensor's first and last byte and every metadata string is read.
 * An input starting with '{' is also framed as "HEADER\0DATA" -> [len][HEADER][DATA]
 * so that mutations of the JSON are not lost to a mismatched length prefix. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"

static volatile uint8_t qf_fuzz_sink;

static void check_tensors(const qf_st_file *f, const uint8_t *data, size_t size) {
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = (hn << 8) | data[i];
    const uint8_t *base = data + 8 + hn;
    uint64_t data_size = size - 8 - hn, pos = 0;
    for (size_t i = 0; i < qf_st_count(f); i++) {
        const qf_st_tensor *t = qf_st_get(f, i);
        if (!t || t->begin != pos || t->end < t->begin || t->end > data_size) abort();
        pos = t->end;
        if (t->ndim < 0 || t->ndim > QF_ST_MAX_DIMS || t->name[t->name_len] != '\0') abort();
        if (qf_st_find(f, t->name, t->name_len) != t) abort();
        uint64_t numel = 1, nbytes = 0;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) abort();
            numel *= (uint64_t)t->shape[d]; /* cannot overflow: open checked it */
        }
        if (numel != t->numel || qf_dtype_nbytes(t->dtype, numel, &nbytes) != QF_STATUS_OK ||
            nbytes != t->end - t->begin)
            abort();
        if (t->end == t->begin) {
            if (t->data) abort();
            continue;
        }
        const uint8_t *p = t->data;
        if (p != base + t->begin) abort();
        qf_fuzz_sink ^= p[0] ^ p[t->end - t->begin - 1];
    }
    if (pos != data_size || qf_st_get(f, qf_st_count(f)) != NULL) abort();
}

static void check_meta(const qf_st_file *f) {
    for (size_t i = 0; i < qf_st_meta_count(f); i++) {
        const qf_st_meta *m = qf_st_meta_get(f, i);
        if (!m || m->key[m->key_len] != '\0' || m->value[m->value_len] != '\0') abort();
        for (size_t k = 0; k < m->value_len; k++) qf_fuzz_sink ^= (uint8_t)m->value[k];
        if (strlen(m->key) == m->key_len && qf_st_meta_find(f, m->key) != m->value) abort();
    }
}

static void run_one(const uint8_t *data, size_t size) {
    qf_st_file *f = (qf_st_file *)&qf_fuzz_sink;
    if (qf_st_open_memory(data, size, "fuzz", &f) != QF_STATUS_OK) {
        if (f != NULL) abort();
        return;
    }
    check_tensors(f, data, size);
    check_meta(f);
    qf_st_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run_one(data, size);
    if (size == 0 || data[0] != '{') return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t hlen = nul ? (size_t)(nul - data) : size;
    size_t dlen = nul ? size - hlen - 1 : 0;
    uint8_t *framed = malloc(8 + hlen + dlen + 1);
    if (!framed) return 0;
    for (int i = 0; i < 8; i++) framed[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(framed + 8, data, hlen);
    if (dlen) memcpy(framed + 8 + hlen, nul + 1, dlen);
    run_one(framed, 8 + hlen + dlen);
    free(framed);
    return 0;
}
