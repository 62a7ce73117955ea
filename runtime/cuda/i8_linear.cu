/* W8A8 linears on the GPU, the CPU's integer path (runtime/cpu/i8linear.h) step for step:
 * activations quantized per token (max|x| / 127.5, or the static per-tensor scale) with
 * round half to even, an exact int8 x int8 -> int32 GEMM through cuBLAS (tensor cores),
 * then y = float(acc) * (x_scale * w_scale[o]). Every float operation is written with
 * explicit rounding (no contraction) so that the codes, the scales and y are the CPU's
 * bits. */
#include <stdlib.h>

#include <cublas_v2.h>

#include "runtime/cuda/cuda_check.h"

#define QF_I8_THREADS 256

static __device__ __forceinline__ int8_t qf_i8_code(float v, float scale) {
    const float q = __fdiv_rn(v, scale), a = fabsf(q);
    float r = q;
    if (a < 0x1p23f) r = copysignf(__fsub_rn(__fadd_rn(a, 0x1p23f), 0x1p23f), q);
    r = r > 127.0f ? 127.0f : r;
    return (int8_t)(r >= -128.0f ? r : -128.0f); /* NaN: -128, as the CPU */
}

/* One block per token: the scale (max|x| / 127.5 unless static), then the codes. */
static __global__ void __launch_bounds__(QF_I8_THREADS)
    qf_i8_quantize_kernel(const float *__restrict__ x, int64_t in, int64_t kp, float in_scale,
                          int8_t *__restrict__ xq, float *__restrict__ xs) {
    __shared__ float red[QF_I8_THREADS];
    const float *xt = x + blockIdx.x * in;
    float scale = in_scale;
    if (!(in_scale > 0.0f)) {
        float mx = 0.0f;
        for (int64_t i = threadIdx.x; i < in; i += QF_I8_THREADS) {
            const float a = fabsf(xt[i]);
            mx = a > mx ? a : mx; /* NaN never wins, as the CPU's loop */
        }
        red[threadIdx.x] = mx;
        __syncthreads();
        for (int s = QF_I8_THREADS / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s && red[threadIdx.x + s] > red[threadIdx.x])
                red[threadIdx.x] = red[threadIdx.x + s];
            __syncthreads();
        }
        scale = __fdiv_rn(red[0], 127.5f);
    }
    int8_t *q = xq + blockIdx.x * kp;
    for (int64_t i = threadIdx.x; i < kp; i += QF_I8_THREADS)
        q[i] = i < in && scale > 0.0f ? qf_i8_code(xt[i], scale) : 0;
    if (threadIdx.x == 0) xs[blockIdx.x] = scale;
}

static __global__ void qf_i8_epilogue_kernel(const int32_t *__restrict__ acc,
                                             const float *__restrict__ xs,
                                             const float *__restrict__ scale, int64_t m,
                                             int64_t out, float *__restrict__ y, int add) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * out;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / out, o = i - t * out;
        const float v = __fmul_rn(__int2float_rn(acc[i]), __fmul_rn(xs[t], scale[o]));
        y[i] = add ? __fadd_rn(y[i], v) : v;
    }
}

extern "C" qf_status qf_cuda_i8_upload(qf_cuda_i8_dev *d, const qf_cpu_i8linear *l) {
    memset(d, 0, sizeof *d);
    /* cuBLAS's int8 path: alpha / beta 0 or 1, A and B 4-byte aligned, lda and ldb (kp,
     * a multiple of QF_CPU_I8_BLOCK) multiples of 4 */
    QF_RETURN_IF(l->kp % 4, QF_STATUS_UNSUPPORTED,
                 "W8A8 on the GPU: %lld padded columns, not a multiple of 4", (long long)l->kp);
    const size_t nw = (size_t)l->out * (size_t)l->kp, ns = (size_t)l->out * sizeof(float);
    int8_t *rows = (int8_t *)malloc(nw); /* cuBLAS takes the rows, not the CPU's packing */
    QF_RETURN_IF(!rows, QF_STATUS_NOMEM, "W8A8 on the GPU: out of host memory (%zu bytes)", nw);
    qf_cpu_i8linear_unpack(l, rows);
    qf_status st = qf_cuda_malloc((void **)&d->w, nw, "W8A8 weights");
    if (st == QF_STATUS_OK) st = qf_cuda_malloc((void **)&d->scale, ns, "W8A8 scales");
    if (st == QF_STATUS_OK) st = qf_cuda_upload(d->w, rows, nw);
    if (st == QF_STATUS_OK) st = qf_cuda_upload(d->scale, l->scale, ns);
    free(rows);
    if (st != QF_STATUS_OK) {
        qf_cuda_i8_dev_free(d);
        return st;
    }
    d->out = l->out, d->in = l->in, d->kp = l->kp, d->in_scale = l->in_scale;
    return QF_STATUS_OK;
}

extern "C" void qf_cuda_i8_dev_free(qf_cuda_i8_dev *d) {
    if (!d) return;
    qf_cuda_free(d->w);
    qf_cuda_free(d->scale);
    memset(d, 0, sizeof *d);
}

extern "C" qf_status qf_cuda_i8_linear(void *cublas, const qf_cuda_i8_dev *d, const float *x,
                                       int64_t m, float *y, int add, qf_cuda_i8_work *wk,
                                       void *stream) {
    QF_RETURN_IF(m < 1 || m > 65535 || !d->w, QF_STATUS_INVALID_ARG,
                 "W8A8 linear: m = %lld or no weights", (long long)m);
    cudaStream_t s = (cudaStream_t)stream;
    qf_i8_quantize_kernel<<<(unsigned)m, QF_I8_THREADS, 0, s>>>(x, d->in, d->kp, d->in_scale,
                                                                 wk->xq, wk->xs);
    QF_CUDA_LAUNCHED("W8A8 activation quantization kernel");
    /* column-major view, as the fp16 linears: acc^T (out, m) = W (kp, out)^T x^T (kp, m) */
    const int32_t one = 1, zero = 0;
    cublasHandle_t h = (cublasHandle_t)cublas;
    cublasStatus_t cs = cublasSetStream(h, s);
    if (cs == CUBLAS_STATUS_SUCCESS)
        cs = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)d->out, (int)m, (int)d->kp, &one,
                          d->w, CUDA_R_8I, (int)d->kp, wk->xq, CUDA_R_8I, (int)d->kp, &zero,
                          wk->acc, CUDA_R_32I, (int)d->out, CUBLAS_COMPUTE_32I,
                          CUBLAS_GEMM_DEFAULT);
    QF_RETURN_IF(cs != CUBLAS_STATUS_SUCCESS, QF_STATUS_IO, "W8A8 linear: cuBLAS int8 GEMM: %s",
                 cublasGetStatusString(cs));
    const int64_t n = m * d->out, threads = 256;
    const int64_t blocks = (n + threads - 1) / threads < 65536 ? (n + threads - 1) / threads : 65536;
    qf_i8_epilogue_kernel<<<(unsigned)blocks, (unsigned)threads, 0, s>>>(wk->acc, wk->xs,
                                                                          d->scale, m, d->out, y, add);
    QF_CUDA_LAUNCHED("W8A8 epilogue kernel");
    return QF_STATUS_OK;
}
