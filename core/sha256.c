/* SHA-256 per FIPS 180-4; the block function is the SHA-NI one (core/sha256_ni.c) when
 * the CPU has the SHA extensions, else the portable one below. */
#include "core/sha256.h"

#include <stdatomic.h>
#include <string.h>

#include "core/fileio.h"
#include "core/sha256_internal.h"

const uint32_t qf_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t qf_rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void qf_sha256_block(uint32_t hs[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = qf_rotr(w[i - 15], 7) ^ qf_rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = qf_rotr(w[i - 2], 17) ^ qf_rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = hs[0], b = hs[1], c = hs[2], d = hs[3];
    uint32_t e = hs[4], f = hs[5], g = hs[6], h = hs[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (qf_rotr(e, 6) ^ qf_rotr(e, 11) ^ qf_rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                      qf_sha256_k[i] + w[i];
        uint32_t t2 = (qf_rotr(a, 2) ^ qf_rotr(a, 13) ^ qf_rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    hs[0] += a;
    hs[1] += b;
    hs[2] += c;
    hs[3] += d;
    hs[4] += e;
    hs[5] += f;
    hs[6] += g;
    hs[7] += h;
}

void qf_sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    for (; nblocks; nblocks--, p += 64) qf_sha256_block(h, p);
}

/* -1: not chosen yet; 0: portable; 1: SHA-NI (atomic: threads may hash at once). */
static _Atomic int qf_sha256_impl = -1;

int qf_sha256_use_ni(int on) {
    const int prev = atomic_exchange(&qf_sha256_impl, on && qf_sha256_ni_supported());
    return prev < 0 ? qf_sha256_ni_supported() : prev;
}

static void qf_sha256_blocks(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    int impl = atomic_load_explicit(&qf_sha256_impl, memory_order_relaxed);
    if (impl < 0) {
        impl = qf_sha256_ni_supported();
        atomic_store_explicit(&qf_sha256_impl, impl, memory_order_relaxed);
    }
    if (impl)
        qf_sha256_blocks_ni(h, p, nblocks);
    else
        qf_sha256_blocks_portable(h, p, nblocks);
}

void qf_sha256_init(qf_sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->nbuf = 0;
}

void qf_sha256_update(qf_sha256 *s, const void *data, size_t n) {
    const uint8_t *p = data;
    if (n == 0) return; /* data may be NULL */
    s->len += n;
    if (s->nbuf) {
        size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take;
        p += take;
        n -= take;
        if (s->nbuf < 64) return;
        qf_sha256_blocks(s->h, s->buf, 1);
        s->nbuf = 0;
    }
    qf_sha256_blocks(s->h, p, n / 64);
    p += n / 64 * 64;
    n %= 64;
    if (n) memcpy(s->buf, p, n);
    s->nbuf = n;
}

void qf_sha256_final(qf_sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->len * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (s->nbuf < 56) ? 56 - s->nbuf : 120 - s->nbuf;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    qf_sha256_update(s, pad, padlen + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void qf_sha256_to_hex(const uint8_t digest[32], char out[65]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

void qf_sha256_hex(const void *data, size_t n, char out[65]) {
    qf_sha256 s;
    uint8_t d[32];
    qf_sha256_init(&s);
    qf_sha256_update(&s, data, n);
    qf_sha256_final(&s, d);
    qf_sha256_to_hex(d, out);
}

qf_status qf_sha256_file(const char *path, char out[65]) {
    qf_mapped_file f;
    QF_FORWARD(qf_file_map(path, &f));
    qf_sha256_hex(f.data, f.size, out);
    qf_file_unmap(&f);
    return QF_STATUS_OK;
}
