/* qf_model core: opening by content (HF directory, GGUF, safetensors), the storage the
 * format adapters fill (resources, string arena, tensors, metadata), lookup by name and
 * validation against the architecture's tensor list. */
#include "formats/model_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fileio.h"
#include "formats/awq.h"
#include "formats/compressed_tensors.h"
#include "formats/gptq.h"
#include "formats/packed_tensors.h"

#define QF_MODEL_ARENA_BLOCK 65536

typedef struct qf_model_resource {
    void *handle;
    void (*free_fn)(void *);
} qf_model_resource;

typedef struct qf_model_arena_block {
    struct qf_model_arena_block *next;
    size_t used, cap;
    char data[];
} qf_model_arena_block;

struct qf_model_private {
    qf_model_resource *res;
    size_t n_res, cap_res;
    qf_model_arena_block *arena;
    size_t cap_tensors, cap_meta;
    /* Open-addressing index of tensor names while adapters add tensors (slot = index + 1);
     * dropped once the tensors are sorted, after which lookups use binary search. */
    size_t *slots;
    size_t cap_slots;
};

static qf_status qf_model_priv(qf_model *m) {
    if (m->priv) return QF_STATUS_OK;
    m->priv = calloc(1, sizeof *m->priv);
    QF_RETURN_IF(!m->priv, QF_STATUS_NOMEM, "model: out of memory");
    return QF_STATUS_OK;
}

qf_status qf_model_add_resource(qf_model *m, void *handle, void (*free_fn)(void *)) {
    QF_RETURN_IF(!m || !free_fn, QF_STATUS_INVALID_ARG, "model: NULL resource");
    qf_status st = qf_model_priv(m);
    if (st == QF_STATUS_OK) {
        qf_model_private *p = m->priv;
        st = qf_array_grow((void **)&p->res, &p->cap_res, p->n_res + 1, sizeof *p->res, "model");
        if (st == QF_STATUS_OK) {
            p->res[p->n_res++] = (qf_model_resource){handle, free_fn};
            return QF_STATUS_OK;
        }
    }
    free_fn(handle); /* the caller handed it over: never leak it */
    return st;
}

static char *qf_model_arena_dup(qf_model *m, const char *s, size_t len) {
    if (qf_model_priv(m) != QF_STATUS_OK || len >= SIZE_MAX - QF_MODEL_ARENA_BLOCK) return NULL;
    qf_model_private *p = m->priv;
    qf_model_arena_block *b = p->arena;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > QF_MODEL_ARENA_BLOCK ? len + 1 : QF_MODEL_ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = p->arena;
        p->arena = b;
    }
    char *d = b->data + b->used;
    memcpy(d, s, len);
    d[len] = '\0';
    b->used += len + 1;
    return d;
}

const char *qf_model_strdup(qf_model *m, const char *s, size_t len) {
    if (!m || !s) return NULL;
    return qf_model_arena_dup(m, s, len);
}

static uint64_t qf_model_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Slot holding `name`, or the empty slot where it would go. */
static size_t *qf_model_slot(const qf_model *m, const char *name) {
    const qf_model_private *p = m->priv;
    size_t mask = p->cap_slots - 1;
    for (size_t i = (size_t)qf_model_hash(name) & mask;; i = (i + 1) & mask) {
        size_t *s = &p->slots[i];
        if (!*s || strcmp(m->tensors[*s - 1].name, name) == 0) return s;
    }
}

/* (Re)builds the name index with room for `need` tensors at load <= 1/2. */
static qf_status qf_model_index_reserve(qf_model *m, size_t need) {
    qf_model_private *p = m->priv;
    if (p->slots && need <= p->cap_slots / 2) return QF_STATUS_OK;
    size_t cap = 64;
    while (cap / 2 < need) {
        QF_RETURN_IF(cap > SIZE_MAX / 4 / sizeof(size_t), QF_STATUS_NOMEM,
                     "model: too many tensors");
        cap *= 2;
    }
    size_t *slots = calloc(cap, sizeof *slots);
    QF_RETURN_IF(!slots, QF_STATUS_NOMEM, "model: out of memory (tensor index)");
    free(p->slots);
    p->slots = slots;
    p->cap_slots = cap;
    for (size_t i = 0; i < m->n_tensors; i++) *qf_model_slot(m, m->tensors[i].name) = i + 1;
    return QF_STATUS_OK;
}

qf_status qf_model_add_tensor(qf_model *m, const qf_model_tensor *t) {
    QF_RETURN_IF(!m || !t || !t->name, QF_STATUS_INVALID_ARG, "model: NULL tensor");
    QF_RETURN_IF(t->ndim < 0 || t->ndim > QF_MODEL_MAX_DIMS, QF_STATUS_FORMAT,
                 "tensor '%s' in '%s': %d dimensions (at most %d)", t->name,
                 t->file ? t->file : "?", t->ndim, QF_MODEL_MAX_DIMS);
    QF_FORWARD(qf_model_priv(m));
    qf_model_private *p = m->priv;
    QF_FORWARD(qf_model_index_reserve(m, m->n_tensors + 1));
    size_t *slot = qf_model_slot(m, t->name);
    if (*slot) {
        const qf_model_tensor *prev = &m->tensors[*slot - 1];
        return qf_error_set(QF_STATUS_FORMAT, "tensor '%s' appears twice: in '%s' and in '%s'",
                            t->name, prev->file ? prev->file : "?", t->file ? t->file : "?");
    }
    QF_FORWARD(qf_array_grow((void **)&m->tensors, &p->cap_tensors, m->n_tensors + 1,
                             sizeof *m->tensors, "model"));
    qf_model_tensor c = *t;
    c.name = qf_model_arena_dup(m, t->name, strlen(t->name));
    c.file = t->file ? qf_model_arena_dup(m, t->file, strlen(t->file)) : NULL;
    c.source_name = qf_model_arena_dup(m, t->source_name ? t->source_name : t->name,
                                       strlen(t->source_name ? t->source_name : t->name));
    QF_RETURN_IF(!c.name || (t->file && !c.file) || !c.source_name, QF_STATUS_NOMEM,
                 "model: out of memory (tensor names)");
    m->tensors[m->n_tensors++] = c;
    *slot = m->n_tensors;
    return QF_STATUS_OK;
}

qf_status qf_model_add_meta(qf_model *m, const char *key, const char *value) {
    QF_RETURN_IF(!m || !key || !value, QF_STATUS_INVALID_ARG, "model: NULL metadata");
    QF_FORWARD(qf_model_priv(m));
    qf_model_private *p = m->priv;
    QF_FORWARD(
        qf_array_grow((void **)&m->meta, &p->cap_meta, m->n_meta + 1, sizeof *m->meta, "model"));
    char *k = qf_model_arena_dup(m, key, strlen(key));
    char *v = qf_model_arena_dup(m, value, strlen(value));
    QF_RETURN_IF(!k || !v, QF_STATUS_NOMEM, "model: out of memory (metadata)");
    m->meta[m->n_meta++] = (qf_model_kv){k, v};
    return QF_STATUS_OK;
}

static int qf_model_tensor_cmp(const void *a, const void *b) {
    return strcmp(((const qf_model_tensor *)a)->name, ((const qf_model_tensor *)b)->name);
}

/* Sorts the tensors by name; the name index is no longer needed. */
static void qf_model_finish(qf_model *m) {
    if (m->n_tensors) qsort(m->tensors, m->n_tensors, sizeof *m->tensors, qf_model_tensor_cmp);
    if (m->priv) {
        free(m->priv->slots);
        m->priv->slots = NULL;
        m->priv->cap_slots = 0;
    }
}

const qf_model_tensor *qf_model_find_tensor(const qf_model *m, const char *name) {
    if (!m || !name || !m->n_tensors) return NULL;
    if (m->priv && m->priv->slots) { /* still being built: unsorted */
        size_t s = *qf_model_slot(m, name);
        return s ? &m->tensors[s - 1] : NULL;
    }
    size_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->tensors[mid].name, name);
        if (c == 0) return &m->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static void qf_model_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int qf_model_is_block_type(qf_dtype t) {
    return t == QF_DTYPE_Q4_0 || t == QF_DTYPE_Q4_1 || t == QF_DTYPE_Q8_0 ||
           t == QF_DTYPE_Q4_K || t == QF_DTYPE_Q6_K;
}

static qf_status qf_model_check_tensor(const qf_model *m, const qf_tensor_spec *s,
                                       const qf_model_tensor *t) {
    const char *file = t->file ? t->file : m->path;
    int same = t->ndim == s->ndim;
    for (int i = 0; same && i < s->ndim; i++) same = t->shape[i] == s->shape[i];
    if (!same) {
        char got[160], want[64];
        qf_model_format_shape(got, sizeof got, t->ndim, t->shape);
        qf_model_format_shape(want, sizeof want, s->ndim, s->shape);
        return qf_error_set(QF_STATUS_FORMAT, "tensor '%s' in '%s': shape %s, expected %s",
                            t->name, file, got, want);
    }
    int ok = t->dtype == QF_DTYPE_F16 || t->dtype == QF_DTYPE_BF16 || t->dtype == QF_DTYPE_F32;
    if (m->source == QF_MODEL_SOURCE_GGUF) ok = ok || qf_model_is_block_type(t->dtype);
    QF_RETURN_IF(!ok, QF_STATUS_UNSUPPORTED,
                 "tensor '%s' in '%s': dtype %s is not a supported weight type (%s)", t->name,
                 file, qf_dtype_name(t->dtype),
                 m->source == QF_MODEL_SOURCE_GGUF ? "F16, BF16, F32 or a ggml block type"
                                                   : "F16, BF16, F32");
    return QF_STATUS_OK;
}

/* 1 if spec is a 2-d "P.weight" stored as GPTQ / AWQ tensors (P.qweight present). */
static int qf_model_packed_linear(const qf_model *m, const qf_tensor_spec *spec) {
    size_t len = strlen(spec->name), suf = strlen(".weight");
    if (spec->ndim != 2 || len <= suf || strcmp(spec->name + len - suf, ".weight") != 0)
        return 0;
    char prefix[QF_TENSOR_NAME_MAX];
    memcpy(prefix, spec->name, len - suf);
    prefix[len - suf] = '\0';
    return qf_packed_model_has(m, prefix);
}

qf_status qf_model_validate(const qf_model *m) {
    QF_RETURN_IF(!m, QF_STATUS_INVALID_ARG, "model: NULL");
    QF_RETURN_IF(!m->has_config, QF_STATUS_INVALID_ARG,
                 "'%s': no model config to validate the tensors against", m->path);
    qf_gptq_config gptq;
    qf_awq_config awq;
    qf_ct_config ct;
    int is_gptq = 0, is_awq = 0, is_ct = 0;
    QF_FORWARD(qf_gptq_model_config(m, &gptq, &is_gptq));
    qf_status st = qf_awq_model_config(m, &awq, &is_awq);
    if (st == QF_STATUS_OK) st = qf_ct_model_config(m, &ct, &is_ct);
    qf_tensor_spec *specs = NULL;
    size_t n = 0;
    if (st == QF_STATUS_OK) st = qf_arch_tensor_specs(&m->config, &specs, &n);
    if (st != QF_STATUS_OK) {
        qf_gptq_config_free(&gptq);
        qf_awq_config_free(&awq);
        qf_ct_config_free(&ct);
        return qf_error_wrap(st, "'%s': ", m->path);
    }
    for (size_t i = 0; i < n && st == QF_STATUS_OK; i++) {
        const qf_model_tensor *t = qf_model_find_tensor(m, specs[i].name);
        if (!t && (is_gptq || is_awq) && qf_model_packed_linear(m, &specs[i])) {
            size_t len = strlen(specs[i].name) - strlen(".weight");
            specs[i].name[len] = '\0'; /* the linear's prefix */
            st = is_awq ? qf_awq_model_check(m, &awq, specs[i].name, specs[i].shape[0],
                                             specs[i].shape[1])
                        : qf_gptq_model_check(m, &gptq, specs[i].name, specs[i].shape[0],
                                              specs[i].shape[1]);
            continue;
        }
        if (t && is_ct && t->dtype == QF_DTYPE_I8 && specs[i].ndim == 2) {
            size_t len = strlen(specs[i].name) - strlen(".weight");
            specs[i].name[len] = '\0'; /* the linear's prefix */
            st = qf_ct_ignored(&ct, specs[i].name)
                     ? qf_error_set(QF_STATUS_FORMAT, "'%s': '%s' is stored int8 but the config "
                                    "ignores it", m->path, specs[i].name)
                     : qf_ct_model_check(m, &ct, specs[i].name, specs[i].shape[0],
                                         specs[i].shape[1]);
            continue;
        }
        if (!t) {
            if (!specs[i].optional)
                st = qf_error_set(QF_STATUS_NOT_FOUND, "'%s': required tensor '%s' is missing",
                                  m->path, specs[i].name);
            continue;
        }
        st = qf_model_check_tensor(m, &specs[i], t);
    }
    free(specs);
    qf_gptq_config_free(&gptq);
    qf_awq_config_free(&awq);
    qf_ct_config_free(&ct);
    return st;
}

uint64_t qf_model_param_count(const qf_model *m) {
    uint64_t n = 0;
    for (size_t i = 0; m && i < m->n_tensors; i++) n += m->tensors[i].numel;
    return n;
}

void qf_model_free(qf_model *m) {
    if (!m) return;
    qf_model_private *p = m->priv;
    if (p) {
        for (size_t i = p->n_res; i-- > 0;) p->res[i].free_fn(p->res[i].handle);
        free(p->res);
        while (p->arena) {
            qf_model_arena_block *next = p->arena->next;
            free(p->arena);
            p->arena = next;
        }
        free(p->slots);
        free(p);
    }
    free(m->tensors);
    free(m->meta);
    free(m->path);
    free(m->quant_config_json);
    free(m);
}

/* 1 if the file starts with the GGUF magic. */
static qf_status qf_model_is_gguf(const char *path, int *is_gguf) {
    *is_gguf = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    QF_RETURN_IF(fd < 0, QF_STATUS_IO, "'%s': cannot open: %s", path, strerror(errno));
    char magic[4];
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    *is_gguf = got == (ssize_t)sizeof magic && memcmp(magic, "GGUF", 4) == 0;
    return QF_STATUS_OK;
}

qf_status qf_model_open(const char *path, qf_model **out) {
    QF_RETURN_IF(!path || !out, QF_STATUS_INVALID_ARG, "model open: NULL argument");
    *out = NULL;
    QF_RETURN_IF(!qf_path_exists(path), QF_STATUS_NOT_FOUND, "'%s': no such file or directory",
                 path);
    qf_model *m = calloc(1, sizeof *m);
    QF_RETURN_IF(!m, QF_STATUS_NOMEM, "model open: out of memory");
    m->path = strdup(path);
    qf_status st = m->path ? QF_STATUS_OK : qf_error_set(QF_STATUS_NOMEM, "model open: out of memory");
    if (st == QF_STATUS_OK) st = qf_model_priv(m);
    if (st == QF_STATUS_OK) {
        int gguf = 0;
        if (qf_path_is_dir(path)) {
            m->source = QF_MODEL_SOURCE_HF_DIR;
            st = qf_model_open_hf_dir(m, path);
        } else if ((st = qf_model_is_gguf(path, &gguf)) == QF_STATUS_OK) {
            m->source = gguf ? QF_MODEL_SOURCE_GGUF : QF_MODEL_SOURCE_SAFETENSORS;
            st = gguf ? qf_model_open_gguf(m, path) : qf_model_open_safetensors(m, path);
        }
    }
    if (st == QF_STATUS_OK) {
        qf_model_finish(m);
        if (m->has_config) st = qf_model_validate(m);
    }
    if (st != QF_STATUS_OK) {
        qf_model_free(m);
        return st;
    }
    *out = m;
    return QF_STATUS_OK;
}
