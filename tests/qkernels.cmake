# Quantized CPU linears (runtime/cpu/qlinear*.c, qgemv_*.c): repacking, the scalar and SIMD
# GEMVs and the prefill path against qf_qweight_dequant_ref + a naive matmul.
qf_add_test(test_qkernels SOURCES test_qkernels.c LABELS unit)
