/* The embedded default calibration corpus, decompressed on request. */
#include <stdlib.h>
#include <zstd.h>

#include "calib-data/calib.h"
#include "calib-data/corpus_data.h"

qf_status qf_calib_default_text(char **text, size_t *len) {
    QF_RETURN_IF(!text || !len, QF_STATUS_INVALID_ARG, "qf_calib_default_text: NULL output");
    *text = NULL;
    *len = 0;
    size_t raw = qf_calib_corpus_raw_size;
    unsigned long long framed =
        ZSTD_getFrameContentSize(qf_calib_corpus_zst, qf_calib_corpus_zst_size);
    QF_RETURN_IF(framed != raw, QF_STATUS_FORMAT,
                 "embedded calibration corpus: zstd frame says %llu bytes, expected %zu", framed,
                 raw);
    char *buf = malloc(raw + 1);
    QF_RETURN_IF(!buf, QF_STATUS_NOMEM, "embedded calibration corpus: cannot allocate %zu bytes",
                 raw + 1);
    size_t got = ZSTD_decompress(buf, raw, qf_calib_corpus_zst, qf_calib_corpus_zst_size);
    if (ZSTD_isError(got) || got != raw) {
        free(buf);
        return qf_error_set(QF_STATUS_FORMAT,
                            "embedded calibration corpus: zstd decompression failed (%s)",
                            ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size mismatch");
    }
    buf[raw] = '\0';
    *text = buf;
    *len = raw;
    return QF_STATUS_OK;
}
