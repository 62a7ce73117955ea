/* The verification runtime: a qf_model loaded for inference (weights in memory in the
 * backend's layout, KV cache), running the Llama-family forward pass described by the
 * architectures table. Logits are delivered in blocks so a 2048-token window never needs
 * a (2048, vocab) buffer. */
#ifndef QF_RUNTIME_H
#define QF_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"
#include "formats/model.h"

/* Where the forward pass runs. CUDA: runtime/cuda/forward.h (fails with UNSUPPORTED when
 * the library was built without CUDA or no GPU is usable, the reason in the message). */
typedef enum qf_runtime_device {
    QF_RUNTIME_DEVICE_CPU = 0,
    QF_RUNTIME_DEVICE_CUDA = 1,
} qf_runtime_device;

typedef struct qf_runtime_options {
    int n_threads;        /* 0 = every online core */
    int64_t max_ctx;      /* KV cache capacity in tokens; 0 = min(max_position_embeddings, 4096) */
    qf_dtype weight_dtype; /* linear weights in memory: QF_DTYPE_F32 or QF_DTYPE_F16; 0 (BOOL)
                              = F16 when the checkpoint is F16/BF16/quantized, else F32 */
    qf_runtime_device device; /* 0 = CPU; CUDA ignores n_threads */
} qf_runtime_options;

typedef struct qf_runtime qf_runtime;

/* Loads every weight of `m` (which must have a config) and allocates the KV cache. */
qf_status qf_runtime_init(const qf_model *m, const qf_runtime_options *opt, qf_runtime **out);
void qf_runtime_free(qf_runtime *rt);

const qf_model_config *qf_runtime_config(const qf_runtime *rt);
int64_t qf_runtime_max_ctx(const qf_runtime *rt);
/* Number of positions in the KV cache (the position the next token gets). */
int64_t qf_runtime_pos(const qf_runtime *rt);
/* Empties the KV cache. */
void qf_runtime_reset(qf_runtime *rt);

/* Receives logits for `count` consecutive tokens starting at input index `first`:
 * logits is (count, vocab_size) row-major. Returning non-OK stops the forward pass. */
typedef qf_status (*qf_logits_fn)(void *user, int64_t first, int64_t count, const float *logits);

/* Runs tokens[0..n) at positions pos()..pos()+n, appending to the KV cache (batched
 * prefill for n > 1, incremental decode for n == 1). Logits are computed for input
 * indices >= logits_from (n - 1: last token only; 0: all) and passed to fn in blocks.
 * logits_from == n, or fn == NULL, computes no logits (the cache is still filled).
 * Fails with INVALID_ARG if the cache would overflow or a token id is out of range; on
 * any failure (including fn returning non-OK) qf_runtime_pos() is left unchanged. */
qf_status qf_runtime_forward(qf_runtime *rt, const int32_t *tokens, int64_t n, int64_t logits_from,
                             qf_logits_fn fn, void *user);

#endif
