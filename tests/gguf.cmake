# GGUF reader, ggml dequantizers, RoPE un-permutation and the GGUF -> qf_model adapter.
# Fixtures: tests/fixtures/gguf/ (made by tests/fixtures/scripts/make_gguf_fixtures.py).
qf_add_test(test_gguf_reader SOURCES test_gguf_reader.c LABELS unit)
qf_add_test(test_gguf_dequant SOURCES test_gguf_dequant.c LABELS unit)
