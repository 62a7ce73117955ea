/* Open-addressing hash tables (linear probing, power-of-two capacity, load <= 1/2):
 * qf_strmap maps byte strings to int32 values (keys are not copied: the caller keeps
 * them alive while the map is in use); qf_u64map maps uint64 keys to uint64 values.
 * Neither supports removal. */
#ifndef QF_HASHMAP_H
#define QF_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Largest number of entries either map accepts (2^28); beyond it put fails with NOMEM. */
#define QF_HASHMAP_MAX_ENTRIES ((size_t)1 << 28)

typedef struct qf_strmap_slot {
    const char *key; /* NULL: empty slot */
    uint32_t len;
    uint32_t hash;
    int32_t value;
} qf_strmap_slot;

typedef struct qf_strmap {
    qf_strmap_slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t count;
} qf_strmap;

/* 64-bit hash of a byte string (also used by callers that key their own tables). */
uint64_t qf_hash_bytes(const void *data, size_t len);

/* Sizes the table for `expected` entries (it grows as needed anyway). */
qf_status qf_strmap_init(qf_strmap *m, size_t expected);
void qf_strmap_free(qf_strmap *m);
/* Inserts key -> value, or replaces the value of an existing key. *old (may be NULL)
 * receives the previous value, or -1 when the key was new. len must be < 2^32. */
qf_status qf_strmap_put(qf_strmap *m, const char *key, size_t len, int32_t value, int32_t *old);
/* 1 and *value when found, 0 otherwise. */
int qf_strmap_get(const qf_strmap *m, const char *key, size_t len, int32_t *value);

typedef struct qf_u64map_slot {
    uint64_t key; /* QF_U64MAP_EMPTY: empty slot */
    uint64_t value;
} qf_u64map_slot;

/* The one key value qf_u64map cannot hold. */
#define QF_U64MAP_EMPTY UINT64_MAX

typedef struct qf_u64map {
    qf_u64map_slot *slots;
    size_t cap;
    size_t count;
} qf_u64map;

qf_status qf_u64map_init(qf_u64map *m, size_t expected);
void qf_u64map_free(qf_u64map *m);
/* Inserts or replaces; key must not be QF_U64MAP_EMPTY. */
qf_status qf_u64map_put(qf_u64map *m, uint64_t key, uint64_t value);
int qf_u64map_get(const qf_u64map *m, uint64_t key, uint64_t *value);

#endif
