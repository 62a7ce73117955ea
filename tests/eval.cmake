# qforge eval / generate on the real model (labels model, slow: the sanitizer build skips it).
qf_add_test(test_eval SOURCES test_eval.c LABELS model slow)
set_tests_properties(test_eval PROPERTIES TIMEOUT 900)
