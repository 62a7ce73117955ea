# Conversion tests on the real SmolLM2 GGUF (label model: needs scripts/get-model.sh).
qf_add_test(test_convert SOURCES test_convert.c LABELS model)
set_tests_properties(test_convert PROPERTIES TIMEOUT 600)
