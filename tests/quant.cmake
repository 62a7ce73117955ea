# Quantizers: qf_qweight, RTN (core/quant.c) and GPTQ (gptq/) against llm-compressor /
# compressed-tensors references in tests/fixtures/quant/
# (made by tests/fixtures/scripts/make_quant_fixtures.py).
qf_add_test(test_quant SOURCES test_quant.c LABELS unit)
target_link_libraries(test_quant PRIVATE PkgConfig::CJSON)
