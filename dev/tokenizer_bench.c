/* Tokenizer playground: encodes a text file with a tokenizer (tokenizer.json, or a
 * directory) and prints the token count and the encode/decode wall time (best of
 * --repeat runs), or the ids themselves (--ids), or the decoded text (--decode).
 * Built and run by bench/tokenize.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fileio.h"
#include "core/sha256.h"
#include "runtime/tokenizer.h"

static double qf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr,
                "usage: %s TOKENIZER TEXTFILE [--ids] [--decode] [--special] [--repeat N]\n",
                argv[0]);
        return 2;
    }
    int print_ids = 0, decode = 0, special = 0, repeat = 1;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--ids") == 0)
            print_ids = 1;
        else if (strcmp(argv[i], "--decode") == 0)
            decode = 1;
        else if (strcmp(argv[i], "--special") == 0)
            special = 1;
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    double t0 = qf_now();
    qf_tokenizer *t;
    if (qf_tokenizer_load(argv[1], &t) != QF_STATUS_OK) {
        fprintf(stderr, "load: %s\n", qf_error_message());
        return 1;
    }
    double t_load = qf_now() - t0;
    char *text;
    size_t len;
    if (qf_file_read_all(argv[2], (size_t)1 << 30, &text, &len) != QF_STATUS_OK) {
        fprintf(stderr, "read: %s\n", qf_error_message());
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    double best = 1e30, best_dec = 1e30;
    for (int r = 0; r < (repeat > 0 ? repeat : 1); r++) {
        free(ids);
        double a = qf_now();
        if (qf_tokenizer_encode(t, text, len, special, &ids, &n) != QF_STATUS_OK) {
            fprintf(stderr, "encode: %s\n", qf_error_message());
            return 1;
        }
        double e = qf_now() - a;
        if (e < best) best = e;
        char *back;
        size_t blen;
        a = qf_now();
        if (qf_tokenizer_decode(t, ids, n, &back, &blen) != QF_STATUS_OK) {
            fprintf(stderr, "decode: %s\n", qf_error_message());
            return 1;
        }
        e = qf_now() - a;
        if (e < best_dec) best_dec = e;
        if (decode && r == 0) fwrite(back, 1, blen, stdout);
        free(back);
    }
    if (print_ids) {
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
        printf("\n");
    } else if (!decode) {
        char hex[65];
        qf_sha256_hex(ids, n * sizeof *ids, hex);
        printf(
            "%s: %zu bytes -> %zu tokens; load %.3f s, encode %.3f s (%.2f MB/s), decode %.3f s; "
            "ids sha256 %s\n",
            argv[2], len, n, t_load, best, (double)len / best / 1e6, best_dec, hex);
    }
    free(ids);
    free(text);
    qf_tokenizer_free(t);
    return 0;
}
