/* The W4 layout's dequantization of two codes to an fp16 pair, shared by the kernels that
 * build fp16 weights from it (w4_dequant.cu: the whole weight; w4_gemm.cu: a tile in
 * shared memory), so both give qf_cuda_w4_dequant_ref's bits. Internal to runtime/cuda. */
#ifndef QF_CUDA_W4_DEQ_CUH
#define QF_CUDA_W4_DEQ_CUH

#include <cuda_fp16.h>
#include <stdint.h>

/* Columns 8j + 2k and 8j + 2k + 1 of the word: fp16(s (q - z)) each, the product exact in
 * fp32 (an fp16 scale times an integer of at most 4 bits) and rounded once. */
static __device__ __forceinline__ uint32_t qf_w4_deq_pair(uint32_t word, int k, float s,
                                                          float z) {
    const float lo = (float)((word >> (4 * k)) & 15u), hi = (float)((word >> (16 + 4 * k)) & 15u);
    const __half a = __float2half_rn(s * (lo - z)), b = __float2half_rn(s * (hi - z));
    return (uint32_t)__half_as_ushort(a) | (uint32_t)__half_as_ushort(b) << 16;
}

/* The scale s and zero z of a (row, group) pair word: fp16 scale, fp16 1024 + zero. */
static __device__ __forceinline__ void qf_w4_deq_sz(uint32_t p, float *s, float *z) {
    *s = __half2float(__ushort_as_half((unsigned short)(p & 0xFFFFu)));
    *z = __half2float(__ushort_as_half((unsigned short)(p >> 16))) - 1024.0f;
}

/* The word's 8 fp16 weights, one 16-byte store. */
static __device__ __forceinline__ uint4 qf_w4_deq_word(uint32_t w, float s, float z) {
    return make_uint4(qf_w4_deq_pair(w, 0, s, z), qf_w4_deq_pair(w, 1, s, z),
                      qf_w4_deq_pair(w, 2, s, z), qf_w4_deq_pair(w, 3, s, z));
}

#endif
