/* libqforge public C API: the only header tools/ include.
 * Modules: status/errors, dtypes, progress, checkpoints (qf_model: HF directories,
 * safetensors, GGUF), format conversion, the verification runtime (tokenizer, forward
 * pass, perplexity/KL evaluation, sampling, benchmarks). */
#ifndef QFORGE_H
#define QFORGE_H

#include "core/dtype.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "core/status.h"
#include "formats/convert.h"
#include "formats/model.h"
#include "runtime/arch.h"
#include "runtime/backend.h"
#include "runtime/bench.h"
#include "runtime/eval.h"
#include "runtime/model_tokenizer.h"
#include "runtime/runtime.h"
#include "runtime/sampling.h"
#include "runtime/tokenizer.h"

#endif
