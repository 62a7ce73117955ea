# formats/safetensors.h tests. Fixtures in tests/fixtures/safetensors/ (made by
# tests/fixtures/scripts/make_safetensors_fixtures.py with the official package):
#   test_safetensors          round trips through our writer, writer failure paths,
#                             parser edge cases
#   test_safetensors_bad      golden must-fail files (bad/, strict/) with exact errors
#   test_safetensors_interop  files written by the official package read back exactly
#   test_safetensors_pycheck  our files read by the official package (QF_TEST_PYTHON;
#                             skipped when that Python is missing)
qf_add_test(test_safetensors SOURCES test_safetensors.c LABELS unit)
qf_add_test(test_safetensors_bad SOURCES test_safetensors_bad.c LABELS unit)
qf_add_test(test_safetensors_interop SOURCES test_safetensors_interop.c LABELS unit)
qf_add_test(test_safetensors_pycheck SOURCES test_safetensors_pycheck.c LABELS unit interop)
