# AWQ (awq/): weight statistic and scale candidates against llm-compressor 0.14
# (tests/fixtures/awq/, made by tests/fixtures/scripts/make_awq_fixtures.py), search and
# clip search against brute force.
qf_add_test(test_awq SOURCES test_awq.c LABELS unit)
