/* qf_model: a checkpoint opened for reading, whatever its on-disk form (HF directory,
 * single safetensors file, GGUF file). Tensors carry canonical Hugging Face names and
 * shapes (outermost first) and stay in the mapped files until read. */
#ifndef QF_MODEL_H
#define QF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"
#include "runtime/arch.h"

#define QF_MODEL_MAX_DIMS 8

typedef enum qf_model_source {
    QF_MODEL_SOURCE_HF_DIR,      /* config.json + model.safetensors or sharded index */
    QF_MODEL_SOURCE_SAFETENSORS, /* a bare .safetensors file (no config) */
    QF_MODEL_SOURCE_GGUF,
} qf_model_source;

typedef struct qf_model_tensor {
    const char *name; /* canonical HF name ("model.layers.0.self_attn.q_proj.weight") */
    qf_dtype dtype;   /* storage dtype (may be a ggml block type) */
    int ndim;
    int64_t shape[QF_MODEL_MAX_DIMS]; /* outermost first */
    uint64_t numel;
    uint64_t nbytes;
    const void *data;         /* into a mapped file */
    const char *file;         /* the file it lives in */
    const char *source_name;  /* name inside that file (GGUF: "blk.0.attn_q.weight") */
    int rope_unpermute_heads; /* >0: GGUF q/k weight in llama.cpp's RoPE row order; reading
                                 undoes the permutation with this many heads */
} qf_model_tensor;

typedef struct qf_model_kv {
    char *key;
    char *value; /* rendered as text (JSON for arrays) */
} qf_model_kv;

typedef struct qf_model_private qf_model_private;

typedef struct qf_model {
    qf_model_source source;
    char *path;
    int has_config;
    qf_model_config config;
    size_t n_tensors;
    qf_model_tensor *tensors; /* sorted by name */
    size_t n_meta;
    qf_model_kv *meta; /* file-level metadata (safetensors __metadata__, GGUF KV) */
    char *quant_config_json; /* config.json "quantization_config" as JSON text, or NULL
                                (formats/gptq.h reads GPTQ ones) */
    qf_model_private *priv;
} qf_model;

/* Opens a directory (HF checkpoint), a .safetensors file or a .gguf file (decided by
 * content, not extension). Fully validates the files; with a config, also checks that
 * every tensor the architecture needs is present with the right shape and dtype. */
qf_status qf_model_open(const char *path, qf_model **out);
void qf_model_free(qf_model *m);

const qf_model_tensor *qf_model_find_tensor(const qf_model *m, const char *name);

/* Reads a tensor as F32 (dequantizing and undoing GGUF RoPE permutation). dst holds numel. */
qf_status qf_model_tensor_read_f32(const qf_model_tensor *t, float *dst);

/* Checks the tensors against qf_arch_tensor_specs(config): every required tensor
 * present with the right shape and a float dtype; used by qf_model_open. */
qf_status qf_model_validate(const qf_model *m);

/* Total parameter count (sum of numel). */
uint64_t qf_model_param_count(const qf_model *m);

#endif
