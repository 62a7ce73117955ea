/* Files written by the official safetensors package (torch, numpy and raw writers;
 * tests/fixtures/safetensors/good/) read back exactly as the official reader sees
 * them: names, dtypes, shapes, offsets, bytes (hex + sha256), metadata, and values
 * as torch decodes them (which also checks our f16/bf16/f8 conversions). */
#include <cjson/cJSON.h>

#include "core/sha256.h"
#include "test.h"
#include "test_safetensors_common.h"

static int hex_equal(const char *hex, const uint8_t *data, size_t n) {
    if (strlen(hex) != 2 * n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || v != data[i]) return 0;
    }
    return 1;
}

static int64_t read_int(const qf_st_tensor *t, size_t i) {
    const uint8_t *p = t->data;
    size_t w = qf_dtype_get_info(t->dtype)->block_bits / 8;
    uint64_t u = 0;
    for (size_t b = 0; b < w; b++) u |= (uint64_t)p[i * w + b] << (8 * b);
    int is_signed = t->dtype == QF_DTYPE_I8 || t->dtype == QF_DTYPE_I16 ||
                    t->dtype == QF_DTYPE_I32 || t->dtype == QF_DTYPE_I64;
    if (is_signed && w < 8 && (u >> (8 * w - 1)) & 1) u |= ~0ull << (8 * w);
    return (int64_t)u;
}

static void check_values(const qf_st_tensor *t, const cJSON *values) {
    int n = cJSON_GetArraySize(values);
    CHECK_MSG((uint64_t)n == t->numel, "%s: %d values for %llu elements", t->name, n,
              (unsigned long long)t->numel);
    if ((uint64_t)n != t->numel || n == 0) return;
    int is_float = qf_dtype_get_info(t->dtype)->is_float;
    float *f = NULL;
    if (is_float && t->dtype != QF_DTYPE_F64) {
        f = malloc((size_t)n * sizeof *f);
        CHECK_OK(qf_dtype_to_f32(t->dtype, t->data, (size_t)n, f));
    }
    for (int i = 0; i < n; i++) {
        double want = cJSON_GetArrayItem(values, i)->valuedouble;
        double got;
        if (t->dtype == QF_DTYPE_F64) memcpy(&got, (const uint8_t *)t->data + 8 * i, 8);
        else if (is_float) got = f[i];
        else got = (double)read_int(t, (size_t)i);
        CHECK_MSG(got == want, "%s[%d]: %.17g, official reader %.17g", t->name, i, got, want);
    }
    free(f);
}

static void check_file(const char *fname, const cJSON *exp) {
    char path[4096];
    snprintf(path, sizeof path, "%s/good/%s", ST_FIXTURES, fname);
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(path, &f));
    if (!f) return;

    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(exp, "metadata");
    if (cJSON_IsNull(meta)) {
        CHECK(qf_st_meta_count(f) == 0);
    } else {
        CHECK((int)qf_st_meta_count(f) == cJSON_GetArraySize(meta));
        const cJSON *kv;
        cJSON_ArrayForEach(kv, meta) {
            const char *got = qf_st_meta_find(f, kv->string);
            CHECK_MSG(got && strcmp(got, kv->valuestring) == 0, "%s: metadata '%s'", fname,
                      kv->string);
        }
    }

    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(exp, "tensors");
    CHECK((int)qf_st_count(f) == cJSON_GetArraySize(tensors));
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, tensors) {
        const char *name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
        const qf_st_tensor *t = qf_st_get(f, i++);
        CHECK_MSG(t && strcmp(t->name, name) == 0, "%s: tensor %zu is '%s', expected '%s'", fname,
                  i - 1, t ? t->name : "(none)", name);
        CHECK(qf_st_find(f, name, strlen(name)) == t);
        if (!t) continue;
        CHECK(strcmp(qf_dtype_name(t->dtype),
                     cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring) == 0);
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        CHECK(t->ndim == cJSON_GetArraySize(shape));
        for (int d = 0; d < t->ndim && d < cJSON_GetArraySize(shape); d++)
            CHECK(t->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble);
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        CHECK(t->begin == (uint64_t)cJSON_GetArrayItem(offs, 0)->valuedouble);
        CHECK(t->end == (uint64_t)cJSON_GetArrayItem(offs, 1)->valuedouble);
        size_t n = (size_t)(t->end - t->begin);
        const uint8_t *data = t->data ? t->data : (const uint8_t *)"";
        CHECK_MSG(hex_equal(cJSON_GetObjectItemCaseSensitive(e, "hex")->valuestring, data, n),
                  "%s: bytes of '%s' differ", fname, name);
        char sha[65];
        qf_sha256_hex(data, n, sha);
        CHECK(strcmp(sha, cJSON_GetObjectItemCaseSensitive(e, "sha256")->valuestring) == 0);
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values");
        if (values) check_values(t, values);
    }
    qf_st_close(f);
}

int main(void) {
    size_t len;
    char *text = st_read_file(ST_FIXTURES "/good/expected.json", &len);
    CHECK_MSG(text != NULL, "cannot read good/expected.json");
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL);
    int files = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        check_file(e->string, e);
        files++;
    }
    CHECK(files >= 3);
    cJSON_Delete(root);
    free(text);
    TEST_END();
}
