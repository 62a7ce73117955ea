/* Tests for core/: status messages, the dtype table and sizes, float conversions and
 * SHA-256 against digests made by numpy, torch and hashlib (tests/fixtures/core/dtype.json,
 * written by tests/fixtures/scripts/make_core_fixtures.py), and mapped/atomic file I/O. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dtype.h"
#include "core/fileio.h"
#include "core/sha256.h"
#include "core/sha256_internal.h"
#include "test.h"

#define CANONICAL_NAN 0x7FC00000u

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put_le16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Digest of n floats as little-endian f32 bytes; NaNs become CANONICAL_NAN if asked. */
static void digest_f32(const float *v, size_t n, int canonical_nan, char hex[65]) {
    uint8_t *b = xmalloc(4 * n);
    for (size_t i = 0; i < n; i++)
        put_le32(b + 4 * i, canonical_nan && isnan(v[i]) ? CANONICAL_NAN : f2u(v[i]));
    qf_sha256_hex(b, 4 * n, hex);
    free(b);
}

/* Digest of n host-order u16 values (as written by qf_dtype_from_f32) as little-endian. */
static void digest_u16(const uint8_t *host, size_t n, char hex[65]) {
    uint8_t *b = xmalloc(2 * n);
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, host + 2 * i, 2);
        put_le16(b + 2 * i, h);
    }
    qf_sha256_hex(b, 2 * n, hex);
    free(b);
}

/* ---- fixture access ------------------------------------------------------------------ */

static const cJSON *jget(const cJSON *o, const char *key) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    CHECK_MSG(v != NULL, "fixture lacks \"%s\"", key);
    return v;
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = jget(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static uint64_t jnum(const cJSON *o, const char *key) {
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
}

/* Array of hex strings ("0x3C00") -> malloc'd uint32 array. */
static uint32_t *jhex_array(const cJSON *o, const char *key, size_t *n) {
    const cJSON *a = jget(o, key);
    *n = cJSON_IsArray(a) ? (size_t)cJSON_GetArraySize(a) : 0;
    uint32_t *v = xmalloc(*n * sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        const cJSON *e = cJSON_GetArrayItem(a, (int)i);
        v[i] = cJSON_IsString(e) ? (uint32_t)strtoul(e->valuestring, NULL, 16) : 0;
    }
    return v;
}

#define CHECK_DIGEST(got, want, what) \
    CHECK_MSG(strcmp((got), (want)) == 0, "%s: sha256 %s, reference %s", (what), (got), (want))

/* ---- status -------------------------------------------------------------------------- */

static void *thread_messages(void *arg) {
    int *ok = arg;
    *ok = qf_error_message()[0] == '\0';
    qf_error_set(QF_STATUS_IO, "set on another thread");
    *ok = *ok && strcmp(qf_error_message(), "set on another thread") == 0;
    return NULL;
}

static void test_status(void) {
    CHECK(strcmp(qf_status_name(QF_STATUS_OK), "ok") == 0);
    CHECK(strcmp(qf_status_name(QF_STATUS_FORMAT), "format error") == 0);
    for (int s = 0; s < QF_STATUS_COUNT; s++) {
        const char *n = qf_status_name((qf_status)s);
        CHECK_MSG(n && n[0] && strcmp(n, "unknown") != 0, "status %d has no name", s);
    }
    CHECK(strcmp(qf_status_name(QF_STATUS_COUNT), "unknown") == 0);
    CHECK(strcmp(qf_status_name((qf_status)-1), "unknown") == 0);

    qf_error_clear();
    CHECK(strcmp(qf_error_message(), "") == 0);
    CHECK(qf_error_set(QF_STATUS_FORMAT, "offset %d > size %s", 123, "100") == QF_STATUS_FORMAT);
    CHECK(strcmp(qf_error_message(), "offset 123 > size 100") == 0);
    CHECK(qf_error_wrap(QF_STATUS_IO, "tensor '%s': ", "w") == QF_STATUS_IO);
    CHECK(strcmp(qf_error_message(), "tensor 'w': offset 123 > size 100") == 0);
    qf_error_wrap(QF_STATUS_IO, "file '%s': ", "m.safetensors");
    CHECK(strcmp(qf_error_message(), "file 'm.safetensors': tensor 'w': offset 123 > size 100") == 0);
    qf_error_clear();
    qf_error_wrap(QF_STATUS_IO, "ctx: ");
    CHECK(strcmp(qf_error_message(), "ctx: ") == 0);

    /* The message as an argument of the next set/wrap (a natural way to add context). */
    qf_error_set(QF_STATUS_FORMAT, "inner %d", 7);
    qf_error_set(QF_STATUS_FORMAT, "outer: %s", qf_error_message());
    CHECK_MSG(strcmp(qf_error_message(), "outer: inner 7") == 0, "got \"%s\"", qf_error_message());
    qf_error_wrap(QF_STATUS_FORMAT, "[%s] ", qf_error_message());
    CHECK_MSG(strcmp(qf_error_message(), "[outer: inner 7] outer: inner 7") == 0, "got \"%s\"",
              qf_error_message());

    /* Truncation: find the capacity from an oversized message, then check set and wrap
     * keep to it (ASan watches the buffer itself). */
    enum { BIG = 5000 };
    char *big = xmalloc(BIG + 1), *big2 = xmalloc(BIG + 1);
    for (int i = 0; i < BIG; i++) {
        big[i] = (char)('a' + i % 26);
        big2[i] = (char)('A' + i % 26);
    }
    big[BIG] = big2[BIG] = '\0';
    qf_error_set(QF_STATUS_IO, "%s", big);
    size_t cap = strlen(qf_error_message());
    CHECK_MSG(cap >= 255 && cap < BIG, "message capacity %zu", cap);
    CHECK(strncmp(qf_error_message(), big, cap) == 0);
    big[cap] = '\0';
    qf_error_set(QF_STATUS_IO, "%s", big); /* exactly fits */
    CHECK(strcmp(qf_error_message(), big) == 0);
    big[cap] = (char)('a' + cap % 26);

    qf_error_set(QF_STATUS_IO, "%s", big); /* full message, short prefix */
    qf_error_wrap(QF_STATUS_IO, "ctx: ");
    CHECK(strlen(qf_error_message()) == cap);
    CHECK(strncmp(qf_error_message(), "ctx: ", 5) == 0);
    CHECK(strncmp(qf_error_message() + 5, big, cap - 5) == 0);

    qf_error_set(QF_STATUS_IO, "old"); /* prefix alone longer than the buffer */
    qf_error_wrap(QF_STATUS_IO, "%s", big2);
    CHECK(strlen(qf_error_message()) == cap);
    CHECK(strncmp(qf_error_message(), big2, cap) == 0);

    big2[cap - 1] = '\0'; /* prefix leaves room for 1 char of the old message */
    qf_error_set(QF_STATUS_IO, "xyz");
    qf_error_wrap(QF_STATUS_IO, "%s", big2);
    CHECK(strlen(qf_error_message()) == cap && qf_error_message()[cap - 1] == 'x');
    CHECK(strncmp(qf_error_message(), big2, cap - 1) == 0);
    free(big);
    free(big2);

    /* Messages are per thread. */
    qf_error_set(QF_STATUS_FORMAT, "main thread");
    int ok = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_messages, &ok) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(ok);
    CHECK(strcmp(qf_error_message(), "main thread") == 0);
    qf_error_clear();
}

/* ---- dtype table and sizes ----------------------------------------------------------- */

static void test_dtype_table(void) {
    for (int t = 0; t < QF_DTYPE_COUNT; t++) {
        const qf_dtype_info *info = qf_dtype_get_info((qf_dtype)t);
        CHECK_MSG(info && info->name && info->name[0], "dtype %d has no info", t);
        if (!info) continue;
        CHECK(qf_dtype_name((qf_dtype)t) == info->name);
        CHECK_MSG(qf_dtype_from_name(info->name, strlen(info->name)) == t, "%s", info->name);
        CHECK(info->block_elems >= 1 && info->block_bits >= 1);

        /* is_float <=> qf_dtype_to_f32 accepts it */
        uint8_t src[8] = {0};
        float dst;
        qf_status st = qf_dtype_to_f32((qf_dtype)t, src, 1, &dst);
        CHECK_MSG((st == QF_STATUS_OK) == (info->is_float != 0), "%s: to_f32 %s, is_float %d",
                  info->name, qf_status_name(st), info->is_float);
    }
    CHECK(qf_dtype_get_info(QF_DTYPE_COUNT) == NULL);
    CHECK(qf_dtype_get_info((qf_dtype)-1) == NULL);
    CHECK(strcmp(qf_dtype_name(QF_DTYPE_COUNT), "?") == 0);

    /* exact-length matching: only the first len bytes count, and all of the name */
    CHECK(qf_dtype_from_name("F16", 3) == QF_DTYPE_F16);
    CHECK(qf_dtype_from_name("F16_suffix", 3) == QF_DTYPE_F16);
    CHECK(qf_dtype_from_name("BF16", 4) == QF_DTYPE_BF16);
    CHECK(qf_dtype_from_name("BF16", 3) == -1);
    CHECK(qf_dtype_from_name("F16", 2) == -1);
    CHECK(qf_dtype_from_name("F8_E4M3", 7) == QF_DTYPE_F8_E4M3);
    CHECK(qf_dtype_from_name("F8_E4M3FN", 9) == -1);
    CHECK(qf_dtype_from_name("F8_E4M3", 6) == -1);
    CHECK(qf_dtype_from_name("F6_E2M3", 7) == QF_DTYPE_F6_E2M3);
    CHECK(qf_dtype_from_name("F4", 2) == QF_DTYPE_F4);
    CHECK(qf_dtype_from_name("Q4_K", 4) == QF_DTYPE_Q4_K);
    CHECK(qf_dtype_from_name("Q4", 2) == -1);
    CHECK(qf_dtype_from_name("f16", 3) == -1);
    CHECK(qf_dtype_from_name("F32\0", 4) == -1);
    CHECK(qf_dtype_from_name("", 0) == -1);
}

static void test_nbytes(void) {
    static const struct {
        qf_dtype t;
        uint64_t numel, bytes;
    } ok[] = {
        {QF_DTYPE_F32, 0, 0},        {QF_DTYPE_F32, 10, 40},      {QF_DTYPE_BOOL, 3, 3},
        {QF_DTYPE_F64, 3, 24},       {QF_DTYPE_C64, 2, 16},       {QF_DTYPE_BF16, 5, 10},
        {QF_DTYPE_F8_E8M0, 7, 7},    {QF_DTYPE_F4, 2, 1},         {QF_DTYPE_F4, 4096, 2048},
        {QF_DTYPE_F6_E2M3, 4, 3},    {QF_DTYPE_F6_E3M2, 8, 6},    {QF_DTYPE_Q4_0, 32, 18},
        {QF_DTYPE_Q4_0, 0, 0},       {QF_DTYPE_Q4_1, 64, 40},     {QF_DTYPE_Q8_0, 96, 102},
        {QF_DTYPE_Q4_K, 256, 144},   {QF_DTYPE_Q6_K, 512, 420},
        {QF_DTYPE_F64, UINT64_MAX / 64, UINT64_MAX / 64 * 8},
        {QF_DTYPE_U8, (uint64_t)1 << 60, (uint64_t)1 << 60},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t b = 12345;
        qf_status st = qf_dtype_nbytes(ok[i].t, ok[i].numel, &b);
        CHECK_MSG(st == QF_STATUS_OK && b == ok[i].bytes, "%s x %llu: %s %llu, want %llu",
                  qf_dtype_name(ok[i].t), (unsigned long long)ok[i].numel, qf_status_name(st),
                  (unsigned long long)b, (unsigned long long)ok[i].bytes);
    }
    uint64_t b;
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_Q4_0, 33, &b), QF_STATUS_FORMAT, "whole number of Q4_0");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_Q4_K, 128, &b), QF_STATUS_FORMAT, "blocks of 256");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_Q8_0, UINT64_MAX, &b), QF_STATUS_FORMAT, "Q8_0");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_F4, 3, &b), QF_STATUS_FORMAT, "whole number of bytes");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_F6_E2M3, 2, &b), QF_STATUS_FORMAT, "bytes");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_F6_E3M2, 6, &b), QF_STATUS_FORMAT, "bytes");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_F64, UINT64_MAX / 64 + 1, &b), QF_STATUS_FORMAT,
                "overflows");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_F32, UINT64_MAX, &b), QF_STATUS_FORMAT, "overflows");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_Q6_K, 256 * (UINT64_MAX / (210 * 8) + 1), &b),
                QF_STATUS_FORMAT, "overflows");
    CHECK_FAILS(qf_dtype_nbytes(QF_DTYPE_COUNT, 1, &b), QF_STATUS_INVALID_ARG, "invalid dtype");
}

/* ---- conversions against numpy / torch ----------------------------------------------- */

/* All 65536 16-bit patterns through the bulk converter; also checks the scalar one and
 * that every non-NaN value converts back to the same bits. */
static void test_16bit_to_f32(const cJSON *ref, qf_dtype t, const char *key) {
    uint8_t *src = xmalloc(2 * 65536);
    float *dst = xmalloc(4 * 65536);
    for (uint32_t h = 0; h < 65536; h++) put_le16(src + 2 * h, (uint16_t)h);
    CHECK_OK(qf_dtype_to_f32(t, src, 65536, dst));
    char hex[65];
    digest_f32(dst, 65536, 0, hex);
    CHECK_DIGEST(hex, jstr(jget(ref, key), "sha256"), key);

    int scalar_bad = 0, round_trip_bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int f16 = t == QF_DTYPE_F16;
        float s = f16 ? qf_fp16_to_fp32((uint16_t)h) : qf_bf16_to_fp32((uint16_t)h);
        scalar_bad += f2u(s) != f2u(dst[h]);
        uint16_t back = f16 ? qf_fp32_to_fp16(s) : qf_fp32_to_bf16(s);
        int is_nan = f16 ? ((h & 0x7C00) == 0x7C00 && (h & 0x3FF))
                         : ((h & 0x7F80) == 0x7F80 && (h & 0x7F));
        if (is_nan)
            round_trip_bad += !isnan(f16 ? qf_fp16_to_fp32(back) : qf_bf16_to_fp32(back)) ||
                              (back & 0x8000) != (h & 0x8000);
        else
            round_trip_bad += back != h;
    }
    CHECK_MSG(scalar_bad == 0, "%s: %d scalar/bulk mismatches", key, scalar_bad);
    CHECK_MSG(round_trip_bad == 0, "%s: %d values do not convert back", key, round_trip_bad);
    free(src);
    free(dst);
}

/* The fixture's f32 input set: sweep, grid, extra; NaNs removed. */
static float *make_f32_set(const cJSON *set, size_t *count) {
    uint64_t sweep = jnum(set, "sweep_count"), mul = jnum(set, "sweep_multiplier");
    size_t nlows, nextra;
    uint32_t *lows = jhex_array(set, "grid_lows", &nlows);
    uint32_t *extra = jhex_array(set, "extra", &nextra);
    size_t total = (size_t)sweep + 65536 * nlows + nextra, n = 0;
    uint32_t *u = xmalloc(total * sizeof *u);
    for (uint64_t i = 0; i < sweep; i++) u[n++] = (uint32_t)(i * mul);
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (size_t j = 0; j < nlows; j++) u[n++] = hi << 16 | lows[j];
    for (size_t j = 0; j < nextra; j++) u[n++] = extra[j];
    float *f = xmalloc(total * sizeof *f);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if ((u[i] & 0x7FFFFFFFu) <= 0x7F800000u) f[kept++] = u2f(u[i]);
    free(lows);
    free(extra);
    free(u);
    *count = kept;
    return f;
}

static void test_f32_to_16bit(const cJSON *ref, const float *in, size_t n, qf_dtype t,
                              const char *key) {
    const cJSON *r = jget(ref, key);
    uint8_t *out = xmalloc(2 * n);
    CHECK_OK(qf_dtype_from_f32(t, in, n, out));
    char hex[65];
    digest_u16(out, n, hex);
    CHECK_DIGEST(hex, jstr(r, "sha256"), key);

    int scalar_bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t bulk, s = t == QF_DTYPE_F16 ? qf_fp32_to_fp16(in[i]) : qf_fp32_to_bf16(in[i]);
        memcpy(&bulk, out + 2 * i, 2);
        scalar_bad += s != bulk;
    }
    CHECK_MSG(scalar_bad == 0, "%s: %d scalar/bulk mismatches", key, scalar_bad);

    size_t nin, nwant;
    uint32_t *xin = jhex_array(jget(ref, "f32_set"), "extra", &nin);
    uint32_t *want = jhex_array(r, "extra", &nwant);
    CHECK(nin == nwant);
    for (size_t i = 0; i < nin && i < nwant; i++) {
        float f = u2f(xin[i]);
        uint16_t got = t == QF_DTYPE_F16 ? qf_fp32_to_fp16(f) : qf_fp32_to_bf16(f);
        CHECK_MSG(got == want[i], "%s(0x%08X = %.9g) = 0x%04X, reference 0x%04X", key, xin[i],
                  (double)f, got, want[i]);
    }
    free(xin);
    free(want);
    free(out);
}

static void test_f8(const cJSON *ref) {
    static const struct {
        qf_dtype t;
        float (*scalar)(uint8_t);
    } types[] = {{QF_DTYPE_F8_E4M3, qf_f8e4m3_to_fp32},
                 {QF_DTYPE_F8_E5M2, qf_f8e5m2_to_fp32},
                 {QF_DTYPE_F8_E8M0, qf_f8e8m0_to_fp32}};
    const cJSON *f8 = jget(ref, "f8_to_f32");
    CHECK(strtoul(jstr(f8, "nan_bits"), NULL, 16) == CANONICAL_NAN);
    uint8_t src[256];
    float dst[256];
    for (int i = 0; i < 256; i++) src[i] = (uint8_t)i;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const char *name = qf_dtype_name(types[k].t);
        CHECK_OK(qf_dtype_to_f32(types[k].t, src, 256, dst));
        for (int i = 0; i < 256; i++) {
            float s = types[k].scalar((uint8_t)i);
            CHECK_MSG(isnan(s) ? isnan(dst[i]) : f2u(s) == f2u(dst[i]), "%s 0x%02X", name, i);
        }
        const cJSON *r = f8 ? cJSON_GetObjectItemCaseSensitive(f8, name) : NULL;
        if (!r) {
            printf("note: no torch reference for %s in the fixture\n", name);
            continue;
        }
        char hex[65];
        digest_f32(dst, 256, 1, hex);
        CHECK_DIGEST(hex, jstr(r, "sha256"), name);
    }
    /* a few named values, for readable failures */
    CHECK(qf_f8e4m3_to_fp32(0x7E) == 448.0f && qf_f8e4m3_to_fp32(0x01) == 0x1p-9f);
    CHECK(isnan(qf_f8e4m3_to_fp32(0x7F)) && isnan(qf_f8e4m3_to_fp32(0xFF)));
    CHECK(qf_f8e5m2_to_fp32(0x7B) == 57344.0f && isinf(qf_f8e5m2_to_fp32(0xFC)));
    CHECK(qf_f8e8m0_to_fp32(127) == 1.0f && qf_f8e8m0_to_fp32(0) == 0x1p-127f);
    CHECK(isnan(qf_f8e8m0_to_fp32(0xFF)));
}

static void test_conversions_misc(void) {
    /* NaN stays NaN (with its sign) rather than turning into inf */
    uint32_t nans[] = {0x7F800001u, 0x7FC00000u, 0xFF800001u, 0x7FFFFFFFu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        float f = u2f(nans[i]);
        uint16_t h = qf_fp32_to_fp16(f), b = qf_fp32_to_bf16(f);
        CHECK_MSG(isnan(qf_fp16_to_fp32(h)) && (h >> 15) == nans[i] >> 31, "f16(0x%08X)=0x%04X",
                  nans[i], h);
        CHECK_MSG(isnan(qf_bf16_to_fp32(b)) && (b >> 15) == nans[i] >> 31, "bf16(0x%08X)=0x%04X",
                  nans[i], b);
    }
    double d[4] = {1.0, 0.1, -1e300, 5e-324};
    float f[4], g[4];
    CHECK_OK(qf_dtype_to_f32(QF_DTYPE_F64, d, 4, f));
    CHECK(f[0] == 1.0f && f2u(f[1]) == 0x3DCCCCCDu && isinf(f[2]) && f[2] < 0 && f2u(f[3]) == 0);
    CHECK_OK(qf_dtype_to_f32(QF_DTYPE_F32, f, 4, g));
    CHECK(memcmp(f, g, sizeof f) == 0);
    CHECK_OK(qf_dtype_from_f32(QF_DTYPE_F32, f, 4, g));
    CHECK(memcmp(f, g, sizeof f) == 0);
    /* zero elements, e.g. an empty tensor whose mapping has data == NULL */
    CHECK_OK(qf_dtype_to_f32(QF_DTYPE_F32, NULL, 0, NULL));
    CHECK_OK(qf_dtype_to_f32(QF_DTYPE_F16, NULL, 0, NULL));
    CHECK_OK(qf_dtype_from_f32(QF_DTYPE_F32, NULL, 0, NULL));
    CHECK_OK(qf_dtype_from_f32(QF_DTYPE_BF16, NULL, 0, NULL));
    CHECK_FAILS(qf_dtype_to_f32(QF_DTYPE_Q4_0, d, 1, f), QF_STATUS_UNSUPPORTED, "Q4_0");
    CHECK_FAILS(qf_dtype_from_f32(QF_DTYPE_I32, f, 1, g), QF_STATUS_UNSUPPORTED, "I32");
    CHECK_FAILS(qf_dtype_from_f32(QF_DTYPE_F8_E4M3, f, 1, g), QF_STATUS_UNSUPPORTED, "F8_E4M3");
}

static void test_dtype_conversions(const cJSON *ref) {
    test_16bit_to_f32(ref, QF_DTYPE_F16, "f16_to_f32");
    test_16bit_to_f32(ref, QF_DTYPE_BF16, "bf16_to_f32");

    const cJSON *set = jget(ref, "f32_set");
    size_t n;
    float *in = make_f32_set(set, &n);
    CHECK_MSG(n == jnum(set, "count"), "f32 set has %zu values, fixture %llu", n,
              (unsigned long long)jnum(set, "count"));
    char hex[65];
    digest_f32(in, n, 0, hex);
    CHECK_DIGEST(hex, jstr(set, "input_sha256"), "f32 input set");
    test_f32_to_16bit(ref, in, n, QF_DTYPE_F16, "f32_to_f16");
    test_f32_to_16bit(ref, in, n, QF_DTYPE_BF16, "f32_to_bf16");
    free(in);

    test_f8(ref);
    test_conversions_misc();
}

/* ---- SHA-256 against hashlib ----------------------------------------------------------- */

static uint8_t *sha_bytes(size_t n) {
    uint8_t *b = xmalloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)((uint32_t)(i * 2654435761u) >> 24);
    return b;
}

static void sha_stream(const uint8_t *b, size_t n, const size_t *chunks, size_t nchunks,
                       char hex[65]) {
    qf_sha256 s;
    uint8_t d[32];
    qf_sha256_init(&s);
    for (size_t off = 0, k = 0; off < n; k++) {
        size_t c = chunks[k % nchunks];
        if (c > n - off) c = n - off;
        qf_sha256_update(&s, b + off, c);
        off += c;
    }
    qf_sha256_final(&s, d);
    qf_sha256_to_hex(d, hex);
}

/* The SHA-NI block function against the portable one on many blocks of varied bytes,
 * from several states (hashlib's digests above pin the portable one). */
static void test_sha256_ni_blocks(void) {
    const size_t nblocks = 4096;
    uint8_t *b = xmalloc(nblocks * 64);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < nblocks * 64; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = (uint8_t)(i % 97 < 40 ? x >> 56 : (i % 3 ? 0xFF : 0)); /* random and runs */
    }
    for (size_t step = 1; step <= nblocks; step *= 4) {
        uint32_t h1[8], h2[8];
        for (int i = 0; i < 8; i++) h1[i] = h2[i] = (uint32_t)(step * 0x01000193u + (unsigned)i);
        for (size_t off = 0; off < nblocks; off += step) {
            size_t n = step < nblocks - off ? step : nblocks - off;
            qf_sha256_blocks_portable(h1, b + off * 64, n);
            qf_sha256_blocks_ni(h2, b + off * 64, n);
        }
        CHECK_MSG(memcmp(h1, h2, sizeof h1) == 0, "SHA-NI blocks differ from portable (step %zu)",
                  step);
    }
    free(b);
}

static void test_sha256(const cJSON *ref, const char *dir) {
    static const size_t odd[] = {1, 0, 63, 2, 64, 3, 65, 0, 5, 127, 7, 128, 11, 55, 56, 13};
    static const size_t ones[] = {1};
    const cJSON *cases = jget(jget(ref, "sha256"), "cases");
    CHECK(cJSON_GetArraySize(cases) >= 9);
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        size_t n = (size_t)jnum(c, "len");
        const char *want = jstr(c, "sha256");
        uint8_t *b = sha_bytes(n);
        char hex[65], what[64];
        snprintf(what, sizeof what, "sha256 of %zu bytes", n);
        qf_sha256_hex(b, n, hex);
        CHECK_DIGEST(hex, want, what);
        sha_stream(b, n, odd, sizeof odd / sizeof odd[0], hex);
        CHECK_DIGEST(hex, want, what);
        sha_stream(b, n, ones, 1, hex);
        CHECK_DIGEST(hex, want, what);
        /* every two-way split of the short ones, with an empty (NULL) update between */
        for (size_t k = 0; n <= 1000 && k <= n; k++) {
            qf_sha256 s;
            uint8_t d[32];
            qf_sha256_init(&s);
            qf_sha256_update(&s, b, k);
            qf_sha256_update(&s, NULL, 0);
            qf_sha256_update(&s, b + k, n - k);
            qf_sha256_final(&s, d);
            qf_sha256_to_hex(d, hex);
            CHECK_MSG(strcmp(hex, want) == 0, "%s split at %zu", what, k);
        }

        /* the same bytes as a file */
        char path[4096];
        snprintf(path, sizeof path, "%s/sha_%zu.bin", dir, n);
        CHECK_OK(qf_file_write_atomic(path, b, n, 0));
        CHECK_OK(qf_sha256_file(path, hex));
        CHECK_DIGEST(hex, want, path);
        unlink(path);
        free(b);
    }
    char hex[65], path[4096];
    snprintf(path, sizeof path, "%s/missing.bin", dir);
    CHECK_FAILS(qf_sha256_file(path, hex), QF_STATUS_IO, path);
}

/* ---- file I/O ------------------------------------------------------------------------ */

static void write_plain(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f && fwrite(data, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

/* Bytes of a file read with stdio (independent of core/fileio.c); -1 length if absent. */
static uint8_t *read_plain(const char *path, long *len) {
    *len = -1;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = xmalloc((size_t)*len);
    if (fread(b, 1, (size_t)*len, f) != (size_t)*len) *len = -2;
    fclose(f);
    return b;
}

static int file_equals(const char *path, const void *data, size_t n) {
    long len;
    uint8_t *b = read_plain(path, &len);
    int eq = len == (long)n && (n == 0 || memcmp(b, data, n) == 0);
    free(b);
    return eq;
}

/* Number of entries in dir besides . and ..; names them on stderr when not `want`. */
static int dir_entries(const char *dir, int want) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (n != want) {
        rewinddir(d);
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                fprintf(stderr, "  %s contains %s\n", dir, e->d_name);
    }
    closedir(d);
    return n;
}

/* Removes dir and the files a failed check may have left in it. */
static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) unlink(path);
    }
    if (d) closedir(d);
    CHECK_MSG(rmdir(dir) == 0, "cannot remove %s: %s", dir, strerror(errno));
}

static void test_atomic(const char *dir) {
    char path[4096], sub[4096];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    qf_atomic_file f;

    /* refuses an existing path without overwrite, leaving it untouched */
    write_plain(path, "original", 8);
    CHECK_FAILS(qf_atomic_open(path, 0, &f), QF_STATUS_IO, path);
    qf_atomic_abort(&f);
    CHECK_FAILS(qf_file_write_atomic(path, "new", 3, 0), QF_STATUS_IO, "already exists");
    CHECK(file_equals(path, "original", 8));
    CHECK(dir_entries(dir, 1) == 1);

    /* abort: neither the temp file nor the final file remains */
    CHECK(unlink(path) == 0);
    CHECK_OK(qf_atomic_open(path, 0, &f));
    CHECK(f.tmp_path && strncmp(f.tmp_path, path, strlen(path)) == 0);
    CHECK(qf_path_exists(f.tmp_path));
    CHECK_OK(qf_atomic_write(&f, "partial", 7));
    CHECK(!qf_path_exists(path));
    qf_atomic_abort(&f);
    CHECK(f.tmp_path == NULL && f.final_path == NULL && f.fd == -1);
    qf_atomic_abort(&f); /* twice is harmless */
    CHECK(!qf_path_exists(path));
    CHECK(dir_entries(dir, 0) == 0);

    /* commit: exactly the bytes written, with pwrite at offsets and a hole */
    enum { BIG = 3 << 20, BIG_AT = 1000 };
    uint8_t *big = sha_bytes(BIG);
    uint8_t *want = calloc(BIG_AT + BIG, 1);
    CHECK_OK(qf_atomic_open(path, 0, &f));
    CHECK_OK(qf_atomic_write(&f, "hello", 5));
    CHECK_OK(qf_atomic_pwrite(&f, "xyz", 3, 100));
    CHECK_OK(qf_atomic_pwrite(&f, "LL", 2, 2));
    CHECK_OK(qf_atomic_write(&f, "!", 1)); /* write continues after "hello" */
    CHECK_OK(qf_atomic_pwrite(&f, big, BIG, BIG_AT));
    CHECK_OK(qf_atomic_pwrite(&f, "", 0, 5000000)); /* nothing written, no extension */
    CHECK(!qf_path_exists(path));
    CHECK_OK(qf_atomic_commit(&f));
    CHECK(f.tmp_path == NULL && f.final_path == NULL);
    memcpy(want, "heLLo!", 6);
    memcpy(want + 100, "xyz", 3);
    memcpy(want + BIG_AT, big, BIG);
    CHECK(file_equals(path, want, BIG_AT + BIG));
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0444) == 0444);
    qf_atomic_abort(&f); /* after commit: must not touch the committed file */
    CHECK(file_equals(path, want, BIG_AT + BIG));
    CHECK(dir_entries(dir, 1) == 1);
    free(big);
    free(want);

    /* overwrite=1 replaces; empty files */
    CHECK_OK(qf_file_write_atomic(path, "second", 6, 1));
    CHECK(file_equals(path, "second", 6));
    CHECK_OK(qf_file_write_atomic(path, NULL, 0, 1));
    CHECK(file_equals(path, "", 0));
    CHECK(dir_entries(dir, 1) == 1);
    CHECK(unlink(path) == 0);

    /* a missing directory: error names the path */
    snprintf(sub, sizeof sub, "%s/no/such/dir/out.bin", dir);
    CHECK_FAILS(qf_atomic_open(sub, 1, &f), QF_STATUS_IO, sub);
    qf_atomic_abort(&f);
    memset(&f, 0, sizeof f); /* a zeroed struct: abort must not close fd 0 */
    int fd0_open = fcntl(0, F_GETFD) != -1;
    qf_atomic_abort(&f);
    CHECK((fcntl(0, F_GETFD) != -1) == fd0_open);
    CHECK(dir_entries(dir, 0) == 0);
}

static void test_read_map(const char *dir) {
    char path[4096], missing[4096];
    snprintf(path, sizeof path, "%s/data.bin", dir);
    snprintf(missing, sizeof missing, "%s/missing.bin", dir);
    char *buf;
    size_t len;

    /* size limits: a file of exactly max_bytes is read, one byte more is refused */
    static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 8192, 10000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *b = sha_bytes(n);
        write_plain(path, b, n);
        static const size_t slack[] = {0, 1, 1000000};
        for (size_t k = 0; k < 3; k++) {
            buf = NULL;
            len = 7;
            qf_status st = qf_file_read_all(path, n + slack[k], &buf, &len);
            CHECK_MSG(st == QF_STATUS_OK && len == n && buf && memcmp(buf, b, n) == 0 &&
                          buf[n] == '\0',
                      "read_all of %zu bytes with limit %zu: %s %s", n, n + slack[k],
                      qf_status_name(st), qf_error_message());
            free(buf);
        }
        static const size_t limits[] = {0, 1, 99, 4095, 4096, 8191};
        for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
            if (limits[k] >= n) continue;
            buf = (char *)"untouched";
            qf_error_clear();
            qf_status st = qf_file_read_all(path, limits[k], &buf, &len);
            CHECK_MSG(st != QF_STATUS_OK && strstr(qf_error_message(), "limit") &&
                          strstr(qf_error_message(), path) && buf == NULL,
                      "read_all of %zu bytes with limit %zu: %s \"%s\"", n, limits[k],
                      qf_status_name(st), qf_error_message());
            if (st == QF_STATUS_OK) free(buf);
        }
        free(b);
    }
    CHECK_FAILS(qf_file_read_all(missing, 100, &buf, &len), QF_STATUS_IO, missing);
    CHECK(buf == NULL);
    CHECK_OK(qf_file_read_all(path, 20000, &buf, NULL)); /* out_len may be NULL */
    free(buf);

    /* mapping */
    qf_mapped_file m;
    uint8_t *b = sha_bytes(10000);
    CHECK_OK(qf_file_map(path, &m));
    CHECK(m.size == 10000 && m.data && memcmp(m.data, b, 10000) == 0);
    qf_file_unmap(&m);
    CHECK(m.data == NULL && m.size == 0);
    qf_file_unmap(&m);
    qf_file_unmap(NULL);
    free(b);

    write_plain(path, "", 0);
    m.size = 99;
    CHECK_OK(qf_file_map(path, &m));
    CHECK(m.size == 0 && m.data == NULL);
    qf_file_unmap(&m);
    CHECK_FAILS(qf_file_map(missing, &m), QF_STATUS_IO, missing);
    CHECK_FAILS(qf_file_map(dir, &m), QF_STATUS_IO, "not a regular file");

    /* existence */
    CHECK(qf_path_exists(path) && !qf_path_is_dir(path));
    CHECK(qf_path_exists(dir) && qf_path_is_dir(dir));
    CHECK(!qf_path_exists(missing) && !qf_path_is_dir(missing));
    char link[4096];
    snprintf(link, sizeof link, "%s/dangling", dir);
    CHECK(symlink(missing, link) == 0);
    CHECK(qf_path_exists(link)); /* so qf_atomic_open will not replace it */
    qf_atomic_file f;
    CHECK_FAILS(qf_atomic_open(link, 0, &f), QF_STATUS_IO, "already exists");
    qf_atomic_abort(&f);
    CHECK(unlink(link) == 0);
    CHECK(unlink(path) == 0);
    CHECK(dir_entries(dir, 0) == 0);

    /* basename (what artifacts record of a path), as POSIX basename(3) names it */
    const char *cases[][2] = {{"a/b/c.txt", "c.txt"}, {"c.txt", "c.txt"}, {"/x/dir/", "dir"},
                              {"dir//", "dir"},       {"/", "/"},          {"", ""}};
    char name[8];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qf_path_basename(cases[i][0], name, sizeof name);
        CHECK_MSG(strcmp(name, cases[i][1]) == 0, "'%s' -> '%s'", cases[i][0], name);
    }
    qf_path_basename("/long/abcdefghij", name, sizeof name); /* truncated to 7 bytes */
    CHECK(strcmp(name, "abcdefg") == 0);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    char dir[2048];
    int len = snprintf(dir, sizeof dir, "%s/qf_test_core.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (len < 0 || (size_t)len >= sizeof dir || !mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
        return 2;
    }

    char *text = NULL;
    cJSON *ref = NULL;
    CHECK_OK(qf_file_read_all(QF_FIXTURES_DIR "/core/dtype.json", 1 << 20, &text, NULL));
    if (text) ref = cJSON_Parse(text);
    CHECK_MSG(ref != NULL, "cannot parse %s", QF_FIXTURES_DIR "/core/dtype.json");
    free(text);

    test_status();
    test_dtype_table();
    test_nbytes();
    test_read_map(dir);
    test_atomic(dir);
    if (ref) {
        qf_sha256_use_ni(0); /* the portable block function */
        test_sha256(ref, dir);
        qf_sha256_use_ni(1);
        if (qf_sha256_use_ni(1)) {
            test_sha256(ref, dir); /* the SHA-NI one */
            test_sha256_ni_blocks();
        } else {
            fprintf(stderr, "note: this CPU has no SHA-NI; only the portable SHA-256 ran\n");
        }
        test_dtype_conversions(ref);
    }
    cJSON_Delete(ref);

    CHECK(dir_entries(dir, 0) == 0); /* nothing left behind, temp files included */
    remove_dir(dir);
    TEST_END();
}
