/* Helpers shared by the GGUF tests: loading the JSON fixtures written by
 * tests/fixtures/scripts/make_gguf_fixtures.py and comparing floats bit for bit
 * (the fixtures store floats as the hex of their IEEE-754 bits). */
#ifndef QF_TEST_GGUF_UTIL_H
#define QF_TEST_GGUF_UTIL_H

#include <cJSON.h>
#include <stdint.h>

#include "core/fileio.h"
#include "tests/test.h"

#define QF_TEST_SMOLLM2_GGUF QF_CACHE_DIR "/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"

static inline cJSON *qf_test_load_json(const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (qf_file_read_all(path, 16u << 20, &text, &len) != QF_STATUS_OK) {
        fprintf(stderr, "cannot read fixture %s: %s\n", path, qf_error_message());
        exit(1);
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) {
        fprintf(stderr, "fixture %s is not valid JSON\n", path);
        exit(1);
    }
    return j;
}

static inline int qf_test_hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes hex into bytes; returns the byte count (exits on malformed input). */
static inline size_t qf_test_unhex(const char *hex, uint8_t **out) {
    size_t n = strlen(hex);
    if (n % 2) {
        fprintf(stderr, "odd-length hex string in a fixture\n");
        exit(1);
    }
    uint8_t *b = malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = qf_test_hexval(hex[2 * i]), lo = qf_test_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "bad hex digit in a fixture\n");
            exit(1);
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = b;
    return n / 2;
}

/* Decodes 8-hex-digit big-endian float bit patterns; returns the count. */
static inline size_t qf_test_unhex_f32(const char *hex, float **out) {
    uint8_t *b;
    size_t n = qf_test_unhex(hex, &b) / 4;
    float *f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
                     (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
        memcpy(&f[i], &u, 4);
    }
    free(b);
    *out = f;
    return n;
}

/* Counts values whose bits differ (0 ulp tolerance); reports the first few. */
static inline size_t qf_test_bits_diff(const char *what, const float *got, const float *want,
                                       size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &got[i], 4);
        memcpy(&b, &want[i], 4);
        if (a != b && bad++ < 5)
            fprintf(stderr, "%s[%zu]: got %.9g (0x%08x), want %.9g (0x%08x)\n", what, i, got[i], a,
                    want[i], b);
    }
    return bad;
}

static inline const char *qf_test_json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static inline double qf_test_json_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

#endif
