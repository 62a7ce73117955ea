# The CUDA backend. test_cuda_w4_layout: the W4 layout's repacking and CPU references
# (plain C, runs on every machine, CUDA built or not). test_cuda_kernels (only when CUDA
# is built): every CUDA kernel against its CPU reference on a GPU; without a GPU it prints
# "CUDA kernels: SKIPPED (no GPU: ...)" and exits 77, which ctest reports as skipped.
# qf_add_cuda_test(NAME [LIBS ...]): NAME.c with label cuda, only when CUDA is built.
function(qf_add_cuda_test name)
  cmake_parse_arguments(C "" "" "LIBS" ${ARGN})
  if(QF_HAVE_CUDA)
    qf_add_test(${name} SOURCES ${name}.c LABELS cuda)
    if(C_LIBS)
      target_link_libraries(${name} PRIVATE ${C_LIBS})
    endif()
  endif()
endfunction()
qf_add_test(test_cuda_w4_layout SOURCES test_cuda_w4_layout.c LABELS unit)
qf_add_cuda_test(test_cuda_kernels)
# GPTQ on the GPU (gptq/cuda/). test_cuda_gptq_host (plain C, every machine): the kernels'
# scalar arithmetic, the host plan and a CPU emulation of the GPU steps against gptq/.
# test_cuda_gptq (only with CUDA): GPU vs CPU GPTQ on a GPU, else SKIPPED (77).
qf_add_test(test_cuda_gptq_host SOURCES test_cuda_gptq_host.c LABELS unit)
target_link_libraries(test_cuda_gptq_host PRIVATE PkgConfig::CJSON)
qf_add_cuda_test(test_cuda_gptq LIBS PkgConfig::CJSON)
# Attention on the GPU (runtime/cuda/attention*). test_cuda_attention_ref (plain C, every
# machine): shape check, decode split plan, cache appends and the double references against
# the CPU runtime's attention. test_cuda_attention (only with CUDA): every attention kernel
# against its reference on a GPU, else "CUDA attention: SKIPPED (no GPU: ...)" (77).
qf_add_test(test_cuda_attention_ref SOURCES test_cuda_attention_ref.c LABELS unit)
qf_add_cuda_test(test_cuda_attention)
# The GPU runtime (runtime/cuda/forward*.cu) vs the CPU runtime on checkpoints written by the
# test (float with biases, sliding window, GPTQ 4-bit act-order): only with CUDA, and on a
# GPU, else "CUDA forward: SKIPPED (no GPU: ...)" (77).
qf_add_cuda_test(test_cuda_forward)
# GPTQ's calibration passes on the GPU (pipeline/cuda/). test_layer_gemms (plain C, every
# machine): the layer's cuBLAS calls as data (pipeline/layer_gemms.h) through a CPU
# emulation of cuBLAS against the CPU layer. test_cuda_qlayer (only with CUDA): the causal
# softmax kernel and a random layer's passes, Hessians and activations against the CPU's
# (pipeline/layer.h), fp32 and TF32, on a GPU, else SKIPPED (77).
qf_add_test(test_layer_gemms SOURCES test_layer_gemms.c LABELS unit)
qf_add_cuda_test(test_cuda_qlayer)
# AWQ's scale search on the GPU (pipeline/cuda/awq_cuda.cu): the fake quantization bit for
# bit and a random layer's statistics and block-output losses against the CPU's; only with
# CUDA, and on a GPU, else SKIPPED (77).
qf_add_cuda_test(test_cuda_awq)
