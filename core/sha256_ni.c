/* SHA-256 block function on the x86 SHA extensions (SHA-NI: sha256rnds2, sha256msg1,
 * sha256msg2), used by core/sha256.c when the CPU has them. The state is kept as the two
 * registers the instructions want, ABEF and CDGH; each step runs four rounds. */
#include "core/sha256_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

int qf_sha256_ni_supported(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return ((b >> 29) & 1) && __builtin_cpu_supports("sse4.1"); /* CPUID.7.0:EBX.SHA */
}

__attribute__((target("sha,sse4.1,ssse3"))) void qf_sha256_blocks_ni(uint32_t h[8],
                                                                    const uint8_t *p,
                                                                    size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)h);       /* h0..h3, h0 lowest */
    __m128i hgfe = _mm_loadu_si128((const __m128i *)(h + 4)); /* h4..h7 */
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8); /* F E B A, lowest first */
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0); /* H G D C */
    for (; nblocks; nblocks--, p += 64) {
        const __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i m[4];
        for (int i = 0; i < 4; i++)
            m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
        for (int r = 0; r < 16; r++) {
            if (r >= 4) /* W[4r..4r+3] from W[4r-16..4r-1] */
                m[r & 3] = _mm_sha256msg2_epu32(
                    _mm_add_epi32(_mm_sha256msg1_epu32(m[r & 3], m[(r + 1) & 3]),
                                  _mm_alignr_epi8(m[(r + 3) & 3], m[(r + 2) & 3], 4)),
                    m[(r + 3) & 3]);
            const __m128i wk =
                _mm_add_epi32(m[r & 3], _mm_loadu_si128((const __m128i *)(qf_sha256_k + 4 * r)));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B); /* A B E F, lowest first */
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1); /* G H C D */
    _mm_storeu_si128((__m128i *)h, _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}
#else
int qf_sha256_ni_supported(void) { return 0; }
void qf_sha256_blocks_ni(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    qf_sha256_blocks_portable(h, p, nblocks);
}
#endif
