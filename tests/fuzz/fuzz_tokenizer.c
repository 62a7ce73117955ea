/* libFuzzer target for tokenizer.json (hostile content): the input up to its first NUL is
 * the tokenizer.json text, the rest (or a fixed sample) the text to encode.
 * qf_tokenizer_load_json must either fail with a message or give a tokenizer whose
 * encode gives only ids below its vocabulary size, with and without special tokens, and
 * whose decode takes those ids and every id of the input's bytes below that size.
 * Seeds: the inline tokenizers of tests/fixtures/tokenizer_conformance/tiny-{unk,fallback}
 * (written by HF tokenizers) and SmolLM2's tokenizer.json cut to its byte alphabet, 4
 * added tokens and 250 merges; each alone and with a text after a NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer.h"

static const char sample[] = "Hello world, 1234 caf\xc3\xa9 \xf0\x9f\x98\x80\n\n  tabs\there <s></s> "
                             "it's\xff bad utf-8";

static void encode_decode(const qf_tokenizer *t, const char *text, size_t len, int special) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (qf_tokenizer_encode(t, text, len, special, &ids, &n) != QF_STATUS_OK) return;
    const int64_t vocab = qf_tokenizer_vocab_size(t);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) abort(); /* an id the model has no row for */
    char *out = NULL;
    size_t out_len = 0;
    if (qf_tokenizer_decode(t, ids, n, &out, &out_len) == QF_STATUS_OK && strlen(out) > out_len)
        abort();
    free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    const uint8_t *nul = memchr(data, 0, size);
    const size_t json_len = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : sample;
    const size_t text_len = nul ? size - json_len - 1 : sizeof sample - 1;
    qf_tokenizer *t = NULL;
    if (qf_tokenizer_load_json((const char *)data, json_len, NULL, "fuzz", &t) != QF_STATUS_OK)
        return 0;
    encode_decode(t, text, text_len, 0);
    encode_decode(t, text, text_len, 1);
    /* the text's bytes as ids (those below the vocabulary size) */
    int32_t ids[256];
    size_t n = 0;
    const int64_t vocab = qf_tokenizer_vocab_size(t);
    for (size_t i = 0; i < text_len && n < 256; i++)
        if ((unsigned char)text[i] < vocab) ids[n++] = (unsigned char)text[i];
    char *out = NULL;
    size_t out_len = 0;
    if (qf_tokenizer_decode(t, ids, n, &out, &out_len) == QF_STATUS_OK) free(out);
    qf_tokenizer_free(t);
    return 0;
}
