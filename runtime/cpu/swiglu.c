/* The SwiGLU activation of the Llama MLP: silu(gate) * up, with silu(x) = x / (1 + e^-x)
 * as torch computes it in float32. Plain scalar code: it is its own reference. */
#include <math.h>

#include "runtime/cpu/kernels.h"

void qf_cpu_swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
