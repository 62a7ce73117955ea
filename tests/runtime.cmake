# The CPU forward pass: kernels vs their scalar references, the runtime vs transformers'
# logits on tiny random checkpoints of each flavour (fixtures/runtime/, made by
# fixtures/scripts/make_runtime_fixtures.py), and on the real SmolLM2 GGUF.
qf_add_test(test_kernels SOURCES test_kernels.c LABELS unit)
qf_add_test(test_runtime SOURCES test_runtime.c LABELS unit)
qf_add_test(test_runtime_smollm2 SOURCES test_runtime_smollm2.c LABELS model)
