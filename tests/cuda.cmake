# The CUDA backend. test_cuda_w4_layout: the W4 layout's repacking and CPU references
# (plain C, runs on every machine, CUDA built or not). test_cuda_kernels (only when CUDA
# is built): every CUDA kernel against its CPU reference on a GPU; without a GPU it prints
# "CUDA kernels: SKIPPED (no GPU: ...)" and exits 77, which ctest reports as skipped.
qf_add_test(test_cuda_w4_layout SOURCES test_cuda_w4_layout.c LABELS unit)
if(QF_HAVE_CUDA)
  qf_add_test(test_cuda_kernels SOURCES test_cuda_kernels.c LABELS cuda)
endif()
