/* CUDA backend entry: reports the visible GPUs, or why none can be used. Kernels land
 * here (each with a CPU _ref it is tested against) as the GPU runtime is built. */
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" {
#include "runtime/backend.h"
}

static int qf_cuda_available(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

static void qf_cuda_describe(char *buf, size_t n) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        snprintf(buf, n, "no usable GPU (%s)",
                 err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
        return;
    }
    size_t used = 0;
    for (int i = 0; i < count && used < n; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        int w = snprintf(buf + used, n - used, "%s%s (sm_%d%d, %.0f GiB)", i ? ", " : "", p.name,
                         p.major, p.minor, (double)p.totalGlobalMem / (1024.0 * 1024 * 1024));
        if (w < 0) break;
        used += (size_t)w;
    }
}

extern "C" const qf_backend qf_backend_cuda = {
    "cuda",
    qf_cuda_available,
    qf_cuda_describe,
};
