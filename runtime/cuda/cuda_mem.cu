/* CUDA error mapping, device check and the device memory helpers of cuda_kernels.h. */
#include "runtime/cuda/cuda_check.h"

qf_status qf_cuda_status(cudaError_t err, const char *what) {
    qf_status code = QF_STATUS_IO;
    if (err == cudaErrorMemoryAllocation) code = QF_STATUS_NOMEM;
    if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
        err == cudaErrorNotSupported || err == cudaErrorNoKernelImageForDevice)
        code = QF_STATUS_UNSUPPORTED;
    return qf_error_set(code, "%s: %s: %s", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

qf_status qf_cuda_device_check(void) {
    int n = 0;
    QF_CUDA_TRY(cudaGetDeviceCount(&n), "cudaGetDeviceCount");
    QF_RETURN_IF(n <= 0, QF_STATUS_UNSUPPORTED, "cudaGetDeviceCount: 0 devices");
    QF_CUDA_TRY(cudaFree(0), "creating the CUDA context");
    return QF_STATUS_OK;
}

qf_status qf_cuda_malloc(void **p, size_t bytes, const char *what) {
    *p = NULL;
    QF_CUDA_TRY(cudaMalloc(p, bytes ? bytes : 1), what);
    return QF_STATUS_OK;
}

void qf_cuda_free(void *p) {
    if (p) cudaFree(p);
}

qf_status qf_cuda_upload(void *dst, const void *src, size_t bytes) {
    QF_CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy to the device");
    return QF_STATUS_OK;
}

qf_status qf_cuda_download(void *dst, const void *src, size_t bytes) {
    QF_CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy from the device");
    return QF_STATUS_OK;
}

qf_status qf_cuda_sync(void) {
    QF_CUDA_TRY(cudaDeviceSynchronize(), "device synchronize");
    return QF_STATUS_OK;
}
