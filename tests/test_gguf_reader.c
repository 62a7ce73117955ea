/* Unit tests of the GGUF reader: a small valid file built here and the file gguf-py's
 * GGUFWriter wrote (fixtures/gguf/tiny_llama.gguf) parse with the right values; the
 * bad-input suite (each must-fail file built here by changing one thing in the valid
 * one) fails with the right status and a message that says what is wrong. */
#include <unistd.h>

#include "formats/gguf.h"
#include "tests/test_gguf_util.h"

/* ---- a byte builder ------------------------------------------------------------------ */

typedef struct tbuf {
    uint8_t *b;
    size_t n, cap;
} tbuf;

static void put(tbuf *t, const void *p, size_t n) {
    if (t->n + n > t->cap) {
        t->cap = (t->n + n) * 2 + 64;
        t->b = realloc(t->b, t->cap);
    }
    if (n) memcpy(t->b + t->n, p, n);
    t->n += n;
}
static void put_u32(tbuf *t, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(t, b, 4);
}
static void put_u64(tbuf *t, uint64_t v) {
    put_u32(t, (uint32_t)v);
    put_u32(t, (uint32_t)(v >> 32));
}
static void put_str(tbuf *t, const char *s) {
    put_u64(t, strlen(s));
    put(t, s, strlen(s));
}

/* ---- the file spec: a valid file unless a field is changed --------------------------- */

typedef struct tinfo {
    const char *name;
    uint32_t ndim;
    uint64_t ne[5];
    uint32_t type;
    uint64_t offset;
} tinfo;

typedef struct spec {
    const char *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv; /* UINT64_MAX: the real counts */
    int alignment_type;       /* -1: no general.alignment key */
    uint64_t alignment;
    tbuf extra_kv; /* appended KV pairs, serialized */
    int n_extra_kv;
    tinfo t[4];
    int nt;
    size_t data_bytes; /* bytes after the aligned data start */
    size_t truncate;   /* 0: none */
} spec;

static spec base_spec(void) {
    spec s = {.magic = "GGUF",
              .version = 3,
              .n_tensors = UINT64_MAX,
              .n_kv = UINT64_MAX,
              .alignment_type = -1,
              .alignment = 32,
              .data_bytes = 256 + 72};
    s.t[0] = (tinfo){"blk.0.attn_q.weight", 2, {8, 8}, 0 /* F32 */, 0};
    s.t[1] = (tinfo){"blk.0.attn_k.weight", 2, {32, 2}, 2 /* Q4_0 */, 256};
    s.nt = 2;
    return s;
}

static tbuf build(spec *s) {
    tbuf f = {0};
    put(&f, s->magic, 4);
    put_u32(&f, s->version);
    int n_kv = 4 + (s->alignment_type >= 0) + s->n_extra_kv;
    put_u64(&f, s->n_tensors != UINT64_MAX ? s->n_tensors : (uint64_t)s->nt);
    put_u64(&f, s->n_kv != UINT64_MAX ? s->n_kv : (uint64_t)n_kv);
    put_str(&f, "general.architecture");
    put_u32(&f, QF_GGUF_TYPE_STRING);
    put_str(&f, "llama");
    put_str(&f, "test.u32");
    put_u32(&f, QF_GGUF_TYPE_UINT32);
    put_u32(&f, 7);
    put_str(&f, "test.strs");
    put_u32(&f, QF_GGUF_TYPE_ARRAY);
    put_u32(&f, QF_GGUF_TYPE_STRING);
    put_u64(&f, 2);
    put_str(&f, "a");
    put_str(&f, "bc");
    put_str(&f, "test.i32s");
    put_u32(&f, QF_GGUF_TYPE_ARRAY);
    put_u32(&f, QF_GGUF_TYPE_INT32);
    put_u64(&f, 3);
    put_u32(&f, 1);
    put_u32(&f, (uint32_t)-2);
    put_u32(&f, 3);
    if (s->alignment_type >= 0) {
        put_str(&f, "general.alignment");
        put_u32(&f, (uint32_t)s->alignment_type);
        if (s->alignment_type == QF_GGUF_TYPE_UINT64)
            put_u64(&f, s->alignment);
        else
            put_u32(&f, (uint32_t)s->alignment);
    }
    put(&f, s->extra_kv.b, s->extra_kv.n);
    for (int i = 0; i < s->nt; i++) {
        put_str(&f, s->t[i].name);
        put_u32(&f, s->t[i].ndim);
        for (uint32_t d = 0; d < s->t[i].ndim && d < 5; d++) put_u64(&f, s->t[i].ne[d]);
        put_u32(&f, s->t[i].type);
        put_u64(&f, s->t[i].offset);
    }
    uint64_t align = s->alignment_type >= 0 && s->alignment ? s->alignment : 32;
    if (align > 4096) align = 32;
    while (f.n % align) put(&f, "", 1);
    for (size_t i = 0; i < s->data_bytes; i++) {
        uint8_t v = (uint8_t)(i * 7);
        put(&f, &v, 1);
    }
    if (s->truncate && s->truncate < f.n) f.n = s->truncate;
    free(s->extra_kv.b);
    s->extra_kv = (tbuf){0};
    return f;
}

static qf_status open_spec(spec *s) {
    tbuf f = build(s);
    qf_gguf_file *g = NULL;
    qf_status st = qf_gguf_open_memory(f.b, f.n, "m.gguf", &g);
    qf_gguf_close(g);
    free(f.b);
    return st;
}

#define CHECK_SPEC_FAILS(s, code, needle) CHECK_FAILS(open_spec(&(s)), code, needle)

/* ---- valid files --------------------------------------------------------------------- */

static void test_valid_built(void) {
    spec s = base_spec();
    tbuf f = build(&s);
    qf_gguf_file *g = NULL;
    CHECK_OK(qf_gguf_open_memory(f.b, f.n, "m.gguf", &g));
    if (!g) return;
    CHECK(strcmp(qf_gguf_name(g), "m.gguf") == 0);
    CHECK(qf_gguf_version(g) == 3);
    CHECK(qf_gguf_alignment(g) == 32);
    CHECK(qf_gguf_kv_count(g) == 4);
    CHECK(qf_gguf_tensor_count(g) == 2);
    CHECK(qf_gguf_data_offset(g) % 32 == 0 && qf_gguf_data_offset(g) + 256 + 72 == f.n);

    uint64_t u;
    double d;
    int64_t iv;
    qf_gguf_str str;
    int b;
    CHECK_OK(qf_gguf_get_u64(g, "test.u32", &u));
    CHECK(u == 7);
    CHECK_OK(qf_gguf_get_f64(g, "test.u32", &d));
    CHECK(d == 7.0);
    CHECK_OK(qf_gguf_get_str(g, "general.architecture", &str));
    CHECK(str.len == 5 && memcmp(str.ptr, "llama", 5) == 0);
    CHECK_FAILS(qf_gguf_get_u64(g, "nope", &u), QF_STATUS_NOT_FOUND,
                "'m.gguf': key 'nope' not found");
    CHECK_FAILS(qf_gguf_get_u64(g, "general.architecture", &u), QF_STATUS_FORMAT,
                "key 'general.architecture' is a string, expected an integer");
    CHECK_FAILS(qf_gguf_get_bool(g, "test.u32", &b), QF_STATUS_FORMAT, "expected a bool");
    CHECK_FAILS(qf_gguf_get_str(g, "test.strs", &str), QF_STATUS_FORMAT, "is a array");

    const qf_gguf_kv *kv = qf_gguf_kv_find(g, "test.strs");
    CHECK(kv && kv->type == QF_GGUF_TYPE_ARRAY && kv->arr_type == QF_GGUF_TYPE_STRING &&
          kv->arr_len == 2 && kv->arr_strs);
    if (kv && kv->arr_strs) {
        CHECK(kv->arr_strs[1].len == 2 && memcmp(kv->arr_strs[1].ptr, "bc", 2) == 0);
        CHECK_FAILS(qf_gguf_arr_get_int(kv, 0, &iv), QF_STATUS_INVALID_ARG, "array of string");
    }
    kv = qf_gguf_kv_find(g, "test.i32s");
    CHECK(kv && kv->arr_type == QF_GGUF_TYPE_INT32 && kv->arr_len == 3);
    if (kv) {
        CHECK_OK(qf_gguf_arr_get_int(kv, 1, &iv));
        CHECK(iv == -2);
        CHECK_OK(qf_gguf_arr_get_f64(kv, 2, &d));
        CHECK(d == 3.0);
        CHECK_FAILS(qf_gguf_arr_get_int(kv, 3, &iv), QF_STATUS_INVALID_ARG, "index 3 out of range");
    }
    CHECK(qf_gguf_kv_get(g, 0) && qf_gguf_kv_get(g, 4) == NULL);

    const qf_gguf_tensor *t = qf_gguf_tensor_find(g, "blk.0.attn_k.weight");
    CHECK(t && t->ggml_type == 2 && t->dtype == QF_DTYPE_Q4_0 && t->ndim == 2 && t->ne[0] == 32 &&
          t->ne[1] == 2 && t->ne[2] == 1 && t->numel == 64 && t->nbytes == 36 && t->offset == 256);
    if (t) CHECK((const uint8_t *)t->data == f.b + qf_gguf_data_offset(g) + 256);
    CHECK(qf_gguf_tensor_find(g, "blk.0.attn_q") == NULL);
    CHECK(qf_gguf_tensor_get(g, 0) == qf_gguf_tensor_find(g, "blk.0.attn_q.weight"));
    qf_gguf_close(g);
    free(f.b);

    /* version 2, custom alignment, tensors out of order, zero-size and 0-d tensors,
     * a type qforge cannot decode */
    s = base_spec();
    s.version = 2;
    s.alignment_type = QF_GGUF_TYPE_UINT32;
    s.alignment = 64;
    s.t[0].offset = 384;
    s.t[1].offset = 0;
    s.t[2] = (tinfo){"empty", 2, {0, 5}, 0, 64};
    s.t[3] = (tinfo){"scalar", 0, {0}, 0, 128};
    s.nt = 4;
    s.data_bytes = 384 + 256;
    put_str(&s.extra_kv, "empty.arr");
    put_u32(&s.extra_kv, QF_GGUF_TYPE_ARRAY);
    put_u32(&s.extra_kv, QF_GGUF_TYPE_STRING);
    put_u64(&s.extra_kv, 0);
    put_str(&s.extra_kv, "flag");
    put_u32(&s.extra_kv, QF_GGUF_TYPE_BOOL);
    put(&s.extra_kv, "\x02", 1); /* any non-zero byte is true, like ggml */
    s.n_extra_kv = 2;
    f = build(&s);
    CHECK_OK(qf_gguf_open_memory(f.b, f.n, "v2.gguf", &g));
    if (g) {
        CHECK(qf_gguf_version(g) == 2 && qf_gguf_alignment(g) == 64 &&
              qf_gguf_data_offset(g) % 64 == 0);
        t = qf_gguf_tensor_find(g, "empty");
        CHECK(t && t->numel == 0 && t->nbytes == 0);
        t = qf_gguf_tensor_find(g, "scalar");
        CHECK(t && t->ndim == 0 && t->numel == 1 && t->nbytes == 4);
        const qf_gguf_kv *kv0 = qf_gguf_kv_find(g, "empty.arr");
        CHECK(kv0 && kv0->arr_len == 0 && kv0->arr_type == QF_GGUF_TYPE_STRING);
        int flag = 0;
        CHECK_OK(qf_gguf_get_bool(g, "flag", &flag));
        CHECK(flag == 1);
        qf_gguf_close(g);
    }
    free(f.b);

    s = base_spec();
    s.t[1] = (tinfo){"q5k", 1, {256}, 13 /* Q5_K */, 256};
    s.data_bytes = 256 + 176;
    f = build(&s);
    CHECK_OK(qf_gguf_open_memory(f.b, f.n, "q5k.gguf", &g));
    if (g) {
        t = qf_gguf_tensor_find(g, "q5k");
        CHECK(t && t->dtype == QF_DTYPE_COUNT && t->nbytes == 176);
        qf_gguf_close(g);
    }
    free(f.b);
    CHECK(qf_gguf_dtype_from_ggml(13) == -1 && qf_gguf_dtype_from_ggml(30) == QF_DTYPE_BF16);
    CHECK(strcmp(qf_gguf_ggml_type_name(12), "Q4_K") == 0);
    CHECK(strcmp(qf_gguf_ggml_type_name(4), "unknown") == 0);
    CHECK(strcmp(qf_gguf_type_name(QF_GGUF_TYPE_FLOAT64), "float64") == 0);

    /* the smallest file: no KV, no tensors */
    const uint8_t minimal[24] = {'G', 'G', 'U', 'F', 3};
    CHECK_OK(qf_gguf_open_memory(minimal, sizeof minimal, NULL, &g));
    if (g)
        CHECK(qf_gguf_kv_count(g) == 0 && qf_gguf_tensor_count(g) == 0 &&
              qf_gguf_kv_find(g, "x") == NULL && qf_gguf_tensor_find(g, "x") == NULL);
    qf_gguf_close(g);
}

/* The file gguf-py's GGUFWriter wrote: every scalar type and several array types. */
static void test_valid_gguf_py(void) {
    qf_gguf_file *g = NULL;
    CHECK_OK(qf_gguf_open(QF_FIXTURES_DIR "/gguf/tiny_llama.gguf", &g));
    if (!g) return;
    cJSON *j = qf_test_load_json(QF_FIXTURES_DIR "/gguf/tiny_llama.json");
    CHECK(qf_gguf_version(g) == 3 && qf_gguf_alignment(g) == 32);
    CHECK(qf_gguf_tensor_count(g) == 21);
    uint64_t u;
    double d;
    int b;
    qf_gguf_str s;
    int64_t iv;
    CHECK_OK(qf_gguf_get_u64(g, "test.u8", &u));
    CHECK(u == 200);
    CHECK_OK(qf_gguf_get_u64(g, "test.u16", &u));
    CHECK(u == 60000);
    CHECK_OK(qf_gguf_get_u64(g, "test.u64", &u));
    CHECK(u == (1ull << 63) + 5);
    const qf_gguf_kv *kv = qf_gguf_kv_find(g, "test.i8");
    CHECK(kv && kv->type == QF_GGUF_TYPE_INT8 && kv->v.i64 == -100);
    kv = qf_gguf_kv_find(g, "test.i16");
    CHECK(kv && kv->type == QF_GGUF_TYPE_INT16 && kv->v.i64 == -30000);
    kv = qf_gguf_kv_find(g, "test.i32");
    CHECK(kv && kv->type == QF_GGUF_TYPE_INT32 && kv->v.i64 == -2000000000);
    kv = qf_gguf_kv_find(g, "test.i64");
    CHECK(kv && kv->type == QF_GGUF_TYPE_INT64 && kv->v.i64 == -(1ll << 40));
    CHECK_FAILS(qf_gguf_get_u64(g, "test.i64", &u), QF_STATUS_FORMAT, "is negative");
    CHECK_OK(qf_gguf_get_f64(g, "test.f64", &d));
    CHECK(d == 0.1);
    CHECK_OK(qf_gguf_get_f64(g, "test.f32", &d));
    CHECK(d == (double)0.1f);
    CHECK_OK(qf_gguf_get_bool(g, "test.bool", &b));
    CHECK(b == 1);
    CHECK_OK(qf_gguf_get_str(g, "test.empty", &s));
    CHECK(s.len == 0);
    kv = qf_gguf_kv_find(g, "test.arr_f64");
    CHECK(kv && kv->arr_type == QF_GGUF_TYPE_FLOAT64 && kv->arr_len == 2);
    if (kv) {
        CHECK_OK(qf_gguf_arr_get_f64(kv, 1, &d));
        CHECK(d == -2.25);
    }
    kv = qf_gguf_kv_find(g, "test.arr_bool");
    if (kv) {
        CHECK_OK(qf_gguf_arr_get_int(kv, 1, &iv));
        CHECK(iv == 0);
    }
    kv = qf_gguf_kv_find(g, "test.arr_u64");
    if (kv) CHECK_FAILS(qf_gguf_arr_get_int(kv, 0, &iv), QF_STATUS_FORMAT, "does not fit in int64");
    kv = qf_gguf_kv_find(g, "tokenizer.ggml.tokens");
    CHECK(kv && kv->arr_type == QF_GGUF_TYPE_STRING && kv->arr_len == 16);
    if (kv && kv->arr_strs)
        CHECK(kv->arr_strs[15].len == 5 && memcmp(kv->arr_strs[15].ptr, "nl\n\xc3\xa9", 5) == 0);
    kv = qf_gguf_kv_find(g, "tokenizer.ggml.scores");
    if (kv) {
        CHECK_OK(qf_gguf_arr_get_f64(kv, 3, &d));
        CHECK(d == -3.0);
    }
    /* every tensor: type and ggml shape as gguf-py wrote them */
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(j, "tensors"), *e;
    cJSON_ArrayForEach(e, tensors) {
        const char *src = qf_test_json_str(e, "source");
        const qf_gguf_tensor *t = qf_gguf_tensor_find(g, src);
        CHECK_MSG(t != NULL, "tensor %s missing", src);
        if (!t) continue;
        const char *type = qf_test_json_str(e, "type");
        CHECK_MSG(strcmp(qf_gguf_ggml_type_name(t->ggml_type), type) == 0, "%s type", src);
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        int nd = cJSON_GetArraySize(shape);
        CHECK(t->ndim == nd);
        for (int k = 0; k < nd && k < 4; k++)
            CHECK(t->ne[k] == (int64_t)cJSON_GetArrayItem(shape, nd - 1 - k)->valuedouble);
    }
    cJSON_Delete(j);
    qf_gguf_close(g);

    CHECK_OK(qf_gguf_open(QF_FIXTURES_DIR "/../fuzz/corpus/gguf/kquant.gguf", &g));
    if (g) {
        CHECK(qf_gguf_alignment(g) == 64);
        const qf_gguf_tensor *t = qf_gguf_tensor_find(g, "k6");
        CHECK(t && t->dtype == QF_DTYPE_Q6_K && t->numel == 256 && t->offset % 64 == 0);
        qf_gguf_close(g);
    }
}

/* ---- the bad-input suite ------------------------------------------------------------- */

static void add_kv_u32(spec *s, const char *key, uint32_t type, uint32_t v) {
    put_str(&s->extra_kv, key);
    put_u32(&s->extra_kv, type);
    put_u32(&s->extra_kv, v);
    s->n_extra_kv++;
}

static void test_bad_header(void) {
    spec s = base_spec();
    s.truncate = 10;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "'m.gguf': truncated: tensor count needs 8 bytes at offset 8, only 2 left");
    s = base_spec();
    s.truncate = 3;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "'m.gguf': not a GGUF file: 3 bytes");
    s = base_spec();
    s.magic = "GGML";
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "bad magic 47 47 4d 4c");
    s = base_spec();
    s.version = 1;
    CHECK_SPEC_FAILS(s, QF_STATUS_UNSUPPORTED, "GGUF version 1 is not supported");
    s = base_spec();
    s.version = 99;
    CHECK_SPEC_FAILS(s, QF_STATUS_UNSUPPORTED, "GGUF version 99 is not supported");
    s = base_spec();
    s.version = 0x03000000;
    CHECK_SPEC_FAILS(s, QF_STATUS_UNSUPPORTED, "big-endian");
    s = base_spec();
    s.n_tensors = 1ull << 40;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "tensor count 1099511627776 exceeds the limit of 65536");
    s = base_spec();
    s.n_kv = UINT64_MAX - 1;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "kv count 18446744073709551614 exceeds the limit");
    s = base_spec();
    s.n_kv = 60000;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "60000 key-value pairs and 2 tensor infos cannot fit");
    s = base_spec();
    s.n_kv = 5; /* one more than there is: the tensor infos are read as a KV pair */
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "'m.gguf': tensor 0 name at offset 223: length");
}

static void test_bad_kv(void) {
    spec s = base_spec();
    put_u64(&s.extra_kv, 200); /* key length past EOF */
    s.n_extra_kv = 1;
    s.nt = 0;
    s.data_bytes = 0;
    CHECK_SPEC_FAILS(
        s, QF_STATUS_FORMAT,
        "'m.gguf': key 4 at offset 190: length 200 runs past the end of the file (size 224)");
    s = base_spec();
    put_u64(&s.extra_kv, 1000);
    s.n_extra_kv = 1;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "key 4 at offset 190: length 1000 exceeds the limit of 256 bytes");

    s = base_spec();
    put_str(&s.extra_kv, "s.long");
    put_u32(&s.extra_kv, QF_GGUF_TYPE_STRING);
    put_u64(&s.extra_kv, 1ull << 40);
    s.n_extra_kv = 1;
    CHECK_SPEC_FAILS(
        s, QF_STATUS_FORMAT,
        "key 's.long': string value at offset 208: length 1099511627776 exceeds the limit");

    s = base_spec();
    char longkey[300];
    memset(longkey, 'k', 299);
    longkey[299] = '\0';
    add_kv_u32(&s, longkey, QF_GGUF_TYPE_UINT32, 1);
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "length 299 exceeds the limit of 256 bytes");

    s = base_spec();
    add_kv_u32(&s, "", QF_GGUF_TYPE_UINT32, 1);
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "key 4 at offset 190 is empty");

    s = base_spec();
    add_kv_u32(&s, "test.u32", QF_GGUF_TYPE_UINT32, 8);
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "'m.gguf': duplicate key 'test.u32' (pairs 1 and 4)");

    s = base_spec();
    add_kv_u32(&s, "bad.type", 13, 0);
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "'m.gguf': key 'bad.type': unknown value type 13 (valid: 0..12)");

    s = base_spec();
    put_str(&s.extra_kv, "bad.nested");
    put_u32(&s.extra_kv, QF_GGUF_TYPE_ARRAY);
    put_u32(&s.extra_kv, QF_GGUF_TYPE_ARRAY);
    put_u64(&s.extra_kv, 1);
    s.n_extra_kv = 1;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "key 'bad.nested': nested arrays are not supported");

    s = base_spec();
    put_str(&s.extra_kv, "bad.elem");
    put_u32(&s.extra_kv, QF_GGUF_TYPE_ARRAY);
    put_u32(&s.extra_kv, 77);
    put_u64(&s.extra_kv, 1);
    s.n_extra_kv = 1;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "key 'bad.elem': unknown array element type 77");

    s = base_spec();
    put_str(&s.extra_kv, "big.arr");
    put_u32(&s.extra_kv, QF_GGUF_TYPE_ARRAY);
    put_u32(&s.extra_kv, QF_GGUF_TYPE_UINT8);
    put_u64(&s.extra_kv, 1ull << 30);
    s.n_extra_kv = 1;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "array length 1073741824 exceeds the limit of 16777216");

    s = base_spec();
    put_str(&s.extra_kv, "short.arr");
    put_u32(&s.extra_kv, QF_GGUF_TYPE_ARRAY);
    put_u32(&s.extra_kv, QF_GGUF_TYPE_STRING);
    put_u64(&s.extra_kv, 100000);
    s.n_extra_kv = 1;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "key 'short.arr': array of 100000 string at offset");

    s = base_spec();
    s.alignment_type = QF_GGUF_TYPE_UINT32;
    s.alignment = 48;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "general.alignment 48 is not a non-zero power of two");
    s = base_spec();
    s.alignment_type = QF_GGUF_TYPE_UINT32;
    s.alignment = 0;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "general.alignment 0 is not a non-zero power of two");
    s = base_spec();
    s.alignment_type = QF_GGUF_TYPE_UINT64;
    s.alignment = 32;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "general.alignment must be a uint32, not uint64");
}

static void test_bad_tensors(void) {
    spec s = base_spec();
    s.t[1].ndim = 5;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "'m.gguf': tensor 'blk.0.attn_k.weight': n_dims 5 exceeds the maximum of 4");
    s = base_spec();
    s.t[0].ne[0] = 1ull << 32;
    s.t[0].ne[1] = 1ull << 32;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "tensor 'blk.0.attn_q.weight': element count overflows int64");
    s = base_spec();
    s.t[0].ne[1] = 1ull << 63;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "dimension 1 is 9223372036854775808 (negative as int64)");
    s = base_spec();
    s.t[0].ne[0] = 1ull << 62; /* numel fits int64, bytes do not */
    s.t[0].ne[1] = 1;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "size in bytes of 4611686018427387904 F32 elements overflows");
    s = base_spec();
    s.t[1].offset = 272;
    CHECK_SPEC_FAILS(
        s, QF_STATUS_FORMAT,
        "tensor 'blk.0.attn_k.weight': data offset 272 is not a multiple of the alignment 32");
    s = base_spec();
    s.t[1].offset = 4096;
    CHECK_SPEC_FAILS(
        s, QF_STATUS_FORMAT,
        "'m.gguf': tensor 'blk.0.attn_k.weight': offset 4096 + 36 bytes past end of file");
    s = base_spec();
    s.t[1].offset = UINT64_MAX - 31; /* aligned, and offset + bytes overflows */
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "offset 18446744073709551584 + 36 bytes past end of file");
    s = base_spec();
    s.truncate = 320 + 256 + 20; /* the file ends inside the Q4_0 tensor */
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "offset 256 + 36 bytes past end of file");
    s = base_spec();
    s.t[1].offset = 224; /* 8x8 F32 = 256 bytes at 0 */
    CHECK_SPEC_FAILS(
        s, QF_STATUS_FORMAT,
        "tensors 'blk.0.attn_q.weight' (offset 0, 256 bytes) and 'blk.0.attn_k.weight' "
        "(offset 224, 36 bytes) overlap");
    s = base_spec();
    s.t[2] = (tinfo){"big", 1, {1024}, 0, 0};
    s.t[3] = (tinfo){"inside", 1, {8}, 0, 512}; /* overlaps 'big', not its neighbour */
    s.nt = 4;
    s.data_bytes = 4096;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "overlap");
    s = base_spec();
    s.t[1].name = "blk.0.attn_q.weight";
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "'m.gguf': duplicate tensor name 'blk.0.attn_q.weight' (tensors 0 and 1)");
    s = base_spec();
    s.t[1].name = "";
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "tensor 1 at offset");
    s = base_spec();
    s.t[1].type = 4; /* removed from ggml (Q4_2) */
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "tensor 'blk.0.attn_k.weight': unknown ggml type 4");
    s = base_spec();
    s.t[1].type = 1000;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT, "unknown ggml type 1000");
    s = base_spec();
    s.t[1].ne[0] = 16;
    s.t[1].ne[1] = 4;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "row length 16 is not a multiple of the Q4_0 block size 32");
    s = base_spec();
    s.truncate = 200; /* inside the tensor infos */
    CHECK_SPEC_FAILS(
        s, QF_STATUS_FORMAT,
        "tensor 0 name at offset 190: length 19 runs past the end of the file (size 200)");
    s = base_spec();
    s.truncate = 194;
    CHECK_SPEC_FAILS(s, QF_STATUS_FORMAT,
                     "'m.gguf': truncated: tensor 0 name needs 8 bytes at offset 190, only 4 left "
                     "(file size 194)");
    s = base_spec();
    s.t[0] = (tinfo){"z", 1, {0}, 0, 0}; /* zero-size tensor: the file may end at the infos */
    s.nt = 1;
    s.data_bytes = 0;
    {
        tbuf f = build(&s);
        size_t end = f.n;
        while (end % 32 == 0) end--; /* cut the padding so the data start is past EOF */
        qf_gguf_file *g = NULL;
        CHECK_FAILS(qf_gguf_open_memory(f.b, end, "m.gguf", &g), QF_STATUS_FORMAT,
                    "data section would start at offset");
        free(f.b);
    }
}

/* Errors of qf_gguf_open name the path. */
static void test_bad_files(void) {
    char dir[] = "/tmp/qf_test_gguf_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], needle[400];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    spec s = base_spec();
    s.t[1].offset = 4096;
    tbuf f = build(&s);
    CHECK_OK(qf_file_write_atomic(path, f.b, f.n, 1));
    free(f.b);
    qf_gguf_file *g = NULL;
    snprintf(needle, sizeof needle,
             "'%s': tensor 'blk.0.attn_k.weight': offset 4096 + 36 bytes past end of file", path);
    CHECK_FAILS(qf_gguf_open(path, &g), QF_STATUS_FORMAT, needle);
    CHECK(g == NULL);
    CHECK_OK(qf_file_write_atomic(path, "", 0, 1));
    CHECK_FAILS(qf_gguf_open(path, &g), QF_STATUS_FORMAT, "not a GGUF file: 0 bytes");
    unlink(path);
    CHECK_FAILS(qf_gguf_open(path, &g), QF_STATUS_IO, "cannot open");
    rmdir(dir);
    CHECK_FAILS(qf_gguf_open_memory(NULL, 5, "x", &g), QF_STATUS_INVALID_ARG, "bad arguments");
}

int main(void) {
    test_valid_built();
    test_valid_gguf_py();
    test_bad_header();
    test_bad_kv();
    test_bad_tensors();
    test_bad_files();
    TEST_END();
}
