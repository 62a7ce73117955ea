# GGUF reader, ggml dequantizers, RoPE un-permutation and the GGUF -> qf_model adapter.
# Fixtures: tests/fixtures/gguf/ (made by tests/fixtures/scripts/make_gguf_fixtures.py).
qf_add_test(test_gguf_reader SOURCES test_gguf_reader.c LABELS unit)
qf_add_test(test_gguf_dequant SOURCES test_gguf_dequant.c LABELS unit)
qf_add_test(test_gguf_model SOURCES test_gguf_model.c LABELS unit)
# The real SmolLM2 GGUF (scripts/get-model.sh); fails, not skips, when it is missing.
qf_add_test(test_gguf_smollm2 SOURCES test_gguf_smollm2.c LABELS model)
