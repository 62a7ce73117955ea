/* safetensors reader and writer: round trips through our writer (every dtype,
 * zero-size, scalar, metadata, escaping, exact-length lookup), writer failure paths
 * (no partial output ever), and parser edge cases on in-memory headers. */
#include "test.h"
#include "test_safetensors_common.h"

/* The official writer's dtype order (Dtype enum in safetensors/src/tensor.rs,
 * restated here independently of the implementation). */
static int official_rank(qf_dtype t) {
    static const char *const order[] = {"BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8",
                                        "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
                                        "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32",
                                        "U32", "F32", "C64", "F64", "I64", "U64"};
    for (int i = 0; i < (int)(sizeof order / sizeof *order); i++)
        if (strcmp(order[i], qf_dtype_name(t)) == 0) return i;
    return -1;
}

typedef struct spec {
    char name[64];
    qf_dtype dtype;
    int ndim;
    int64_t shape[QF_ST_MAX_DIMS];
    uint8_t *data;
    size_t nbytes;
} spec;

static int is_plain(qf_dtype t) { return qf_dtype_get_info(t)->block_elems == 1; }

static void fill(spec *s, uint32_t seed) {
    uint64_t numel = 1, nbytes = 0;
    for (int i = 0; i < s->ndim; i++) numel *= (uint64_t)s->shape[i];
    if (qf_dtype_nbytes(s->dtype, numel, &nbytes) != QF_STATUS_OK) abort();
    s->nbytes = (size_t)nbytes;
    s->data = malloc(s->nbytes ? s->nbytes : 1);
    for (size_t i = 0; i < s->nbytes; i++) s->data[i] = (uint8_t)(i * 37u + seed * 11u + 1u);
}

static qf_status write_specs(const char *path, int overwrite, spec *s, int n, const char **meta,
                             int nmeta) {
    qf_st_writer *w;
    QF_FORWARD(qf_st_writer_open(path, overwrite, &w));
    for (int i = 0; i < nmeta; i++) QF_FORWARD(qf_st_writer_add_meta(w, meta[2 * i], meta[2 * i + 1]));
    for (int i = 0; i < n; i++)
        QF_FORWARD(qf_st_writer_declare(w, s[i].name, s[i].dtype, s[i].ndim, s[i].shape));
    QF_FORWARD(qf_st_writer_write_header(w));
    for (int i = n - 1; i >= 0; i--) /* any order */
        QF_FORWARD(qf_st_writer_write(w, s[i].name, s[i].data, s[i].nbytes));
    return qf_st_writer_finish(w);
}

static void test_round_trip(const char *dir) {
    spec s[64];
    int n = 0;
    memset(s, 0, sizeof s);
    for (int t = 0; t < QF_DTYPE_COUNT; t++) {
        if (!is_plain((qf_dtype)t)) continue;
        snprintf(s[n].name, sizeof s[n].name, "t.%s", qf_dtype_name((qf_dtype)t));
        s[n].dtype = (qf_dtype)t;
        s[n].ndim = 2;
        s[n].shape[0] = 2;
        s[n].shape[1] = 4;
        n++;
    }
    const struct {
        const char *name;
        qf_dtype dtype;
        int ndim;
        int64_t d0, d1;
    } extra[] = {
        {"zero", QF_DTYPE_F32, 2, 0, 3},    {"zero.u8", QF_DTYPE_U8, 2, 5, 0},
        {"scalar", QF_DTYPE_F64, 0, 0, 0},  {"a.weight", QF_DTYPE_F16, 1, 3, 0},
        {"a.weight2", QF_DTYPE_F16, 1, 2, 0}, {"a.weigh", QF_DTYPE_F16, 1, 1, 0},
        {"q\"\\\n\x01/\xc3\xbc\x7f", QF_DTYPE_BF16, 1, 2, 0}, {"", QF_DTYPE_U8, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++, n++) {
        snprintf(s[n].name, sizeof s[n].name, "%s", extra[i].name);
        s[n].dtype = extra[i].dtype;
        s[n].ndim = extra[i].ndim;
        s[n].shape[0] = extra[i].d0;
        s[n].shape[1] = extra[i].d1;
    }
    for (int i = 0; i < n; i++) fill(&s[i], (uint32_t)i);
    const char *meta[] = {"note", "with \"quotes\", \\, \n and \xc3\xbc", "empty", ""};

    char path[4096], path2[4096];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    snprintf(path2, sizeof path2, "%s/rt2.safetensors", dir);
    CHECK_OK(write_specs(path, 0, s, n, meta, 2));
    CHECK_OK(write_specs(path2, 0, s, n, meta, 2));

    /* deterministic: same inputs, same bytes */
    size_t len1 = 0, len2 = 0;
    char *b1 = st_read_file(path, &len1), *b2 = st_read_file(path2, &len2);
    CHECK(b1 && b2 && len1 == len2 && memcmp(b1, b2, len1) == 0);

    /* header shape: 8-byte multiple, starts with '{', right-padded with spaces */
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = (hn << 8) | (uint8_t)b1[i];
    CHECK(hn % 8 == 0 && hn + 8 <= len1 && b1[8] == '{');
    size_t last = 8 + (size_t)hn - 1;
    while (last > 8 && b1[last] == ' ') last--;
    CHECK(b1[last] == '}');
    CHECK(memmem(b1 + 8, (size_t)hn, "\"__metadata__\":{", 16) == b1 + 9);

    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(path, &f));
    if (!f) return;
    CHECK(qf_st_count(f) == (size_t)n);
    for (int i = 0; i < n; i++) {
        const qf_st_tensor *t = qf_st_find(f, s[i].name, strlen(s[i].name));
        CHECK_MSG(t != NULL, "tensor '%s' missing", s[i].name);
        if (!t) continue;
        CHECK(t->name_len == strlen(s[i].name) && memcmp(t->name, s[i].name, t->name_len) == 0);
        CHECK(t->name[t->name_len] == '\0');
        CHECK(t->dtype == s[i].dtype);
        CHECK(t->ndim == s[i].ndim);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            CHECK(t->shape[d] == s[i].shape[d]);
            numel *= (uint64_t)s[i].shape[d];
        }
        CHECK(t->numel == numel);
        CHECK(t->end - t->begin == s[i].nbytes);
        if (s[i].nbytes == 0) CHECK(t->data == NULL);
        else CHECK(t->data && memcmp(t->data, s[i].data, s[i].nbytes) == 0);
    }
    /* layout: offsets ascending; official order (descending dtype rank, then name);
     * every whole-byte element aligned to its size in the file */
    for (size_t i = 0; i < qf_st_count(f); i++) {
        const qf_st_tensor *t = qf_st_get(f, i);
        uint32_t bits = qf_dtype_get_info(t->dtype)->block_bits;
        if (bits >= 8) CHECK((8 + hn + t->begin) % (bits / 8) == 0);
        if (i == 0) {
            CHECK(t->begin == 0);
            continue;
        }
        const qf_st_tensor *p = qf_st_get(f, i - 1);
        CHECK(p->end == t->begin);
        int rp = official_rank(p->dtype), rt = official_rank(t->dtype);
        CHECK_MSG(rp > rt || (rp == rt && strcmp(p->name, t->name) < 0),
                  "layout order: '%s' (%s) before '%s' (%s)", p->name, qf_dtype_name(p->dtype),
                  t->name, qf_dtype_name(t->dtype));
    }
    CHECK(qf_st_get(f, (size_t)n) == NULL);

    /* exact-length lookup */
    const qf_st_tensor *aw = qf_st_find(f, "a.weight", 8);
    CHECK(aw && aw->name_len == 8 && aw->shape[0] == 3);
    const qf_st_tensor *aw2 = qf_st_find(f, "a.weight2", 9);
    CHECK(aw2 && aw2->shape[0] == 2);
    const qf_st_tensor *aw3 = qf_st_find(f, "a.weight", 7);
    CHECK(aw3 && aw3->shape[0] == 1 && strcmp(aw3->name, "a.weigh") == 0);
    CHECK(qf_st_find(f, "a.weightX", 8) == aw);
    CHECK(qf_st_find(f, "a.weig", 6) == NULL);
    CHECK(qf_st_find(f, "a.weight22", 10) == NULL);
    CHECK(qf_st_find(f, "", 0) && qf_st_find(f, "", 0)->dtype == QF_DTYPE_U8);

    /* metadata: user entries plus format=pt, sorted by key */
    CHECK(qf_st_meta_count(f) == 3);
    const char *fmt = qf_st_meta_find(f, "format");
    CHECK(fmt && strcmp(fmt, "pt") == 0);
    const char *note = qf_st_meta_find(f, "note");
    CHECK(note && strcmp(note, meta[1]) == 0);
    const char *empty = qf_st_meta_find(f, "empty");
    CHECK(empty && *empty == '\0');
    CHECK(qf_st_meta_find(f, "missing") == NULL);
    const qf_st_meta *m0 = qf_st_meta_get(f, 0);
    CHECK(m0 && strcmp(m0->key, "empty") == 0 && m0->key_len == 5 && m0->value_len == 0);
    CHECK(qf_st_meta_get(f, 3) == NULL);
    qf_st_close(f);

    /* the same file over memory */
    CHECK_OK(qf_st_open_memory(b1, len1, "copy", &f));
    CHECK(qf_st_count(f) == (size_t)n);
    qf_st_close(f);

    free(b1);
    free(b2);
    for (int i = 0; i < n; i++) free(s[i].data);
}

/* The exact bytes of small files (these match the official writer, which
 * test_safetensors_pycheck verifies through the Python package). */
static void test_exact_bytes(const char *dir) {
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    qf_st_writer *w;
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_write_header(w));
    CHECK_OK(qf_st_writer_finish(w));
    char *b = st_read_file(path, &len);
    static const char empty[] = "\x20\0\0\0\0\0\0\0{\"__metadata__\":{\"format\":\"pt\"}}";
    CHECK(b && len == sizeof empty - 1 && memcmp(b, empty, len) == 0);
    free(b);

    snprintf(path, sizeof path, "%s/one.safetensors", dir);
    const float v[2] = {1.0f, -2.0f};
    const int64_t shape[1] = {2};
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_add_meta(w, "format", "mlx"));
    CHECK_OK(qf_st_writer_declare(w, "w", QF_DTYPE_F32, 1, shape));
    CHECK_OK(qf_st_writer_write_header(w));
    CHECK_OK(qf_st_writer_write(w, "w", v, sizeof v));
    CHECK_OK(qf_st_writer_finish(w));
    b = st_read_file(path, &len);
    static const char hdr[] = "{\"__metadata__\":{\"format\":\"mlx\"},\"w\":{\"dtype\":\"F32\","
                              "\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t hl = sizeof hdr - 1, padded = (hl + 7) / 8 * 8;
    CHECK(b && len == 8 + padded + 8);
    CHECK(b && (uint8_t)b[0] == padded && memcmp(b + 8, hdr, hl) == 0);
    CHECK(b && memcmp(b + 8 + padded, v, 8) == 0);
    free(b);
}

static int tmp_files_in(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_writer_failures(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    const int64_t s4[1] = {4}, s3[1] = {3}, neg[1] = {-1};
    const uint8_t data[16] = {0};
    qf_st_writer *w;

    /* a tensor never written: finish fails, nothing left behind */
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_F32, 1, s4));
    CHECK_OK(qf_st_writer_declare(w, "b", QF_DTYPE_U8, 1, s4));
    CHECK_OK(qf_st_writer_write_header(w));
    CHECK_OK(qf_st_writer_write(w, "b", data, 4));
    CHECK(tmp_files_in(dir) == 1);
    CHECK_FAILS(qf_st_writer_finish(w), QF_STATUS_INVALID_ARG, "tensor 'a' was never written");
    CHECK(!qf_path_exists(path) && tmp_files_in(dir) == 0);

    /* abort in the middle */
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_F32, 1, s4));
    CHECK_OK(qf_st_writer_write_header(w));
    qf_st_writer_abort(w);
    CHECK(!qf_path_exists(path) && tmp_files_in(dir) == 0);
    qf_st_writer_abort(NULL);

    /* wrong size: the writer fails for good and removes its temp file at once */
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_F32, 1, s4));
    CHECK_OK(qf_st_writer_write_header(w));
    CHECK_FAILS(qf_st_writer_write(w, "a", data, 12), QF_STATUS_INVALID_ARG,
                "tensor 'a': got 12 bytes of data, its shape needs 16");
    CHECK(tmp_files_in(dir) == 0);
    CHECK_FAILS(qf_st_writer_write(w, "a", data, 16), QF_STATUS_INVALID_ARG, "already failed");
    CHECK_FAILS(qf_st_writer_finish(w), QF_STATUS_INVALID_ARG, "already failed");
    CHECK(!qf_path_exists(path));

    struct {
        const char *name;
        qf_dtype dtype;
        int ndim;
        const int64_t *shape;
        const char *needle;
    } bad_decl[] = {
        {"q", QF_DTYPE_Q4_0, 1, s4, "dtype Q4_0 cannot be stored"},
        {"f4", QF_DTYPE_F4, 1, s3, "F4 shape: size is not a whole number of bytes"},
        {"__metadata__", QF_DTYPE_U8, 1, s4, "invalid tensor name '__metadata__'"},
        {"bad\xff", QF_DTYPE_U8, 1, s4, "invalid tensor name"},
        {"neg", QF_DTYPE_U8, 1, neg, "negative shape[0]"},
        {"rank", QF_DTYPE_U8, QF_ST_MAX_DIMS + 1, s4, "invalid rank 9"},
    };
    for (size_t i = 0; i < sizeof bad_decl / sizeof *bad_decl; i++) {
        CHECK_OK(qf_st_writer_open(path, 0, &w));
        CHECK_FAILS(qf_st_writer_declare(w, bad_decl[i].name, bad_decl[i].dtype, bad_decl[i].ndim,
                                         bad_decl[i].shape),
                    QF_STATUS_INVALID_ARG, bad_decl[i].needle);
        qf_st_writer_abort(w);
        CHECK(tmp_files_in(dir) == 0);
    }

    /* duplicates are found when the header is laid out */
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_F32, 1, s4));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_U8, 1, s4));
    CHECK_FAILS(qf_st_writer_write_header(w), QF_STATUS_INVALID_ARG, "tensor 'a' declared twice");
    CHECK(tmp_files_in(dir) == 0);
    qf_st_writer_abort(w);

    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_add_meta(w, "k", "1"));
    CHECK_OK(qf_st_writer_add_meta(w, "k", "2"));
    CHECK_FAILS(qf_st_writer_write_header(w), QF_STATUS_INVALID_ARG, "duplicate metadata key 'k'");
    qf_st_writer_abort(w);

    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_FAILS(qf_st_writer_add_meta(w, "k", "\xc0\xaf"), QF_STATUS_INVALID_ARG, "not valid UTF-8");
    qf_st_writer_abort(w);

    /* calls out of order */
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_U8, 1, s4));
    CHECK_FAILS(qf_st_writer_write(w, "a", data, 4), QF_STATUS_INVALID_ARG, "before the header");
    qf_st_writer_abort(w);
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_write_header(w));
    CHECK_FAILS(qf_st_writer_declare(w, "a", QF_DTYPE_U8, 1, s4), QF_STATUS_INVALID_ARG,
                "after the header");
    qf_st_writer_abort(w);
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_U8, 1, s4));
    CHECK_OK(qf_st_writer_write_header(w));
    CHECK_FAILS(qf_st_writer_write(w, "b", data, 4), QF_STATUS_NOT_FOUND, "'b' was not declared");
    qf_st_writer_abort(w);
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_U8, 1, s4));
    CHECK_OK(qf_st_writer_write_header(w));
    CHECK_OK(qf_st_writer_write(w, "a", data, 4));
    CHECK_FAILS(qf_st_writer_write(w, "a", data, 4), QF_STATUS_INVALID_ARG, "written twice");
    qf_st_writer_abort(w);
    CHECK_OK(qf_st_writer_open(path, 0, &w));
    CHECK_FAILS(qf_st_writer_finish(w), QF_STATUS_INVALID_ARG, "before the header");
    CHECK(tmp_files_in(dir) == 0 && !qf_path_exists(path));

    /* overwrite policy */
    CHECK_OK(qf_file_write_atomic(path, "old", 3, 0));
    CHECK_FAILS(qf_st_writer_open(path, 0, &w), QF_STATUS_IO, "already exists");
    CHECK_OK(qf_st_writer_open(path, 1, &w));
    CHECK_OK(qf_st_writer_declare(w, "a", QF_DTYPE_U8, 1, s4));
    CHECK_OK(qf_st_writer_write_header(w));
    CHECK_OK(qf_st_writer_write(w, "a", data, 4));
    CHECK_OK(qf_st_writer_finish(w));
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(path, &f));
    CHECK(qf_st_count(f) == 1);
    qf_st_close(f);
    /* a failed overwrite leaves the old file untouched */
    CHECK_OK(qf_st_writer_open(path, 1, &w));
    CHECK_OK(qf_st_writer_declare(w, "z", QF_DTYPE_U8, 1, s4));
    CHECK_OK(qf_st_writer_write_header(w));
    qf_st_writer_abort(w);
    CHECK_OK(qf_st_open(path, &f));
    CHECK(f && qf_st_find(f, "a", 1) != NULL);
    qf_st_close(f);
    CHECK(tmp_files_in(dir) == 0);
    unlink(path);

    CHECK_FAILS(qf_st_writer_open(QF_FIXTURES_DIR "/no/such/dir/x.safetensors", 0, &w),
                QF_STATUS_IO, "cannot create temporary file");
    CHECK_FAILS(qf_st_writer_finish(NULL), QF_STATUS_INVALID_ARG, "no writer");
}

/* Headers the official parser accepts that a hand-written parser easily gets wrong. */
static void test_parser_accepts(void) {
    st_mem m;
    /* JSON whitespace anywhere and as right padding; unknown fields ignored */
    CHECK_OK(st_open_str("{ \"a\" :\n{\"shape\" : [ 2 ] ,\t\"x\":{\"k\":1.5,\"m\":null},\"z\":[1,2.5e3,-0.0,true,null,\"s\"],"
                         "\"data_offsets\":[0,2],\"dtype\":\"U8\", \"y\": \"s\"}\r\n}\n\t\r",
                         2, &m));
    CHECK(m.f && qf_st_count(m.f) == 1 && qf_st_meta_count(m.f) == 0);
    st_mem_close(&m);

    /* __metadata__: null means none; an escaped key still names it */
    CHECK_OK(st_open_str("{\"__metadata__\":null}", 0, &m));
    CHECK(m.f && qf_st_meta_count(m.f) == 0 && qf_st_count(m.f) == 0);
    st_mem_close(&m);
    CHECK_OK(st_open_str("{\"__meta\\u0064ata__\":{\"k\":\"v\\u00fc\\ud83d\\ude00\"}}", 0, &m));
    CHECK(m.f && qf_st_meta_count(m.f) == 1);
    const char *v = m.f ? qf_st_meta_find(m.f, "k") : NULL;
    CHECK(v && strcmp(v, "v\xc3\xbc\xf0\x9f\x98\x80") == 0);
    st_mem_close(&m);

    /* names with escapes and NUL; exact-length lookup sees them */
    CHECK_OK(st_open_str("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                         "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
                         "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\":{\"dtype\":\"U8\",\"shape\":[],"
                         "\"data_offsets\":[2,3]}}",
                         3, &m));
    if (m.f) {
        const qf_st_tensor *t = qf_st_find(m.f, "a\0b", 3);
        CHECK(t && t->name_len == 3 && t->begin == 0 && ((const uint8_t *)t->data)[0] == 0);
        t = qf_st_find(m.f, "a", 1);
        CHECK(t && t->begin == 1 && ((const uint8_t *)t->data)[0] == 1);
        t = qf_st_find(m.f, "\"\\/\b\f\n\r\t", 8);
        CHECK(t && t->ndim == 0 && t->numel == 1);
    }
    st_mem_close(&m);

    /* zero-size tensors anywhere, ties ordered by name; scalars; sub-byte dtypes */
    CHECK_OK(st_open_str("{\"z2\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                         "\"b\":{\"dtype\":\"F4\",\"shape\":[2,2],\"data_offsets\":[4,6]},"
                         "\"z1\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                         "\"c\":{\"dtype\":\"F6_E3M2\",\"shape\":[4],\"data_offsets\":[6,9]},"
                         "\"e\":{\"dtype\":\"U8\",\"shape\":[0,4294967296,4294967296],"
                         "\"data_offsets\":[9,9]}}",
                         9, &m));
    if (m.f) {
        const char *order[] = {"a", "z1", "z2", "b", "c", "e"};
        CHECK(qf_st_count(m.f) == 6);
        for (size_t i = 0; i < 6 && i < qf_st_count(m.f); i++)
            CHECK_MSG(strcmp(qf_st_get(m.f, i)->name, order[i]) == 0, "position %zu: %s", i,
                      qf_st_get(m.f, i)->name);
        const qf_st_tensor *z = qf_st_find(m.f, "z1", 2);
        CHECK(z && z->data == NULL && z->numel == 0);
        const qf_st_tensor *c = qf_st_find(m.f, "c", 1);
        CHECK(c && c->data && ((const uint8_t *)c->data)[0] == 6);
    }
    st_mem_close(&m);

    /* numbers the official parser accepts in ignored fields */
    const char *nums[] = {"1.7976931348623157e308", "-1.7976931348623157e308", "1e-400",
                          "123456789012345678901234567890", "0.0000", "1E+2", "-0",
                          "179769313486231570000e288", "0.00017976931348623157e312"};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        char h[256];
        snprintf(h, sizeof h,
                 "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":%s}}",
                 nums[i]);
        CHECK_OK(st_open_str(h, 1, &m));
        st_mem_close(&m);
    }
    /* largest offsets and dims */
    CHECK_OK(st_open_str("{\"a\":{\"dtype\":\"U8\",\"shape\":[9223372036854775807,0],"
                         "\"data_offsets\":[0,0]}}",
                         0, &m));
    CHECK(m.f && qf_st_get(m.f, 0)->shape[0] == INT64_MAX);
    st_mem_close(&m);
}

/* Rejections beyond the golden files: parser details, limits, message format. */
static void test_parser_rejects(void) {
    /* the message format promised in DESIGN.md */
    ST_REJECTS("{\"a.weight\":{\"dtype\":\"U8\",\"shape\":[123],\"data_offsets\":[0,123]}}", 100,
               QF_STATUS_FORMAT, "'mem.safetensors': tensor 'a.weight': data_offsets end 123 > "
               "data size 100");
    const char *out_of_range[] = {"1.7976931348623158e308", "-1.8e308", "2e308", "1e309",
                                  "179769313486231580000e288", "0.00017976931348623158e312"};
    for (size_t i = 0; i < sizeof out_of_range / sizeof *out_of_range; i++) {
        char h[256];
        snprintf(h, sizeof h,
                 "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":%s}}",
                 out_of_range[i]);
        ST_REJECTS(h, 1, QF_STATUS_FORMAT, "number out of range");
    }
    const char *bad_numbers[] = {"-", "1.", ".5", "1e", "1e+", "+1", "0x10", "01", "--1", "1.e2"};
    for (size_t i = 0; i < sizeof bad_numbers / sizeof *bad_numbers; i++) {
        char h[256];
        snprintf(h, sizeof h,
                 "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":%s}}",
                 bad_numbers[i]);
        ST_REJECTS(h, 1, QF_STATUS_FORMAT, "invalid JSON in header");
    }
    /* depth: 3 levels of containers pass, the 4th does not, wherever it is */
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[[1]],\"data_offsets\":[0,1]}}", 1,
               QF_STATUS_FORMAT, "JSON nesting deeper than 3 levels at header byte 28");
    ST_REJECTS("{\"__metadata__\":{\"k\":{\"x\":[]}}}", 0, QF_STATUS_FORMAT,
               "JSON nesting deeper than 3 levels");
    ST_REJECTS("{\"a\":[[[]]]}", 0, QF_STATUS_FORMAT, "JSON nesting deeper than 3 levels");
    /* schema */
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1,
               QF_STATUS_FORMAT, "'data_offsets' must have exactly 2 elements");
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"dtype\":\"U8\"}}",
               1, QF_STATUS_FORMAT, "tensor 'a': duplicate field 'dtype'");
    ST_REJECTS("{\"a\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, QF_STATUS_FORMAT,
               "'dtype' must be a string");
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":null,\"data_offsets\":[0,1]}}", 1,
               QF_STATUS_FORMAT, "'shape' must be an array of non-negative integers");
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}}", 1,
               QF_STATUS_FORMAT, "shape[0] is not a non-negative integer");
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1e0]}}", 1,
               QF_STATUS_FORMAT, "data_offsets[1] is not a non-negative integer");
    ST_REJECTS("{\"a\":{}}", 0, QF_STATUS_FORMAT, "tensor 'a': missing field 'dtype'");
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 0, QF_STATUS_FORMAT,
               "missing field 'data_offsets'");
    ST_REJECTS("{\"a\":5}", 0, QF_STATUS_FORMAT, "tensor 'a': entry must be an object");
    ST_REJECTS("{\"__metadata__\":[]}", 0, QF_STATUS_FORMAT, "must be an object of strings");
    ST_REJECTS("{\"__metadata__\":{\"k\":null}}", 0, QF_STATUS_FORMAT,
               "'__metadata__' value of 'k' is not a string");
    ST_REJECTS("{\"a\":{\"dtype\":\"F8_E5M2FNUZ\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
               QF_STATUS_UNSUPPORTED, "dtype 'F8_E5M2FNUZ' is not supported");
    /* syntax */
    ST_REJECTS("{\"a\"}", 0, QF_STATUS_FORMAT, "expected ':'");
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\"", 0, QF_STATUS_FORMAT, "invalid JSON in header");
    ST_REJECTS("{\"__metadata__\":{}} x", 0, QF_STATUS_FORMAT, "trailing characters");
    ST_REJECTS("{\"__metadata__\":{\"k\":\"\\ud800\\u0041\"}}", 0, QF_STATUS_FORMAT,
               "lone surrogate");
    ST_REJECTS("{\"__metadata__\":{\"k\":\"\\udc00\"}}", 0, QF_STATUS_FORMAT, "lone surrogate");
    ST_REJECTS("{\"__metadata__\":{\"k\":\"\\u12g4\"}}", 0, QF_STATUS_FORMAT,
               "invalid \\u escape");
    ST_REJECTS("{\"__metadata__\":{\"k\":\"a\tb\"}}", 0, QF_STATUS_FORMAT,
               "control character in string");
    ST_REJECTS("{\"__metadata__\":{\"k\":tru}}", 0, QF_STATUS_FORMAT, "invalid JSON");
    ST_REJECTS("{\"__metadata__\":{\"k\":\"v\",}}", 0, QF_STATUS_FORMAT, "expected a string");
    ST_REJECTS("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,],\"data_offsets\":[0,1]}}", 1,
               QF_STATUS_FORMAT, "invalid JSON");
    /* UTF-8: surrogates encoded directly, beyond U+10FFFF, truncated sequence */
    ST_REJECTS("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, QF_STATUS_FORMAT,
               "header is not valid UTF-8 (at byte 22)");
    ST_REJECTS("{\"__metadata__\":{\"k\":\"\xf4\x90\x80\x80\"}}", 0, QF_STATUS_FORMAT,
               "not valid UTF-8");
    ST_REJECTS("{\"__metadata__\":{\"k\":\"\xe2\x82\"}}", 0, QF_STATUS_FORMAT, "not valid UTF-8");
    /* limits */
    char big[QF_ST_MAX_NAME_LEN + 128];
    memset(big, 0, sizeof big);
    memcpy(big, "{\"", 2);
    memset(big + 2, 'n', QF_ST_MAX_NAME_LEN + 1);
    strcat(big, "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
    ST_REJECTS(big, 1, QF_STATUS_NOMEM, "tensor name of 4097 bytes exceeds the limit of 4096");
    big[2 + QF_ST_MAX_NAME_LEN] = '\0';
    strcat(big, "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
    st_mem m;
    CHECK_OK(st_open_str(big, 1, &m));
    st_mem_close(&m);

    /* files */
    qf_st_file *f = NULL;
    CHECK_FAILS(qf_st_open(ST_FIXTURES "/no_such.safetensors", &f), QF_STATUS_IO,
                "no_such.safetensors': cannot open");
    CHECK_FAILS(qf_st_open(ST_FIXTURES, &f), QF_STATUS_IO, "not a regular file");
    CHECK_FAILS(qf_st_open_memory(NULL, 0, "nothing", &f), QF_STATUS_FORMAT,
                "'nothing': file is 0 bytes, smaller than the 8-byte header length");
    CHECK_FAILS(qf_st_open_memory(NULL, 4, "x", &f), QF_STATUS_INVALID_ARG, "no buffer");
    CHECK(f == NULL && qf_st_count(NULL) == 0 && qf_st_find(NULL, "a", 1) == NULL);
    qf_st_close(NULL);
}

int main(void) {
    char dir[4096];
    st_make_tmpdir(dir, sizeof dir);
    test_round_trip(dir);
    test_exact_bytes(dir);
    test_writer_failures(dir);
    test_parser_accepts();
    test_parser_rejects();
    st_rm_dir(dir);
    TEST_END();
}
