/* The embedded default calibration corpus: defined by the .c file that
 * calib-data/embed/embed_corpus.c generates at build time from calib-data/corpus/ (the
 * .txt files in byte-wise file-name order, joined with "\n\n", zstd level 19). */
#ifndef QF_CALIB_CORPUS_DATA_H
#define QF_CALIB_CORPUS_DATA_H

#include <stddef.h>

extern const unsigned char qf_calib_corpus_zst[]; /* one zstd frame */
extern const size_t qf_calib_corpus_zst_size;
extern const size_t qf_calib_corpus_raw_size;     /* bytes after decompression */
extern const char *const qf_calib_corpus_files[]; /* file names, NULL-terminated */
extern const size_t qf_calib_corpus_n_files;

#endif
