/* Deterministic choice of calibration windows from the token stream. The PRNG is
 * splitmix64 (integer-only, so every machine draws the same numbers for a seed).
 *  - Enough tokens (n_ids >= n_samples * seqlen): the stream is cut into
 *    slots = n_ids / seqlen consecutive windows, the grid shifted by a random offset in
 *    [0, n_ids - slots * seqlen]; a partial Fisher-Yates shuffle of the slot indices picks
 *    n_samples of them, so the windows never overlap.
 *  - Otherwise: each window starts at a uniform position in [0, n_ids - seqlen]; windows
 *    may overlap (and repeat). */
#include <stdlib.h>
#include <string.h>

#include "calib-data/calib_internal.h"

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound) without modulo bias (bound > 0). */
static uint64_t uniform_below(uint64_t *state, uint64_t bound) {
    uint64_t reject_below = (0 - bound) % bound; /* 2^64 mod bound */
    for (;;) {
        uint64_t r = splitmix64(state);
        if (r >= reject_below) return r % bound;
    }
}

qf_status qf_calib_pick_windows(const int32_t *ids, int64_t n_ids, const qf_calib_options *opt,
                                int32_t *windows) {
    uint64_t state = opt->seed;
    int64_t n = opt->n_samples, len = opt->seqlen;
    if (n_ids / len >= n) {
        int64_t slots = n_ids / len;
        int64_t shift = (int64_t)uniform_below(&state, (uint64_t)(n_ids - slots * len) + 1);
        int64_t *order = malloc((size_t)slots * sizeof *order);
        QF_RETURN_IF(!order, QF_STATUS_NOMEM, "calibration: cannot allocate %lld window slots",
                     (long long)slots);
        for (int64_t i = 0; i < slots; i++) order[i] = i;
        for (int64_t i = 0; i < n; i++) {
            int64_t j = i + (int64_t)uniform_below(&state, (uint64_t)(slots - i));
            int64_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
            memcpy(windows + i * len, ids + shift + order[i] * len, (size_t)len * sizeof *ids);
        }
        free(order);
        return QF_STATUS_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t start = (int64_t)uniform_below(&state, (uint64_t)(n_ids - len) + 1);
        memcpy(windows + i * len, ids + start, (size_t)len * sizeof *ids);
    }
    return QF_STATUS_OK;
}
