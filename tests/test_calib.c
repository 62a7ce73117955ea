/* calib-data/: the embedded default corpus (decompresses, valid UTF-8, equals the
 * .txt files of calib-data/corpus joined in name order, at least QF_TEST_CORPUS_MIN bytes),
 * loading plain-text and JSON-lines files alone and mixed (SHA-256 and token ids against
 * tests/fixtures/calib/expected.json, made with hashlib and the HF `tokenizers` library
 * by tests/fixtures/scripts/make_calib_fixtures.py), and the window choice (every window
 * a slice of the reference ids, deterministic per seed, non-overlapping when the corpus
 * has enough tokens). */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "calib-data/calib.h"
#include "calib-data/corpus_data.h"
#include "calib-data/utf8_check.h"
#include "core/fileio.h"
#include "core/sha256.h"
#include "test.h"

#define CALIB_DIR QF_FIXTURES_DIR "/calib"
#define CORPUS_DIR QF_FIXTURES_DIR "/../../calib-data/corpus"
#define QF_TEST_CORPUS_MIN 200000 /* bytes: the corpus is "a few hundred KB" */

static cJSON *expected;

static const cJSON *jpath(const char *a, const char *b) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(expected, a);
    v = cJSON_GetObjectItemCaseSensitive(v, b);
    CHECK_MSG(v != NULL, "expected.json lacks %s.%s", a, b);
    return v;
}

static int64_t expected_count(const char *tok, const char *text) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(jpath("tokenizers", tok), text);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static void check_sha(const qf_calib *c, const char *text) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(jpath("texts", text), "sha256");
    char hex[65];
    qf_sha256_to_hex(c->sha256, hex);
    CHECK_MSG(cJSON_IsString(v) && strcmp(hex, v->valuestring) == 0, "%s: sha256 %s", text, hex);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The embedded text is exactly the current corpus files joined in byte-wise name order. */
static void test_default_corpus(void) {
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(qf_calib_default_text(&text, &len));
    CHECK(text && text[len] == '\0' && len == qf_calib_corpus_raw_size);
    CHECK(qf_calib_utf8_check((const uint8_t *)text, len) == len);

    char *names[4096];
    size_t n = 0;
    DIR *d = opendir(CORPUS_DIR);
    CHECK(d != NULL);
    for (struct dirent *e; d && (e = readdir(d)) && n < 4096;) {
        size_t k = strlen(e->d_name);
        if (k > 4 && strcmp(e->d_name + k - 4, ".txt") == 0) names[n++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    CHECK_MSG(n == qf_calib_corpus_n_files, "%zu corpus files, %zu embedded (rebuild?)", n,
              qf_calib_corpus_n_files);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *emb = i < qf_calib_corpus_n_files ? qf_calib_corpus_files[i] : "";
        CHECK_MSG(strcmp(names[i], emb) == 0, "file %zu: %s vs embedded %s", i, names[i], emb);
        char path[4400], *s = NULL;
        size_t sn = 0;
        snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, names[i]);
        CHECK_OK(qf_file_read_all(path, (size_t)1 << 26, &s, &sn));
        if (i) {
            CHECK(off + 2 <= len && memcmp(text + off, "\n\n", 2) == 0);
            off += 2;
        }
        CHECK_MSG(s && off + sn <= len && memcmp(text + off, s, sn) == 0,
                  "%s differs from the embedded corpus", names[i]);
        off += sn;
        free(s);
        free(names[i]);
    }
    CHECK(off == len);
    CHECK(qf_calib_corpus_files[qf_calib_corpus_n_files] == NULL);
    CHECK_MSG(len >= QF_TEST_CORPUS_MIN, "default corpus is %zu bytes, expected >= %d", len,
              QF_TEST_CORPUS_MIN);
    printf("default corpus: %zu files, %zu bytes, %zu bytes zstd\n", n, len,
           qf_calib_corpus_zst_size);
    free(text);
}

/* Every window equals ref[start .. start+seqlen) for some start; returns the starts. */
static void find_starts(const qf_calib *c, const int32_t *ref, int64_t n_ref, int64_t *starts) {
    for (int64_t w = 0; w < c->n_samples; w++) {
        const int32_t *win = c->tokens + w * c->seqlen;
        starts[w] = -1;
        for (int64_t s = 0; s + c->seqlen <= n_ref && starts[w] < 0; s++)
            if (memcmp(ref + s, win, (size_t)c->seqlen * sizeof *win) == 0) starts[w] = s;
        CHECK_MSG(starts[w] >= 0, "window %lld is not a slice of the reference ids",
                  (long long)w);
    }
}

static void test_mixed(const qf_tokenizer *tok, const char *tok_name) {
    const char *paths[] = {CALIB_DIR "/plain.txt", CALIB_DIR "/docs.jsonl"};
    const cJSON *ids_j = cJSON_GetObjectItemCaseSensitive(jpath("tokenizers", tok_name), "mixed_ids");
    int64_t n_ref = cJSON_GetArraySize(ids_j);
    int32_t *ref = malloc((size_t)n_ref * sizeof *ref);
    for (int64_t i = 0; i < n_ref; i++)
        ref[i] = (int32_t)cJSON_GetArrayItem(ids_j, (int)i)->valuedouble;

    /* enough tokens: non-overlapping windows */
    qf_calib_options opt = {.n_samples = 5, .seqlen = 64, .seed = 0};
    qf_calib c, c2;
    CHECK_OK(qf_calib_load(paths, 2, tok, &opt, &c));
    CHECK(c.corpus_tokens == n_ref && c.n_samples == 5 && c.seqlen == 64);
    CHECK(c.source && strcmp(c.source, "plain.txt, docs.jsonl") == 0);
    check_sha(&c, "mixed");
    int64_t starts[64];
    find_starts(&c, ref, n_ref, starts);
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            CHECK_MSG(llabs(starts[a] - starts[b]) >= 64, "%s: windows %d and %d overlap",
                      tok_name, a, b);

    /* same seed: same windows; another seed: others */
    CHECK_OK(qf_calib_load(paths, 2, tok, &opt, &c2));
    CHECK(memcmp(c.tokens, c2.tokens, 5 * 64 * sizeof(int32_t)) == 0);
    qf_calib_free(&c2);
    opt.seed = 12345;
    CHECK_OK(qf_calib_load(paths, 2, tok, &opt, &c2));
    CHECK(memcmp(c.tokens, c2.tokens, 5 * 64 * sizeof(int32_t)) != 0);
    qf_calib_free(&c2);
    qf_calib_free(&c);

    /* too few tokens for disjoint windows: overlapping draws, still slices */
    opt = (qf_calib_options){.n_samples = 40, .seqlen = 100, .seed = 7};
    CHECK_OK(qf_calib_load(paths, 2, tok, &opt, &c));
    find_starts(&c, ref, n_ref, starts);
    CHECK_OK(qf_calib_load(paths, 2, tok, &opt, &c2));
    CHECK(memcmp(c.tokens, c2.tokens, 40 * 100 * sizeof(int32_t)) == 0);
    qf_calib_free(&c2);
    qf_calib_free(&c);

    /* a window as long as the corpus */
    opt = (qf_calib_options){.n_samples = 2, .seqlen = n_ref, .seed = 3};
    CHECK_OK(qf_calib_load(paths, 2, tok, &opt, &c));
    CHECK(memcmp(c.tokens, ref, (size_t)n_ref * sizeof *ref) == 0);
    CHECK(memcmp(c.tokens + n_ref, ref, (size_t)n_ref * sizeof *ref) == 0);
    qf_calib_free(&c);
    free(ref);
}

static void test_single(const qf_tokenizer *tok, const char *tok_name, const char *file,
                        const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", CALIB_DIR, file);
    const char *paths[] = {path};
    qf_calib_options opt = {.n_samples = 3, .seqlen = 16, .seed = 99};
    qf_calib c;
    CHECK_OK(qf_calib_load(paths, 1, tok, &opt, &c));
    CHECK_MSG(c.corpus_tokens == expected_count(tok_name, text), "%s %s: %lld tokens", tok_name,
              file, (long long)c.corpus_tokens);
    CHECK(c.source && strcmp(c.source, file) == 0); // the name only, no directory
    check_sha(&c, text);
    qf_calib_free(&c);
}

static void test_default_load(const qf_tokenizer *tok) {
    char *text;
    size_t len;
    CHECK_OK(qf_calib_default_text(&text, &len));
    int32_t *ids = NULL;
    size_t n_ids = 0;
    CHECK_OK(qf_tokenizer_encode(tok, text, len, 0, &ids, &n_ids));
    qf_calib_options opt = {.n_samples = 4, .seqlen = 128, .seed = 1};
    qf_calib c;
    if (n_ids < 128) {
        CHECK_FAILS(qf_calib_load(NULL, 0, tok, &opt, &c), QF_STATUS_INVALID_ARG, "'default'");
    } else {
        CHECK_OK(qf_calib_load(NULL, 0, tok, &opt, &c));
        CHECK(c.source && strcmp(c.source, "default") == 0);
        CHECK(c.corpus_tokens == (int64_t)n_ids);
        uint8_t sha[32];
        qf_sha256 h;
        qf_sha256_init(&h);
        qf_sha256_update(&h, text, len);
        qf_sha256_final(&h, sha);
        CHECK(memcmp(sha, c.sha256, 32) == 0);
        int64_t starts[4];
        find_starts(&c, ids, (int64_t)n_ids, starts);
        printf("default corpus: %zu tokens (llama3)\n", n_ids);
        qf_calib_free(&c);
    }
    free(ids);
    free(text);
}

int main(void) {
    char *json;
    size_t len;
    CHECK_OK(qf_file_read_all(CALIB_DIR "/expected.json", (size_t)1 << 24, &json, &len));
    expected = cJSON_ParseWithLength(json, len);
    free(json);
    CHECK(expected != NULL);
    test_default_corpus();
    const char *names[] = {"llama3", "qwen3", "llama2"};
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tokenizers/%s", QF_SHARED_DIR, names[i]);
        qf_tokenizer *tok;
        CHECK_OK(qf_tokenizer_load(path, &tok));
        test_single(tok, names[i], "plain.txt", "plain");
        test_single(tok, names[i], "docs.jsonl", "docs");
        test_mixed(tok, names[i]);
        if (i == 0) test_default_load(tok);
        qf_tokenizer_free(tok);
    }
    cJSON_Delete(expected);
    TEST_END();
}
