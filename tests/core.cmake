# core/ tests: status messages, dtype table and conversions, SHA-256, file I/O.
# Conversion and SHA-256 references: tests/fixtures/core/dtype.json
# (made by tests/fixtures/scripts/make_core_fixtures.py).
qf_add_test(test_core SOURCES test_core.c LABELS unit)
