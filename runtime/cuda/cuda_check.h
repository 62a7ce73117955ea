/* Internal to the CUDA sources (runtime/cuda, gptq/cuda): CUDA errors turned into
 * qf_status with a message, and the launch check every kernel wrapper ends with. */
#ifndef QF_CUDA_CHECK_H
#define QF_CUDA_CHECK_H

#include <cuda_runtime.h>

#include "runtime/cuda/cuda_kernels.h"

/* Sets the message "<what>: <cudaErrorName>: <description>" and returns NOMEM for out of
 * device memory, UNSUPPORTED for no device / driver, IO for anything else. */
qf_status qf_cuda_status(cudaError_t err, const char *what);

#define QF_CUDA_TRY(call, what)                                       \
    do {                                                              \
        cudaError_t qf__e = (call);                                   \
        if (qf__e != cudaSuccess) return qf_cuda_status(qf__e, what); \
    } while (0)

/* After a launch: configuration and launch errors (not execution errors). */
#define QF_CUDA_LAUNCHED(what) QF_CUDA_TRY(cudaGetLastError(), what)

#endif
