/* Strict UTF-8 validation shared by the build-time corpus embedder and the calibration
 * file loader, so both reject exactly the same bytes: overlong forms, surrogates, code
 * points above U+10FFFF, truncated sequences and NUL bytes. Header-only because the
 * embedder is a host tool that cannot link libqforge. */
#ifndef QF_CALIB_UTF8_CHECK_H
#define QF_CALIB_UTF8_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <utf8proc.h>

/* Offset of the first byte that is NUL or starts an ill-formed sequence; n if none. */
static inline size_t qf_calib_utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] == 0) return i;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return i;
        i += (size_t)k;
    }
    return i;
}

#endif
