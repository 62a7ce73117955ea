/* The GPU GPTQ's kernels: Hessian check, column gather, group parameters, the reversed
 * damped matrix and its inverse factor's extraction, and the per-block column loop.
 * Scalar arithmetic from gptq_math.h (the CPU's rounding, no FMA). */
#include "gptq/cuda/internal.h"

#define GCU_THREADS 256
#define GCU_BLOCK_THREADS 128 /* threads of the column-loop kernel */
#define GCU_BLOCK_ROWS 16     /* output rows it handles at most */
#define GCU_SMEM 48128 /* dynamic shared memory: 48 KiB without opt-in, less the static */

static unsigned gcu_grid(int64_t n) { return (unsigned)((n + GCU_THREADS - 1) / GCU_THREADS); }

__global__ void gcu_nonfinite_kernel(const float *h, int64_t n, int *count) {
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n * n;
         k += (int64_t)gridDim.x * blockDim.x)
        if (k % n >= k / n && !isfinite(h[k])) atomicAdd(count, 1);
}

qf_status qf_gcu_count_nonfinite(const float *h, int64_t n, int *count) {
    QF_CUDA_TRY(cudaMemset(count, 0, sizeof(int)), "gptq: clearing a counter");
    gcu_nonfinite_kernel<<<1024, GCU_THREADS>>>(h, n, count);
    QF_CUDA_LAUNCHED("gptq: Hessian check kernel");
    return QF_STATUS_OK;
}

__global__ void gcu_gather_w_kernel(const float *w, const float *h, const int32_t *perm,
                                    int64_t out, int64_t in, float *wp) {
    int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (k >= out * in) return;
    const int64_t o = k / in, pc = perm[k % in];
    wp[k] = h[pc * in + pc] == 0.0f ? 0.0f : w[o * in + pc];
}

qf_status qf_gcu_gather_w(const float *w, const float *h, const int32_t *perm, int64_t out,
                          int64_t in, float *wp) {
    gcu_gather_w_kernel<<<gcu_grid(out * in), GCU_THREADS>>>(w, h, perm, out, in, wp);
    QF_CUDA_LAUNCHED("gptq: column gather kernel");
    return QF_STATUS_OK;
}

/* one thread a row: the rows read apart are few (<= 2^bits * group) and cached */
__global__ void gcu_params_kernel(const float *w, int64_t ld, int64_t rows, int64_t cols,
                                  qf_gcu_grid grid, float *scale, uint8_t *zero) {
    int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (o >= rows) return;
    float s;
    int z;
    qf_gcu_row_params(w + o * ld, cols, &grid, &s, &z);
    scale[o] = s;
    zero[o] = (uint8_t)z;
}

qf_status qf_gcu_params(const float *w, int64_t ld, int64_t rows, int64_t cols,
                        const qf_gcu_grid *grid, float *scale, uint8_t *zero) {
    gcu_params_kernel<<<gcu_grid(rows), GCU_THREADS>>>(w, ld, rows, cols, *grid, scale, zero);
    QF_CUDA_LAUNCHED("gptq: group parameter kernel");
    return QF_STATUS_OK;
}

__global__ void gcu_build_a_kernel(const float *h, const int32_t *perm, const float *diag,
                                   int64_t n, float damp, float *a) {
    int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (k >= n * n) return;
    const int64_t i = n - 1 - k / n, j = n - 1 - k % n; /* position in the permuted H */
    if (i == j) {
        a[k] = QF_GCU_ADD(diag[i], damp);
    } else {
        const int64_t pi = perm[i], pj = perm[j];
        a[k] = h[(pi < pj ? pi : pj) * n + (pi < pj ? pj : pi)];
    }
}

qf_status qf_gcu_build_a(const float *h, const int32_t *perm, const float *diag, int64_t n,
                         float damp, float *a) {
    gcu_build_a_kernel<<<gcu_grid(n * n), GCU_THREADS>>>(h, perm, diag, n, damp, a);
    QF_CUDA_LAUNCHED("gptq: damped Hessian kernel");
    return QF_STATUS_OK;
}

__global__ void gcu_extract_kernel(const float *a, int64_t n, float *hinv) {
    int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (k >= n * n) return;
    const int64_t i = k / n, j = k % n; /* column-major Linv(r, c) = a[c * n + r] */
    hinv[k] = j >= i ? a[(n - 1 - j) * n + (n - 1 - i)] : 0.0f;
}

qf_status qf_gcu_extract_hinv(const float *a, int64_t n, float *hinv) {
    gcu_extract_kernel<<<gcu_grid(n * n), GCU_THREADS>>>(a, n, hinv);
    QF_CUDA_LAUNCHED("gptq: inverse factor kernel");
    return QF_STATUS_OK;
}

/* A thread block owns `rows` output rows of the block's cnt columns, staged in shared
 * memory (rows, cnt + 1; the odd stride keeps a column's rows in distinct banks). Rows
 * are independent, so all that is sequential is the column loop: for each column j,
 * one thread per row codes it and computes its error (kept in the column's slot, which
 * is not read again), then all threads update the rest of the block, w[r][t] -=
 * e[r] * Hinv[j][t], t > j: each weight sees the same subtractions in the same order
 * and rounding as gptq_column on the CPU. */
__global__ void gcu_block_kernel(const float *wp, int64_t out, int64_t in, int64_t i1, int cnt,
                                 int rows, const float *hinv, const float *scales,
                                 const uint8_t *zeros, const int32_t *group, const int32_t *perm,
                                 int maxq, uint8_t *q, float *err) {
    extern __shared__ float tile[];
    __shared__ float e[GCU_BLOCK_ROWS];
    const int ld = cnt + 1, tid = threadIdx.x;
    const int64_t r0 = (int64_t)blockIdx.x * rows;
    const int nr = out - r0 < rows ? (int)(out - r0) : rows;
    for (int k = tid; k < nr * cnt; k += blockDim.x)
        tile[k / cnt * ld + k % cnt] = wp[(r0 + k / cnt) * in + i1 + k % cnt];
    __syncthreads();
    for (int j = 0; j < cnt; j++) {
        const int64_t c = i1 + j;
        const float *hrow = hinv + c * in + i1;
        if (tid < nr) {
            const int64_t o = r0 + tid, gi = (int64_t)group[c] * out + o;
            const float s = scales[gi], x = tile[tid * ld + j];
            const int z = zeros[gi], code = qf_gcu_code(x, s, z, maxq);
            q[o * in + perm[c]] = (uint8_t)code;
            e[tid] = tile[tid * ld + j] = qf_gcu_error(x, s, code, z, QF_GCU_DIV(1.0f, hrow[j]));
        }
        __syncthreads();
        const int rest = cnt - j - 1;
        for (int k = tid; k < nr * rest; k += blockDim.x) {
            const int r = k / rest, t = j + 1 + k % rest;
            tile[r * ld + t] = QF_GCU_SUB(tile[r * ld + t], QF_GCU_MUL(e[r], hrow[t]));
        }
        __syncthreads();
    }
    for (int k = tid; k < nr * cnt; k += blockDim.x)
        err[(r0 + k / cnt) * cnt + k % cnt] = tile[k / cnt * ld + k % cnt];
}

qf_status qf_gcu_block(const float *wp, int64_t out, int64_t in, int64_t i1, int64_t cnt,
                       const float *hinv, const float *scales, const uint8_t *zeros,
                       const int32_t *group, const int32_t *perm, int maxq, uint8_t *q,
                       float *err) {
    int64_t rows = GCU_SMEM / ((cnt + 1) * (int64_t)sizeof(float));
    rows = rows > GCU_BLOCK_ROWS ? GCU_BLOCK_ROWS : rows;
    QF_RETURN_IF(rows < 1, QF_STATUS_UNSUPPORTED, "gptq: block of %lld columns too wide",
                 (long long)cnt);
    const unsigned blocks = (unsigned)((out + rows - 1) / rows);
    const size_t smem = (size_t)rows * (size_t)(cnt + 1) * sizeof(float);
    gcu_block_kernel<<<blocks, GCU_BLOCK_THREADS, smem>>>(wp, out, in, i1, (int)cnt, (int)rows,
                                                          hinv, scales, zeros, group, perm,
                                                          maxq, q, err);
    QF_CUDA_LAUNCHED("gptq: column loop kernel");
    return QF_STATUS_OK;
}
