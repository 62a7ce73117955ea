# Quantized CPU linears (runtime/cpu/qlinear*.c, qgemv_*.c): repacking, the scalar and SIMD
# GEMVs and the prefill path against qf_qweight_dequant_ref + a naive matmul.
qf_add_test(test_qkernels SOURCES test_qkernels.c LABELS unit)
# The runtime on GPTQ checkpoints (made from fixtures/runtime/ by RTN + the GPTQ writer) vs
# the runtime on the same weights dequantized to F32.
qf_add_test(test_qruntime SOURCES test_qruntime.c LABELS unit)
qf_add_test(test_i8kernels SOURCES test_i8kernels.c LABELS unit)
