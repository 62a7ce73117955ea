/* qf_calib_load: gathers the sources (the embedded corpus or user files) into one text,
 * hashes it, tokenizes it in one piece (the token stream is exactly the tokenization of
 * the hashed bytes; the tokenizer does several MB per second, so no per-document
 * shortcut is needed) and cuts the windows. */
#include <stdlib.h>
#include <string.h>

#include "calib-data/calib_internal.h"
#include "core/alloc.h"
#include "core/fileio.h"
#include "core/sha256.h"

qf_status qf_calib_text_add(qf_calib_text *t, const char *doc, size_t len) {
    size_t sep = t->n_docs ? strlen(QF_CALIB_DOC_SEPARATOR) : 0;
    QF_RETURN_IF(len > QF_CALIB_MAX_TEXT_BYTES - sep - t->len, QF_STATUS_NOMEM,
                 "calibration text: more than the limit of %zu bytes", QF_CALIB_MAX_TEXT_BYTES);
    size_t need = t->len + sep + len + 1;
    QF_FORWARD(qf_array_grow((void **)&t->data, &t->cap, need, 1, "calibration text"));
    memcpy(t->data + t->len, QF_CALIB_DOC_SEPARATOR, sep);
    memcpy(t->data + t->len + sep, doc, len);
    t->len += sep + len;
    t->data[t->len] = '\0';
    t->n_docs++;
    return QF_STATUS_OK;
}

void qf_calib_text_free(qf_calib_text *t) {
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* "default" or the files' names (no directories: the sha256 pins the bytes) joined with
 * ", " (malloc'd). */
static qf_status make_source(const char *const *paths, size_t n_paths, char **out) {
    const char *const deflt[] = {"default"};
    if (n_paths == 0) {
        paths = deflt;
        n_paths = 1;
    }
    size_t len = 1;
    for (size_t i = 0; i < n_paths; i++) len += strlen(paths[i]) + 3;
    char *s = malloc(len);
    QF_RETURN_IF(!s, QF_STATUS_NOMEM, "calibration: out of memory");
    s[0] = '\0';
    for (size_t i = 0; i < n_paths; i++) {
        if (i) strcat(s, ", ");
        qf_path_basename(paths[i], s + strlen(s), strlen(paths[i]) + 1);
    }
    *out = s;
    return QF_STATUS_OK;
}

static qf_status gather_text(const char *const *paths, size_t n_paths, qf_calib_text *t) {
    if (n_paths == 0) {
        char *s;
        size_t n;
        QF_FORWARD(qf_calib_default_text(&s, &n));
        t->data = s;
        t->len = n;
        t->cap = n + 1;
        t->n_docs = 1;
        return QF_STATUS_OK;
    }
    for (size_t i = 0; i < n_paths; i++) {
        QF_RETURN_IF(!paths[i], QF_STATUS_INVALID_ARG, "calibration: path %zu is NULL", i);
        QF_FORWARD(qf_calib_add_file(t, paths[i]));
    }
    return QF_STATUS_OK;
}

static qf_status check_args(const char *const *paths, size_t n_paths, const qf_calib_options *opt,
                            qf_calib *out) {
    QF_RETURN_IF(!out || !opt, QF_STATUS_INVALID_ARG, "qf_calib_load: NULL options or output");
    QF_RETURN_IF(n_paths && !paths, QF_STATUS_INVALID_ARG, "qf_calib_load: NULL paths");
    QF_RETURN_IF(opt->n_samples < 1 || opt->seqlen < 1, QF_STATUS_INVALID_ARG,
                 "calibration: n_samples (%lld) and seqlen (%lld) must be at least 1",
                 (long long)opt->n_samples, (long long)opt->seqlen);
    QF_RETURN_IF(opt->n_samples > QF_CALIB_MAX_SAMPLE_TOKENS / opt->seqlen, QF_STATUS_INVALID_ARG,
                 "calibration: %lld samples of %lld tokens exceed the limit of %lld tokens",
                 (long long)opt->n_samples, (long long)opt->seqlen,
                 (long long)QF_CALIB_MAX_SAMPLE_TOKENS);
    return QF_STATUS_OK;
}

/* Tokenizes t and fills out's tokens and corpus_tokens. */
static qf_status tokenize_and_pick(const qf_calib_text *t, const qf_tokenizer *tok,
                                   const qf_calib_options *opt, qf_calib *out) {
    int32_t *ids = NULL;
    size_t n_ids = 0;
    QF_FORWARD(qf_tokenizer_encode(tok, t->data, t->len, 0, &ids, &n_ids));
    out->corpus_tokens = (int64_t)n_ids;
    qf_status st = QF_STATUS_OK;
    if (out->corpus_tokens < opt->seqlen)
        st = qf_error_set(QF_STATUS_INVALID_ARG,
                          "calibration corpus '%s' has %lld tokens, fewer than one window of "
                          "%lld; use more text or a smaller --calib-seqlen",
                          out->source, (long long)n_ids, (long long)opt->seqlen);
    else if (!(out->tokens = malloc((size_t)(opt->n_samples * opt->seqlen) * sizeof(int32_t))))
        st = qf_error_set(QF_STATUS_NOMEM, "calibration: cannot allocate %lld x %lld tokens",
                          (long long)opt->n_samples, (long long)opt->seqlen);
    else
        st = qf_calib_pick_windows(ids, out->corpus_tokens, opt, out->tokens);
    free(ids);
    return st;
}

qf_status qf_calib_load(const char *const *paths, size_t n_paths, const qf_tokenizer *tok,
                        const qf_calib_options *opt, qf_calib *out) {
    if (out) memset(out, 0, sizeof *out);
    QF_FORWARD(check_args(paths, n_paths, opt, out));
    QF_RETURN_IF(!tok, QF_STATUS_INVALID_ARG, "qf_calib_load: NULL tokenizer");
    qf_calib_text text = {0};
    qf_status st = make_source(paths, n_paths, &out->source);
    if (st == QF_STATUS_OK) st = gather_text(paths, n_paths, &text);
    if (st == QF_STATUS_OK) {
        qf_sha256 h;
        qf_sha256_init(&h);
        qf_sha256_update(&h, text.data, text.len);
        qf_sha256_final(&h, out->sha256);
        st = tokenize_and_pick(&text, tok, opt, out);
    }
    qf_calib_text_free(&text);
    if (st != QF_STATUS_OK) {
        qf_calib_free(out);
        return st;
    }
    out->n_samples = opt->n_samples;
    out->seqlen = opt->seqlen;
    return QF_STATUS_OK;
}

void qf_calib_free(qf_calib *c) {
    if (!c) return;
    free(c->tokens);
    free(c->source);
    memset(c, 0, sizeof *c);
}
