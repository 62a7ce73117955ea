# The CUDA backend. test_cuda_w4_layout: the W4 layout's repacking and CPU references
# (plain C, runs on every machine, CUDA built or not). test_cuda_kernels (only when CUDA
# is built): every CUDA kernel against its CPU reference on a GPU; without a GPU it prints
# "CUDA kernels: SKIPPED (no GPU: ...)" and exits 77, which ctest reports as skipped.
qf_add_test(test_cuda_w4_layout SOURCES test_cuda_w4_layout.c LABELS unit)
if(QF_HAVE_CUDA)
  qf_add_test(test_cuda_kernels SOURCES test_cuda_kernels.c LABELS cuda)
endif()
# GPTQ on the GPU (gptq/cuda/). test_cuda_gptq_host (plain C, every machine): the kernels'
# scalar arithmetic, the host plan and a CPU emulation of the GPU steps against gptq/.
# test_cuda_gptq (only with CUDA): GPU vs CPU GPTQ on a GPU, else SKIPPED (77).
qf_add_test(test_cuda_gptq_host SOURCES test_cuda_gptq_host.c LABELS unit)
target_link_libraries(test_cuda_gptq_host PRIVATE PkgConfig::CJSON)
if(QF_HAVE_CUDA)
  qf_add_test(test_cuda_gptq SOURCES test_cuda_gptq.c LABELS cuda)
  target_link_libraries(test_cuda_gptq PRIVATE PkgConfig::CJSON)
endif()
# Attention on the GPU (runtime/cuda/attention*). test_cuda_attention_ref (plain C, every
# machine): shape check, decode split plan, cache appends and the double references against
# the CPU runtime's attention. test_cuda_attention (only with CUDA): every attention kernel
# against its reference on a GPU, else "CUDA attention: SKIPPED (no GPU: ...)" (77).
qf_add_test(test_cuda_attention_ref SOURCES test_cuda_attention_ref.c LABELS unit)
if(QF_HAVE_CUDA)
  qf_add_test(test_cuda_attention SOURCES test_cuda_attention.c LABELS cuda)
endif()
# The GPU runtime (runtime/cuda/forward*.cu) vs the CPU runtime on checkpoints written by the
# test (float with biases, sliding window, GPTQ 4-bit act-order): only with CUDA, and on a
# GPU, else "CUDA forward: SKIPPED (no GPU: ...)" (77).
if(QF_HAVE_CUDA)
  qf_add_test(test_cuda_forward SOURCES test_cuda_forward.c LABELS cuda)
endif()
# GPTQ's calibration passes on the GPU (pipeline/cuda/). test_layer_gemms (plain C, every
# machine): the layer's cuBLAS calls as data (pipeline/layer_gemms.h) through a CPU
# emulation of cuBLAS against the CPU layer. test_cuda_qlayer (only with CUDA): the causal
# softmax kernel and a random layer's passes, Hessians and activations against the CPU's
# (pipeline/layer.h), fp32 and TF32, on a GPU, else SKIPPED (77).
qf_add_test(test_layer_gemms SOURCES test_layer_gemms.c LABELS unit)
if(QF_HAVE_CUDA)
  qf_add_test(test_cuda_qlayer SOURCES test_cuda_qlayer.c LABELS cuda)
endif()
# AWQ's scale search on the GPU (pipeline/cuda/awq_cuda.cu): the fake quantization bit for
# bit and a random layer's statistics and block-output losses against the CPU's; only with
# CUDA, and on a GPU, else SKIPPED (77).
if(QF_HAVE_CUDA)
  qf_add_test(test_cuda_awq SOURCES test_cuda_awq.c LABELS cuda)
endif()
