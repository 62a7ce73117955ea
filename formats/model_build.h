/* Internal: how the format adapters (hf_checkpoint.c, gguf_model.c) build a qf_model.
 * model.c owns the storage; adapters register open files, tensors and metadata. */
#ifndef QF_MODEL_BUILD_H
#define QF_MODEL_BUILD_H

#include "formats/model.h"

/* Keeps `handle` alive for the model's lifetime; free_fn(handle) runs in qf_model_free. */
qf_status qf_model_add_resource(qf_model *m, void *handle, void (*free_fn)(void *));
/* Copies a string into storage owned by the model. NULL on allocation failure. */
const char *qf_model_strdup(qf_model *m, const char *s, size_t len);
/* Appends a tensor (name/file/source_name are copied). Duplicate names are rejected
 * with a FORMAT error naming both files. */
qf_status qf_model_add_tensor(qf_model *m, const qf_model_tensor *t);
qf_status qf_model_add_meta(qf_model *m, const char *key, const char *value);

/* Adapters, called by qf_model_open on a zeroed model. */
qf_status qf_model_open_hf_dir(qf_model *m, const char *dir);       /* hf_checkpoint.c */
qf_status qf_model_open_safetensors(qf_model *m, const char *path); /* hf_checkpoint.c */
qf_status qf_model_open_gguf(qf_model *m, const char *path);        /* gguf_model.c */

#endif
