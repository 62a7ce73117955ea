/* calib-data/: hostile or unusable calibration inputs fail with a status and a message
 * naming the file (and the line or byte offset): invalid UTF-8 (overlong, surrogate,
 * truncated, stray continuation), NUL bytes, empty and missing files, a directory,
 * JSON lines that are not objects, lack "text", have a non-string "text" or trailing
 * garbage, a corpus shorter than one window, and bad options. */
#include <sys/stat.h>
#include <unistd.h>

#include "calib-data/calib.h"
#include "test.h"

static char dir[] = "/tmp/qf_test_calib_XXXXXX";

/* Writes bytes to dir/name and returns the path (static buffer, one at a time). */
static const char *put(const char *name, const char *bytes, size_t n) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(bytes, 1, n, f) == n);
    if (f) fclose(f);
    return path;
}

static qf_status load1(const char *path, const qf_tokenizer *tok, int64_t seqlen) {
    const char *paths[] = {path};
    qf_calib_options opt = {.n_samples = 2, .seqlen = seqlen, .seed = 0};
    qf_calib c;
    qf_status st = qf_calib_load(paths, 1, tok, &opt, &c);
    if (st != QF_STATUS_OK) CHECK(c.tokens == NULL && c.source == NULL); /* zeroed */
    qf_calib_free(&c);
    return st;
}

#define BAD(name, bytes, code, needle)                                                 \
    do {                                                                               \
        const char *p_ = put(name, bytes, sizeof bytes - 1);                           \
        CHECK_FAILS(load1(p_, tok, 1), code, needle);                                  \
        CHECK_MSG(strstr(qf_error_message(), name) != NULL, "no file name in \"%s\"",  \
                  qf_error_message());                                                 \
    } while (0)

int main(void) {
    CHECK(mkdtemp(dir) != NULL);
    qf_tokenizer *tok;
    CHECK_OK(qf_tokenizer_load(QF_SHARED_DIR "/tokenizers/llama3", &tok));

    BAD("overlong.txt", "ok \xC0\x80", QF_STATUS_FORMAT, "invalid UTF-8 at byte offset 3");
    BAD("surrogate.txt", "ab\xED\xA0\x80", QF_STATUS_FORMAT, "invalid UTF-8 at byte offset 2");
    BAD("truncated.txt", "abcd\xE2\x82", QF_STATUS_FORMAT, "invalid UTF-8 at byte offset 4");
    BAD("stray.txt", "\x80", QF_STATUS_FORMAT, "invalid UTF-8 at byte offset 0");
    BAD("above.txt", "x\xF4\x90\x80\x80", QF_STATUS_FORMAT, "invalid UTF-8 at byte offset 1");
    BAD("nul.txt", "a\0b", QF_STATUS_FORMAT, "NUL byte at byte offset 1");
    BAD("bad.jsonl", "{\"text\": \"a\"}\n\xFF\n", QF_STATUS_FORMAT, "byte offset 14");
    BAD("empty.txt", "", QF_STATUS_FORMAT, "is empty");
    BAD("notext.jsonl", "{\"text\": \"a\"}\n\n{\"txt\": \"b\"}\n", QF_STATUS_FORMAT,
        "line 3: no \"text\" field");
    BAD("number.jsonl", "{\"text\": 5}\n", QF_STATUS_FORMAT, "line 1: \"text\" is not a string");
    BAD("array.json", "[\"text\"]\n", QF_STATUS_FORMAT, "line 1: not a JSON object");
    BAD("garbage.ndjson", "{\"text\": \"a\"} x\n", QF_STATUS_FORMAT, "line 1: not one JSON value");
    BAD("broken.JSONL", "{\"text\": \"a\"\n", QF_STATUS_FORMAT, "line 1: not one JSON value");
    BAD("blank.jsonl", " \n\n", QF_STATUS_FORMAT, "no JSON line with a non-empty \"text\"");
    BAD("allempty.jsonl", "{\"text\": \"\"}\n", QF_STATUS_FORMAT, "no JSON line");

    /* too short for one window: says how many tokens and what to change */
    const char *p = put("short.txt", "Just a few words.", 17);
    CHECK_FAILS(load1(p, tok, 4096), QF_STATUS_INVALID_ARG, "has 5 tokens");
    CHECK(strstr(qf_error_message(), "--calib-seqlen") && strstr(qf_error_message(), "short.txt"));
    /* a plain file that merely looks like JSON is text */
    p = put("looks.txt", "{\"no\": 1}\n", 10);
    CHECK_OK(load1(p, tok, 1));

    CHECK_FAILS(load1("/nonexistent/qf_missing.txt", tok, 1), QF_STATUS_IO, "qf_missing.txt");
    CHECK_FAILS(load1(dir, tok, 1), QF_STATUS_IO, "qf_test_calib_");

    /* the second of two files is bad: the message names it */
    const char *good = QF_FIXTURES_DIR "/calib/plain.txt";
    const char *two[] = {good, put("later.txt", "\xFE", 1)};
    qf_calib_options opt = {.n_samples = 1, .seqlen = 1, .seed = 0};
    qf_calib c;
    CHECK_FAILS(qf_calib_load(two, 2, tok, &opt, &c), QF_STATUS_FORMAT, "later.txt");

    /* options */
    const char *one[] = {good};
    opt.n_samples = 0;
    CHECK_FAILS(qf_calib_load(one, 1, tok, &opt, &c), QF_STATUS_INVALID_ARG, "n_samples");
    opt = (qf_calib_options){.n_samples = 1, .seqlen = -5};
    CHECK_FAILS(qf_calib_load(one, 1, tok, &opt, &c), QF_STATUS_INVALID_ARG, "seqlen");
    opt = (qf_calib_options){.n_samples = INT64_MAX, .seqlen = 2};
    CHECK_FAILS(qf_calib_load(one, 1, tok, &opt, &c), QF_STATUS_INVALID_ARG, "limit");
    opt = (qf_calib_options){.n_samples = 1, .seqlen = 1};
    CHECK_FAILS(qf_calib_load(one, 1, NULL, &opt, &c), QF_STATUS_INVALID_ARG, "tokenizer");
    CHECK_FAILS(qf_calib_load(NULL, 1, tok, &opt, &c), QF_STATUS_INVALID_ARG, "paths");
    qf_calib_free(NULL);

    qf_tokenizer_free(tok);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    TEST_END();
}
