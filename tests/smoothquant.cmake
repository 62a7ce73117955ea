# SmoothQuant (smoothquant/): smoothing factors against llm-compressor 0.14
# (tests/fixtures/smoothquant/, made by tests/fixtures/scripts/make_smoothquant_fixtures.py).
qf_add_test(test_smoothquant SOURCES test_smoothquant.c LABELS unit)
