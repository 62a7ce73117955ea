# The CLI as a user meets it (no real model needed).
qf_add_test(test_cli SOURCES test_cli.c LABELS unit)
