/* W4A16 decode GEMV bandwidth vs the device-to-device copy bandwidth of the same GPU in
 * the same run (the issue's target: >= 80% of the copy at 4096 x 4096 and 4096 x 11008,
 * g128). Bytes counted: GEMV = codes + scales/zeros + prepared activations + output;
 * copy = read + write (2 x buffer). The weights are rotated over enough copies to
 * overflow L2 several times, so every call streams them from DRAM. Each GEMV time is
 * given for back-to-back launches on a stream and for the same launches replayed as a
 * CUDA graph (less launch overhead), and for prep + GEMV (the act-order gather and fp16
 * conversion of x included). Before timing, each shape's result is checked against
 * qf_cuda_w4_gemv_ref. Then the prefill (the issue's batch 16 and 128): the runtime's W4
 * path (GEMV calls of 8 tokens below QF_CUDA_W4_GEMM_MIN_M, else dequantize + cuBLAS fp16
 * GEMM) and the fused W4 GEMM, timed at each size, against cuBLAS on the same weight already in fp16 (what
 * an F16 model runs); ratio = cuBLAS fp16 time / W4 time. Exits 77 without a GPU. Built by
 * CMake (target cuda_gemv) and by bench/cuda_gemv.sh. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/cuda/cuda_kernels.h"

#define TRY(call)                                                                  \
    do {                                                                           \
        if ((call) != QF_STATUS_OK) {                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,          \
                    qf_error_message());                                           \
            exit(1);                                                               \
        }                                                                          \
    } while (0)
#define CUTRY(call)                                                                \
    do {                                                                           \
        cudaError_t e_ = (call);                                                   \
        if (e_ != cudaSuccess) {                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,          \
                    cudaGetErrorString(e_));                                       \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float frand(void) { return (float)((next() >> 40) * (1.0 / (1 << 23)) - 1.0); }

/* Milliseconds of `iters` runs of f(i) on stream s, after 3 warm-up runs. */
template <class F>
static double time_ms(cudaStream_t s, int iters, F f) {
    cudaEvent_t a, b;
    CUTRY(cudaEventCreate(&a));
    CUTRY(cudaEventCreate(&b));
    for (int i = 0; i < 3; i++) f(i);
    CUTRY(cudaEventRecord(a, s));
    for (int i = 0; i < iters; i++) f(i);
    CUTRY(cudaEventRecord(b, s));
    CUTRY(cudaEventSynchronize(b));
    float ms = 0;
    CUTRY(cudaEventElapsedTime(&ms, a, b));
    CUTRY(cudaEventDestroy(a));
    CUTRY(cudaEventDestroy(b));
    return ms;
}

static double copy_gbs(cudaStream_t s) {
    size_t free_b = 0, total_b = 0;
    CUTRY(cudaMemGetInfo(&free_b, &total_b));
    size_t bytes = (size_t)1 << 30;
    while (bytes > free_b / 4) bytes /= 2;
    void *a, *b;
    CUTRY(cudaMalloc(&a, bytes));
    CUTRY(cudaMalloc(&b, bytes));
    CUTRY(cudaMemset(a, 1, bytes));
    const int iters = 20;
    const double ms = time_ms(s, iters, [&](int) {
        CUTRY(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s));
    });
    CUTRY(cudaFree(a));
    CUTRY(cudaFree(b));
    const double gbs = 2.0 * (double)bytes * iters / (ms * 1e-3) / 1e9;
    printf("device-to-device copy, %zu MiB: %.0f GB/s (read + write)\n", bytes >> 20, gbs);
    return gbs;
}

/* A random 4-bit g128 weight (act-order g_idx with a random permutation when act). */
static qf_qweight make_weight(int64_t out, int64_t in, int act) {
    qf_qweight w;
    TRY(qf_qweight_init(&w, 4, 0, out, in, 128, act));
    for (int64_t k = 0; k < out * in; k++) w.q[k] = (uint8_t)(next() % 16);
    for (int64_t k = 0; k < w.n_groups * out; k++) {
        w.scales[k] = 0.01f + 0.01f * (frand() + 1.0f);
        w.zeros[k] = (uint8_t)(next() % 16);
    }
    if (act) { /* GPTQ desc_act: group of each column's rank in a random permutation */
        int64_t *perm = (int64_t *)malloc((size_t)in * sizeof *perm);
        for (int64_t i = 0; i < in; i++) perm[i] = i;
        for (int64_t i = in - 1; i > 0; i--) {
            const int64_t j = (int64_t)(next() % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int64_t r = 0; r < in; r++) w.g_idx[perm[r]] = (int32_t)(r / 128);
        free(perm);
    }
    return w;
}

/* y^T (out, m) = alpha wh (col-major (kp, out)) op T times xh^T (kp, m), fp32 out. */
static void gemm_f16(cublasHandle_t h, const uint16_t *wh, const uint16_t *xh, float *y,
                     int64_t out, int64_t kp, int64_t m, float alpha) {
    const float beta = 0.0f;
    if (cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)m, (int)kp, &alpha, wh,
                     CUDA_R_16F, (int)kp, xh, CUDA_R_16F, (int)kp, &beta, y, CUDA_R_32F,
                     (int)out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "cublasGemmEx failed\n");
        exit(1);
    }
}

/* Prefill of m tokens through one (out, in) W4 weight: GEMV calls, dequantize + GEMM, the
 * fused GEMM and cuBLAS on the fp16 weight; weights rotated over copies that overflow L2. */
static void bench_prefill(cudaStream_t s, cublasHandle_t h, int l2, int64_t out, int64_t in,
                          int64_t m) {
    qf_qweight w = make_weight(out, in, 1);
    qf_cuda_w4 l;
    TRY(qf_cuda_w4_init(&l, &w, "bench"));
    const size_t nwh = (size_t)(out * l.kp);
    int copies = (int)(4.0 * l2 / (double)(nwh * 2)) + 2;
    if (copies > 16) copies = 16;
    qf_cuda_w4_dev d[16];
    uint16_t *wh16[16], *scratch, *dxh;
    float *dx, *dy;
    for (int c = 0; c < copies; c++) {
        TRY(qf_cuda_w4_upload(&d[c], &l));
        TRY(qf_cuda_malloc((void **)&wh16[c], nwh * 2, "fp16 weight"));
        TRY(qf_cuda_w4_dequant(&d[c], wh16[c], s));
    }
    TRY(qf_cuda_malloc((void **)&scratch, nwh * 2, "dequant scratch"));
    float *x = (float *)malloc((size_t)(m * in) * 4), *y = (float *)malloc((size_t)(m * out) * 4);
    float *y_ref = (float *)malloc((size_t)(m * out) * 4);
    for (int64_t k = 0; k < m * in; k++) x[k] = frand();
    TRY(qf_cuda_malloc((void **)&dx, (size_t)(m * in) * 4, "x"));
    TRY(qf_cuda_malloc((void **)&dy, (size_t)(m * out) * 4, "y"));
    TRY(qf_cuda_malloc((void **)&dxh, (size_t)(m * l.kp) * 2, "xh"));
    TRY(qf_cuda_upload(dx, x, (size_t)(m * in) * 4));
    TRY(qf_cuda_w4_prep(&d[0], dx, m, dxh, s));
    const float up = (float)(1 << QF_CUDA_W4_XSHIFT);
    auto gemv_path = [&](int i) {
        for (int64_t t0 = 0; t0 < m; t0 += QF_CUDA_W4_MAX_M) {
            const int64_t mm = m - t0 < QF_CUDA_W4_MAX_M ? m - t0 : QF_CUDA_W4_MAX_M;
            TRY(qf_cuda_w4_gemv(&d[i % copies], dxh + t0 * l.kp, mm, dy + t0 * out, s));
        }
    };
    auto deq_path = [&](int i) {
        TRY(qf_cuda_w4_dequant(&d[i % copies], scratch, s));
        gemm_f16(h, scratch, dxh, dy, out, l.kp, m, up);
    };
    auto fused_path = [&](int i) { TRY(qf_cuda_w4_gemm(&d[i % copies], dxh, m, dy, 0, s)); };
    /* checked: the dequantize + GEMM and the fused results, on the first 8 tokens (the
       double reference of all 128 would take the CPU tens of seconds) */
    const int64_t mc = m < 8 ? m : 8;
    qf_cuda_w4_gemv_ref(&l, x, mc, y_ref);
    double err = 0, err_fused = 0, big = 0;
    for (int path = 0; path < 2; path++) {
        if (path == 0) deq_path(0);
        else fused_path(0);
        TRY(qf_cuda_sync());
        TRY(qf_cuda_download(y, dy, (size_t)(m * out) * 4));
        for (int64_t k = 0; k < mc * out; k++) {
            const double e = fabs((double)y[k] - y_ref[k]);
            if (path == 0) err = fmax(err, e), big = fmax(big, fabs((double)y_ref[k]));
            else err_fused = fmax(err_fused, e);
        }
    }
    const int iters = 20 * copies;
    const double t_gemv = time_ms(s, iters, gemv_path) * 1e3 / iters;
    const double t_deq = time_ms(s, iters, deq_path) * 1e3 / iters;
    const double t_fused = time_ms(s, iters, fused_path) * 1e3 / iters;
    const double t_f16 = time_ms(s, iters, [&](int i) {
        gemm_f16(h, wh16[i % copies], dxh, dy, out, l.kp, m, up);
    }) * 1e3 / iters;
    const double t_path = m >= QF_CUDA_W4_GEMM_MIN_M ? t_deq : t_gemv;
    printf("W4 prefill %5lld x %5lld g128 act-order m=%3lld: GEMV x%lld %7.1f us | dequant+GEMM "
           "%7.1f us | fused GEMM %7.1f us | cuBLAS fp16 %7.1f us | runtime path (%s) ratio %.2f, "
           "fused ratio %.2f | max err %.2g (fused %.2g) of max|y| %s\n",
           (long long)out, (long long)in, (long long)m,
           (long long)((m + QF_CUDA_W4_MAX_M - 1) / QF_CUDA_W4_MAX_M), t_gemv, t_deq, t_fused,
           t_f16, m >= QF_CUDA_W4_GEMM_MIN_M ? "dequant+GEMM" : "GEMV", t_f16 / t_path,
           t_f16 / t_fused, err / big, err_fused / big,
           err <= 1e-2 * big && err_fused <= 1e-2 * big ? "ok" : "WRONG");
    for (int c = 0; c < copies; c++) {
        qf_cuda_w4_dev_free(&d[c]);
        qf_cuda_free(wh16[c]);
    }
    qf_cuda_free(scratch);
    qf_cuda_free(dx);
    qf_cuda_free(dy);
    qf_cuda_free(dxh);
    free(x);
    free(y);
    free(y_ref);
    qf_cuda_w4_free(&l);
    qf_qweight_free(&w);
}

/* One shape: checks the m-token GEMV once, then times it (stream, graph, with prep). */
static void bench_shape(cudaStream_t s, int l2, double copy, int64_t out, int64_t in, int act,
                        int64_t m, int target) {
    qf_qweight w = make_weight(out, in, act);
    qf_cuda_w4 l;
    TRY(qf_cuda_w4_init(&l, &w, "bench"));
    const size_t wbytes = qf_cuda_w4_bytes(&l);
    int copies = (int)(4.0 * l2 / (double)wbytes) + 2;
    if (copies > 64) copies = 64;
    qf_cuda_w4_dev d[64];
    for (int c = 0; c < copies; c++) TRY(qf_cuda_w4_upload(&d[c], &l));
    float *x = (float *)malloc((size_t)(m * in) * 4), *y = (float *)malloc((size_t)(m * out) * 4);
    float *y_ref = (float *)malloc((size_t)(m * out) * 4);
    for (int64_t k = 0; k < m * in; k++) x[k] = frand();
    float *dx, *dy;
    uint16_t *dxh;
    TRY(qf_cuda_malloc((void **)&dx, (size_t)(m * in) * 4, "x"));
    TRY(qf_cuda_malloc((void **)&dy, (size_t)(m * out) * 4, "y"));
    TRY(qf_cuda_malloc((void **)&dxh, (size_t)(m * l.kp) * 2, "xh"));
    TRY(qf_cuda_upload(dx, x, (size_t)(m * in) * 4));
    TRY(qf_cuda_w4_prep(&d[0], dx, m, dxh, s));
    TRY(qf_cuda_w4_gemv(&d[copies - 1], dxh, m, dy, s));
    TRY(qf_cuda_sync());
    TRY(qf_cuda_download(y, dy, (size_t)(m * out) * 4));
    qf_cuda_w4_gemv_ref(&l, x, m, y_ref);
    double err = 0, big = 0;
    for (int64_t k = 0; k < m * out; k++) {
        err = fmax(err, fabs((double)y[k] - y_ref[k]));
        big = fmax(big, fabs((double)y_ref[k]));
    }

    const int iters = 50 * copies > 400 ? 50 * copies : 400;
    const double t_stream = time_ms(s, iters, [&](int i) {
        TRY(qf_cuda_w4_gemv(&d[i % copies], dxh, m, dy, s));
    }) * 1e3 / iters;
    const double t_both = time_ms(s, iters, [&](int i) {
        TRY(qf_cuda_w4_prep(&d[i % copies], dx, m, dxh, s));
        TRY(qf_cuda_w4_gemv(&d[i % copies], dxh, m, dy, s));
    }) * 1e3 / iters;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUTRY(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    for (int i = 0; i < iters; i++) TRY(qf_cuda_w4_gemv(&d[i % copies], dxh, m, dy, s));
    CUTRY(cudaStreamEndCapture(s, &graph));
    CUTRY(cudaGraphInstantiate(&exec, graph, 0));
    const double t_graph =
        time_ms(s, 3, [&](int) { CUTRY(cudaGraphLaunch(exec, s)); }) * 1e3 / (3.0 * iters);
    CUTRY(cudaGraphExecDestroy(exec));
    CUTRY(cudaGraphDestroy(graph));

    const double bytes = (double)wbytes + (double)(m * l.kp) * 2 + (double)(m * out) * 4;
    const double gs = bytes / t_stream * 1e-3, gg = bytes / t_graph * 1e-3;
    printf("W4 GEMV %5lld x %5lld g128 %-9s m=%lld: stream %6.2f us %5.0f GB/s (%.2f of copy)"
           " | graph %6.2f us %5.0f GB/s (%.2f) | prep+GEMV %6.2f us | %d copies of %.1f MB"
           " | max err %.2g of max|y| %s\n",
           (long long)out, (long long)in, act ? "act-order" : "plain", (long long)m, t_stream,
           gs, gs / copy, t_graph, gg, gg / copy, t_both, copies, wbytes / 1e6, err / big,
           err <= 1e-2 * big ? "ok" : "WRONG");
    if (target)
        printf("  target >= 0.80 of copy: stream %s, graph %s\n",
               gs >= 0.8 * copy ? "met" : "NOT met", gg >= 0.8 * copy ? "met" : "NOT met");
    const qf_cuda_w4_variant *v;
    const int nv = m == 1 ? qf_cuda_w4_variants(&v) : 0;
    for (int k = 0; k < nv; k++) { /* the candidate layouts: checked, then timed */
        TRY(qf_cuda_w4_gemv_variant(&d[copies - 1], dxh, dy, k, s));
        TRY(qf_cuda_sync());
        TRY(qf_cuda_download(y, dy, (size_t)out * 4));
        double ek = 0;
        for (int64_t i = 0; i < out; i++) ek = fmax(ek, fabs((double)y[i] - y_ref[i]));
        const double tk = time_ms(s, iters, [&](int i) {
            TRY(qf_cuda_w4_gemv_variant(&d[i % copies], dxh, dy, k, s));
        }) * 1e3 / iters;
        const double gk = bytes / tk * 1e-3;
        printf("  variant %d (rows %d, warps %d, unroll %d): stream %6.2f us %5.0f GB/s (%.2f of "
               "copy) | max err %.2g of max|y| %s\n",
               k, v[k].rows, v[k].warps, v[k].unroll, tk, gk, gk / copy, ek / big,
               ek <= 1e-2 * big ? "ok" : "WRONG");
    }
    for (int c = 0; c < copies; c++) qf_cuda_w4_dev_free(&d[c]);
    qf_cuda_free(dx);
    qf_cuda_free(dy);
    qf_cuda_free(dxh);
    free(x);
    free(y);
    free(y_ref);
    qf_cuda_w4_free(&l);
    qf_qweight_free(&w);
}

int main(void) {
    if (qf_cuda_device_check() != QF_STATUS_OK) {
        printf("cuda_gemv: SKIPPED (no GPU: %s)\n", qf_error_message());
        return 77;
    }
    cudaDeviceProp p;
    CUTRY(cudaGetDeviceProperties(&p, 0));
    printf("%s (sm_%d%d, %d SMs, L2 %d MiB, %.0f GiB)\n", p.name, p.major, p.minor,
           p.multiProcessorCount, p.l2CacheSize >> 20, p.totalGlobalMem / 1073741824.0);
    cudaStream_t s;
    CUTRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const double copy = copy_gbs(s);
    static const struct {
        int64_t out, in, m;
        int target;
    } shapes[] = {{4096, 4096, 1, 1}, {4096, 11008, 1, 1}, {11008, 4096, 1, 0},
                  {4096, 4096, 8, 0}, {4096, 11008, 8, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int act = 0; act < 2; act++)
            bench_shape(s, p.l2CacheSize, copy, shapes[i].out, shapes[i].in, act, shapes[i].m,
                        shapes[i].target);
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS || cublasSetStream(h, s) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "cuBLAS handle\n");
        return 1;
    }
    static const int64_t pshapes[][2] = {{4096, 4096}, {4096, 11008}, {11008, 4096}};
    for (int i = 0; i < 3; i++)
        for (int64_t m = 16; m <= 128; m *= 8) bench_prefill(s, h, p.l2CacheSize, pshapes[i][0], pshapes[i][1], m);
    cublasDestroy(h);
    copy_gbs(s); /* again: the copy rate should not have drifted */
    CUTRY(cudaStreamDestroy(s));
    return 0;
}
