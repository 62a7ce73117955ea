# runtime/tokenizer: conformance with the HF tokenizers library (fixtures in
# tests/fixtures/tokenizer_conformance, made by
# tests/fixtures/scripts/make_tokenizer_conformance.py; the texts are read from
# ../shared at run time) and hostile tokenizer files / inputs.
qf_add_test(test_tokenizer_conformance SOURCES test_tokenizer_conformance.c LABELS unit)
set_tests_properties(test_tokenizer_conformance PROPERTIES TIMEOUT 600)
qf_add_test(test_tokenizer_smollm2 SOURCES test_tokenizer_smollm2.c LABELS model)
set_tests_properties(test_tokenizer_smollm2 PROPERTIES TIMEOUT 600)
qf_add_test(test_tokenizer_bad SOURCES test_tokenizer_bad.c LABELS unit)
