# Evaluation helpers without a model: saved-distribution files, sampling.
qf_add_test(test_eval_unit SOURCES test_eval_unit.c LABELS unit)
