/* libqforge public C API: the only header tools/ include.
 * Modules: status/errors, dtypes, progress, checkpoints (qf_model: HF directories,
 * safetensors, GGUF), format conversion. */
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

#endif
