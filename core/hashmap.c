/* Open-addressing hash tables: string -> int32 and uint64 -> uint64 (see hashmap.h). */
#include "core/hashmap.h"

#include <stdlib.h>
#include <string.h>

#define QF_HASH_MUL 0x9E3779B97F4A7C15ull

static uint64_t qf_hash_mix(uint64_t h) {
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

uint64_t qf_hash_bytes(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = (uint64_t)len * QF_HASH_MUL;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * QF_HASH_MUL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < len; i++) tail |= (uint64_t)p[i] << (8 * i);
    h = (h ^ tail) * QF_HASH_MUL;
    return qf_hash_mix(h);
}

/* Smallest power of two >= 2 * expected (load factor <= 1/2), at least 16. */
static qf_status qf_hashmap_capacity(size_t expected, size_t *cap) {
    QF_RETURN_IF(expected > QF_HASHMAP_MAX_ENTRIES, QF_STATUS_NOMEM,
                 "hash table: %zu entries exceed the limit of %zu", expected,
                 (size_t)QF_HASHMAP_MAX_ENTRIES);
    size_t c = 16;
    while (c < 2 * expected) c *= 2;
    *cap = c;
    return QF_STATUS_OK;
}

/* ---- string keys ------------------------------------------------------------------- */

qf_status qf_strmap_init(qf_strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 0;
    QF_FORWARD(qf_hashmap_capacity(expected, &cap));
    m->slots = calloc(cap, sizeof *m->slots);
    QF_RETURN_IF(!m->slots, QF_STATUS_NOMEM, "hash table: out of memory for %zu slots", cap);
    m->cap = cap;
    return QF_STATUS_OK;
}

void qf_strmap_free(qf_strmap *m) {
    if (!m) return;
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static qf_strmap_slot *qf_strmap_find(const qf_strmap *m, const char *key, uint32_t len,
                                      uint32_t hash) {
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        qf_strmap_slot *s = &m->slots[i];
        if (!s->key) return s;
        if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0) return s;
    }
}

static qf_status qf_strmap_grow(qf_strmap *m) {
    size_t cap = 0;
    QF_FORWARD(qf_hashmap_capacity(m->count + 1, &cap));
    if (cap <= m->cap) cap = m->cap * 2;
    qf_strmap grown = {calloc(cap, sizeof(qf_strmap_slot)), cap, m->count};
    QF_RETURN_IF(!grown.slots, QF_STATUS_NOMEM, "hash table: out of memory for %zu slots", cap);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            *qf_strmap_find(&grown, m->slots[i].key, m->slots[i].len, m->slots[i].hash) =
                m->slots[i];
    free(m->slots);
    *m = grown;
    return QF_STATUS_OK;
}

qf_status qf_strmap_put(qf_strmap *m, const char *key, size_t len, int32_t value, int32_t *old) {
    QF_RETURN_IF(len > UINT32_MAX, QF_STATUS_INVALID_ARG, "hash table: key of %zu bytes", len);
    if (!m->slots || 2 * (m->count + 1) > m->cap) QF_FORWARD(qf_strmap_grow(m));
    uint32_t hash = (uint32_t)qf_hash_bytes(key, len);
    qf_strmap_slot *s = qf_strmap_find(m, key, (uint32_t)len, hash);
    if (old) *old = s->key ? s->value : -1;
    if (!s->key) {
        *s = (qf_strmap_slot){key, (uint32_t)len, hash, value};
        m->count++;
    } else {
        s->value = value;
    }
    return QF_STATUS_OK;
}

int qf_strmap_get(const qf_strmap *m, const char *key, size_t len, int32_t *value) {
    if (!m->cap || len > UINT32_MAX) return 0;
    const qf_strmap_slot *s =
        qf_strmap_find(m, key, (uint32_t)len, (uint32_t)qf_hash_bytes(key, len));
    if (!s->key) return 0;
    *value = s->value;
    return 1;
}

/* ---- uint64 keys ------------------------------------------------------------------- */

static size_t qf_u64map_index(uint64_t key, size_t mask) {
    return qf_hash_mix(key * QF_HASH_MUL) & mask;
}

qf_status qf_u64map_init(qf_u64map *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 0;
    QF_FORWARD(qf_hashmap_capacity(expected, &cap));
    m->slots = malloc(cap * sizeof *m->slots);
    QF_RETURN_IF(!m->slots, QF_STATUS_NOMEM, "hash table: out of memory for %zu slots", cap);
    for (size_t i = 0; i < cap; i++) m->slots[i].key = QF_U64MAP_EMPTY;
    m->cap = cap;
    return QF_STATUS_OK;
}

void qf_u64map_free(qf_u64map *m) {
    if (!m) return;
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static qf_u64map_slot *qf_u64map_find(const qf_u64map *m, uint64_t key) {
    size_t mask = m->cap - 1;
    for (size_t i = qf_u64map_index(key, mask);; i = (i + 1) & mask) {
        qf_u64map_slot *s = &m->slots[i];
        if (s->key == key || s->key == QF_U64MAP_EMPTY) return s;
    }
}

static qf_status qf_u64map_grow(qf_u64map *m) {
    qf_u64map grown;
    QF_FORWARD(qf_u64map_init(&grown, m->cap)); /* doubles the capacity */
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != QF_U64MAP_EMPTY)
            *qf_u64map_find(&grown, m->slots[i].key) = m->slots[i];
    grown.count = m->count;
    free(m->slots);
    *m = grown;
    return QF_STATUS_OK;
}

qf_status qf_u64map_put(qf_u64map *m, uint64_t key, uint64_t value) {
    QF_RETURN_IF(key == QF_U64MAP_EMPTY, QF_STATUS_INVALID_ARG, "hash table: reserved key");
    if (!m->slots) QF_FORWARD(qf_u64map_init(m, 8));
    if (2 * (m->count + 1) > m->cap) QF_FORWARD(qf_u64map_grow(m));
    qf_u64map_slot *s = qf_u64map_find(m, key);
    if (s->key == QF_U64MAP_EMPTY) m->count++;
    *s = (qf_u64map_slot){key, value};
    return QF_STATUS_OK;
}

int qf_u64map_get(const qf_u64map *m, uint64_t key, uint64_t *value) {
    if (!m->cap || key == QF_U64MAP_EMPTY) return 0;
    const qf_u64map_slot *s = qf_u64map_find(m, key);
    if (s->key == QF_U64MAP_EMPTY) return 0;
    *value = s->value;
    return 1;
}
