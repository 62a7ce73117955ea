# Architectures table, config.json parsing/writing and Hugging Face checkpoint loading,
# checked against fixtures made by transformers (fixtures/scripts/make_hf_fixtures.py).
qf_add_test(test_arch SOURCES test_arch.c LABELS unit)
qf_add_test(test_hf_config SOURCES test_hf_config.c LABELS unit)
qf_add_test(test_model_hf SOURCES test_model_hf.c LABELS unit)

# Optional: transformers' AutoConfig loads the configs our writer produced and reads the
# same values (needs a Python with transformers, which CI's venv does not have):
#   cmake -DQF_HF_REF_PYTHON=/path/to/python-with-transformers
set(QF_HF_REF_PYTHON "" CACHE FILEPATH "Python with transformers for test_hf_config_transformers")
if(QF_HF_REF_PYTHON)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/hf_config_written)
  add_test(NAME test_hf_config_transformers COMMAND sh -c
    "rm -rf '${out}' && mkdir -p '${out}' && '$<TARGET_FILE:test_hf_config>' '${out}' && '${QF_HF_REF_PYTHON}' '${CMAKE_CURRENT_SOURCE_DIR}/fixtures/scripts/check_hf_config_writer.py' '${out}' '${QF_FIXTURES_DIR}/hf/configs'")
  set_tests_properties(test_hf_config_transformers PROPERTIES LABELS "interop")
endif()
