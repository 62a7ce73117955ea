# GPTQ checkpoints: pack/unpack against GPTQModel-packed fixtures
# (fixtures/scripts/make_gptq_fixtures.py), config parsing, writer/reader round trip and
# bad inputs.
qf_add_test(test_gptq_format SOURCES test_gptq_format.c LABELS unit)
