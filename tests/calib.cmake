# calib-data/: the embedded default corpus, plain-text / JSON-lines loading and window
# choice against tests/fixtures/calib/expected.json (made by
# tests/fixtures/scripts/make_calib_fixtures.py with hashlib and HF tokenizers), and
# hostile calibration files.
qf_add_test(test_calib SOURCES test_calib.c LABELS unit)
qf_add_test(test_calib_bad SOURCES test_calib_bad.c LABELS unit)
# The build-time embedder refuses a corpus file that is not UTF-8 and names it.
add_test(NAME test_calib_embed_bad
  COMMAND qf_embed_corpus ${CMAKE_CURRENT_BINARY_DIR}/calib_embed_bad.c
          ${QF_FIXTURES_DIR}/calib/plain.txt ${QF_FIXTURES_DIR}/calib/bad-utf8.txt)
set_tests_properties(test_calib_embed_bad PROPERTIES LABELS unit
  PASS_REGULAR_EXPRESSION "bad-utf8.txt': NUL byte or invalid UTF-8 at byte offset 5")
