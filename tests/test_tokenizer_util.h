/* Runs one tokenizer conformance fixture (tests/fixtures/tokenizer_conformance/NAME.json,
 * made by tests/fixtures/scripts/make_tokenizer_conformance.py with the HF `tokenizers`
 * library): loads the tokenizer it names (shared/, the model cache, a patched shared
 * file, or inline JSON), checks vocab size and BOS/EOS ids, the ids and the decoded text
 * of whole files from shared/data (count + SHA-256, per-4096-id block hashes to say where
 * a difference starts) and of every adversarial case. */
#ifndef QF_TEST_TOKENIZER_UTIL_H
#define QF_TEST_TOKENIZER_UTIL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/fileio.h"
#include "core/sha256.h"
#include "runtime/tokenizer.h"
#include "test.h"

#define QF_TT_MAX_JSON ((size_t)64 << 20)

static cJSON *qf_tt_read_json(const char *path) {
    char *text;
    size_t len;
    if (qf_file_read_all(path, QF_TT_MAX_JSON, &text, &len) != QF_STATUS_OK) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    return j;
}

static const char *qf_tt_str(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void qf_tt_hash_ids(const int32_t *ids, size_t n, char hex[65]) {
    /* int32 little-endian, as the fixture script hashes them */
    qf_sha256 s;
    qf_sha256_init(&s);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
        qf_sha256_update(&s, b, 4);
    }
    uint8_t d[32];
    qf_sha256_final(&s, d);
    qf_sha256_to_hex(d, hex);
}

/* Prints up to 60 bytes of s with escapes, for failure messages. */
static void qf_tt_preview(const char *s, size_t len) {
    fputc('"', stderr);
    for (size_t i = 0; i < len && i < 60; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stderr);
        else if (c < 0x20 || c == 0x7F)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fputs(len > 60 ? "\"..." : "\"", stderr);
}

/* Compares ids with the fixture's list or {count, sha256}; prints the first difference. */
static int qf_tt_ids_match(const cJSON *want, const int32_t *ids, size_t n, const char *what) {
    if (cJSON_IsObject(want)) {
        char hex[65];
        qf_tt_hash_ids(ids, n, hex);
        const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(want, "count");
        const char *sha = qf_tt_str(want, "sha256");
        if (cJSON_IsNumber(cnt) && (size_t)cnt->valuedouble == n && sha && strcmp(sha, hex) == 0)
            return 1;
        fprintf(stderr, "  %s: %zu ids (sha256 %.16s...), expected %.0f ids (sha256 %.16s...)\n",
                what, n, hex, cJSON_IsNumber(cnt) ? cnt->valuedouble : -1.0, sha ? sha : "?");
        return 0;
    }
    size_t m = (size_t)cJSON_GetArraySize(want), i = 0;
    const cJSON *it = want ? want->child : NULL;
    while (i < n && i < m && it && (int32_t)it->valuedouble == ids[i]) i++, it = it->next;
    if (i == n && i == m) return 1;
    fprintf(stderr, "  %s: first difference at id %zu of %zu (expected %zu): ours", what, i, n, m);
    for (size_t k = i; k < n && k < i + 6; k++) fprintf(stderr, " %d", ids[k]);
    fprintf(stderr, " | expected");
    for (size_t k = 0; it && k < 6; k++, it = it->next)
        fprintf(stderr, " %d", (int)it->valuedouble);
    fputc('\n', stderr);
    return 0;
}

/* Builds the text of a case into *out (malloc'd). */
static int qf_tt_case_text(const cJSON *c, char **out, size_t *len) {
    const char *text = qf_tt_str(c, "text"), *hex = qf_tt_str(c, "text_hex");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(c, "parts");
    size_t cap = 16, n = 0;
    if (text) cap += strlen(text);
    if (hex) cap += strlen(hex) / 2;
    for (const cJSON *p = parts ? parts->child : NULL; p; p = p->next)
        cap += strlen(p->child->valuestring) * (size_t)p->child->next->valuedouble;
    char *buf = malloc(cap);
    if (!buf) return 0;
    if (text) { /* texts holding U+0000 come as text_hex: cJSON strings end at NUL */
        n = strlen(text);
        memcpy(buf, text, n);
    } else if (hex) {
        for (size_t i = 0; hex[2 * i] && hex[2 * i + 1]; i++) {
            unsigned v;
            sscanf(hex + 2 * i, "%2x", &v);
            buf[n++] = (char)v;
        }
    } else {
        for (const cJSON *p = parts ? parts->child : NULL; p; p = p->next) {
            const char *s = p->child->valuestring;
            size_t sl = strlen(s);
            for (int k = 0; k < (int)p->child->next->valuedouble; k++)
                memcpy(buf + n, s, sl), n += sl;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 1;
}

/* The decode of a case: the fixture's "decoded" (string or {sha256}), else the text. */
static int qf_tt_decoded_match(const cJSON *c, const char *text, size_t len, const char *got,
                               size_t got_len) {
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(c, "decoded");
    const char *repaired = qf_tt_str(c, "repaired");
    if (cJSON_IsObject(dec)) {
        char hex[65];
        qf_sha256_hex(got, got_len, hex);
        return strcmp(hex, qf_tt_str(dec, "sha256")) == 0;
    }
    const char *want = cJSON_IsString(dec) ? dec->valuestring : repaired ? repaired : text;
    size_t wlen = cJSON_IsString(dec) || repaired ? strlen(want) : len;
    return wlen == got_len && memcmp(want, got, wlen) == 0;
}

/* Applies a variant's patch to its base tokenizer.json and loads the result. */
static qf_status qf_tt_load_patched(const char *name, const char *base_dir, const cJSON *patch,
                                    qf_tokenizer **out) {
    const char *inline_json = qf_tt_str(patch, "tokenizer_json");
    const char *config = qf_tt_str(patch, "config");
    if (inline_json)
        return qf_tokenizer_load_json(inline_json, strlen(inline_json), config, name, out);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", base_dir);
    cJSON *root = qf_tt_read_json(path);
    if (!root) return qf_error_set(QF_STATUS_IO, "cannot read %s", path);
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(patch, "set");
    for (const cJSON *it = set ? set->child : NULL; it; it = it->next) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, it->string);
        cJSON_AddItemToObject(root, it->string, cJSON_Duplicate(it, 1));
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(patch, "append_added_tokens");
    if (extra) {
        double next = -1;
        const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "model"), "vocab");
        cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
        for (const cJSON *v = vocab->child; v; v = v->next)
            next = v->valuedouble > next ? v->valuedouble : next;
        for (const cJSON *a = added->child; a; a = a->next) {
            double id = cJSON_GetObjectItemCaseSensitive(a, "id")->valuedouble;
            next = id > next ? id : next;
        }
        for (const cJSON *t = extra->child; t; t = t->next) {
            cJSON *copy = cJSON_Duplicate(t, 1);
            cJSON_AddNumberToObject(copy, "id", ++next);
            cJSON_AddItemToArray(added, copy);
        }
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    qf_status st = qf_tokenizer_load_json(json, strlen(json), config, name, out);
    free(json);
    return st;
}

/* Checks one whole text file of the fixture. */
static void qf_tt_check_text(const char *fx, const qf_tokenizer *t, const cJSON *e, int block_ids) {
    const char *rel = qf_tt_str(e, "file");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", QF_SHARED_DIR, rel);
    char *text;
    size_t len;
    CHECK_OK(qf_file_read_all(path, (size_t)1 << 30, &text, &len));
    if (qf_test_failures) return;
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(qf_tokenizer_encode(t, text, len, 0, &ids, &n));
    char hex[65];
    qf_tt_hash_ids(ids, n, hex);
    size_t want_n = (size_t)cJSON_GetObjectItemCaseSensitive(e, "count")->valuedouble;
    int same = n == want_n && strcmp(hex, qf_tt_str(e, "sha256")) == 0;
    CHECK_MSG(same, "%s: %s: %zu ids, expected %zu", fx, rel, n, want_n);
    if (!same) {
        const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(e, "blocks");
        size_t b = 0;
        for (const cJSON *it = blocks->child; it; it = it->next, b++) {
            size_t start = b * (size_t)block_ids;
            size_t cnt =
                start < n ? (n - start < (size_t)block_ids ? n - start : (size_t)block_ids) : 0;
            qf_tt_hash_ids(ids + (start < n ? start : 0), cnt, hex);
            if (strncmp(hex, it->valuestring, 16) != 0) {
                char *piece = NULL;
                size_t plen = 0;
                if (cnt && qf_tokenizer_decode(t, ids + start, cnt < 8 ? cnt : 8, &piece, &plen) ==
                               QF_STATUS_OK) {
                    fprintf(stderr, "  first differing block: ids [%zu, %zu), which starts with ",
                            start, start + (size_t)block_ids);
                    qf_tt_preview(piece, plen);
                    fputc('\n', stderr);
                }
                free(piece);
                break;
            }
        }
    }
    char *dec = NULL;
    size_t dlen = 0;
    CHECK_OK(qf_tokenizer_decode(t, ids, n, &dec, &dlen));
    if (dec) {
        qf_sha256_hex(dec, dlen, hex);
        CHECK_MSG(strcmp(hex, qf_tt_str(e, "decoded_sha256")) == 0,
                  "%s: %s: decode differs from HF's", fx, rel);
        int rt = dlen == len && memcmp(dec, text, len) == 0;
        CHECK_MSG(rt == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "roundtrip")),
                  "%s: %s: round trip %d, HF %d", fx, rel, rt, !rt);
    }
    free(dec);
    free(ids);
    free(text);
}

static void qf_tt_check_case(const char *fx, const qf_tokenizer *t, const cJSON *c, size_t index) {
    char *text;
    size_t len;
    if (!qf_tt_case_text(c, &text, &len)) return;
    int32_t *ids = NULL;
    size_t n = 0;
    char what[64];
    CHECK_OK(qf_tokenizer_encode(t, text, len, 0, &ids, &n));
    snprintf(what, sizeof what, "%s case %zu", fx, index);
    int ok = ids && qf_tt_ids_match(cJSON_GetObjectItemCaseSensitive(c, "ids"), ids, n, what);
    const cJSON *want_sp = cJSON_GetObjectItemCaseSensitive(c, "ids_special");
    int32_t *sp = NULL;
    size_t nsp = 0;
    CHECK_OK(qf_tokenizer_encode(t, text, len, 1, &sp, &nsp));
    snprintf(what, sizeof what, "%s case %zu (add_special)", fx, index);
    ok = ok && sp &&
         qf_tt_ids_match(want_sp ? want_sp : cJSON_GetObjectItemCaseSensitive(c, "ids"), sp, nsp,
                         what);
    char *dec = NULL;
    size_t dlen = 0;
    if (ids) CHECK_OK(qf_tokenizer_decode(t, ids, n, &dec, &dlen));
    int dok = dec && qf_tt_decoded_match(c, text, len, dec, dlen);
    CHECK_MSG(ok && dok, "%s case %zu %s", fx, index, ok ? "decodes differently" : "has other ids");
    if (!ok || !dok) {
        fputs("  text ", stderr);
        qf_tt_preview(text, len);
        if (!dok && dec) {
            fputs(" decoded ", stderr);
            qf_tt_preview(dec, dlen);
        }
        fputc('\n', stderr);
    }
    free(dec);
    free(sp);
    free(ids);
    free(text);
}

/* Runs fixture NAME; returns 77 when its source (the model cache) is missing. */
static int qf_tt_run(const char *name) {
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/tokenizer_conformance/%s.json", QF_FIXTURES_DIR, name);
    cJSON *fx = qf_tt_read_json(path);
    CHECK_MSG(fx != NULL, "cannot read fixture %s", path);
    if (!fx) return 1;
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(fx, "source");
    const char *shared = qf_tt_str(src, "shared"), *cache = qf_tt_str(src, "cache");
    if (shared)
        snprintf(dir, sizeof dir, "%s/%s", QF_SHARED_DIR, shared);
    else if (cache)
        snprintf(dir, sizeof dir, "%s/%s", QF_CACHE_DIR, cache);
    else
        dir[0] = '\0';
    if (cache && !qf_path_is_dir(dir)) {
        cJSON_Delete(fx);
        printf("SKIP %s: %s missing (scripts/get-model.sh)\n", name, dir);
        return 77;
    }
    const cJSON *sums = cJSON_GetObjectItemCaseSensitive(src, "sha256");
    for (const cJSON *f = sums ? sums->child : NULL; f; f = f->next) {
        char fp[4096 + 64], hex[65] = "";
        snprintf(fp, sizeof fp, "%s/%s", dir, f->string);
        CHECK_OK(qf_sha256_file(fp, hex));
        CHECK_MSG(strcmp(hex, f->valuestring) == 0,
                  "%s: %s is not the file the fixture was made from (regenerate with "
                  "make_tokenizer_conformance.py)",
                  name, fp);
    }
    qf_tokenizer *t = NULL;
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(fx, "patch");
    if (patch)
        CHECK_OK(qf_tt_load_patched(name, dir, patch, &t));
    else
        CHECK_OK(qf_tokenizer_load(dir, &t));
    if (!t) {
        cJSON_Delete(fx);
        return 1;
    }
    double vs = cJSON_GetObjectItemCaseSensitive(fx, "vocab_size")->valuedouble;
    CHECK_MSG(qf_tokenizer_vocab_size(t) == (int64_t)vs, "%s: vocab size %lld, expected %.0f", name,
              (long long)qf_tokenizer_vocab_size(t), vs);
    int bos = (int)cJSON_GetObjectItemCaseSensitive(fx, "bos_id")->valuedouble;
    int eos = (int)cJSON_GetObjectItemCaseSensitive(fx, "eos_id")->valuedouble;
    CHECK_MSG(qf_tokenizer_bos_id(t) == bos, "%s: bos %d, expected %d", name,
              qf_tokenizer_bos_id(t), bos);
    CHECK_MSG(qf_tokenizer_eos_id(t) == eos, "%s: eos %d, expected %d", name,
              qf_tokenizer_eos_id(t), eos);
    int block = (int)cJSON_GetObjectItemCaseSensitive(fx, "block_ids")->valuedouble;
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(fx, "texts");
    for (const cJSON *e = texts ? texts->child : NULL; e; e = e->next)
        qf_tt_check_text(name, t, e, block);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(fx, "cases");
    size_t i = 0;
    for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next)
        qf_tt_check_case(name, t, c, i++);
    printf("%s: %d texts, %zu cases\n", name, cJSON_GetArraySize(texts), i);
    qf_tokenizer_free(t);
    cJSON_Delete(fx);
    return 0;
}

#endif
