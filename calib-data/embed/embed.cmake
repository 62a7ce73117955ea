# The default calibration corpus, embedded into libqforge (calib-data/): the host tool
# embed_corpus (calib-data/embed/) reads every calib-data/corpus/*.txt, checks it,
# compresses the joined text with zstd and generates corpus_data.c in the build dir.
# The glob is re-checked at every build (CONFIGURE_DEPENDS), so added or edited texts
# regenerate it. The tool runs on the build machine: it is built without the
# sanitizer/fuzzer instrumentation that the library may get.
file(GLOB QF_CORPUS_TEXTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/calib-data/corpus/*.txt)
add_executable(qf_embed_corpus ${CMAKE_SOURCE_DIR}/calib-data/embed/embed_corpus.c)
set_property(TARGET qf_embed_corpus PROPERTY COMPILE_OPTIONS ${QF_WARN_FLAGS})
set_property(TARGET qf_embed_corpus PROPERTY LINK_OPTIONS "")
target_include_directories(qf_embed_corpus PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(qf_embed_corpus PRIVATE PkgConfig::ZSTD PkgConfig::UTF8PROC)
list(LENGTH QF_CORPUS_TEXTS QF_CORPUS_N)
set(QF_CORPUS_C ${CMAKE_BINARY_DIR}/calib-data/corpus_data.c)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/calib-data)
add_custom_command(OUTPUT ${QF_CORPUS_C}
  COMMAND qf_embed_corpus ${QF_CORPUS_C} ${QF_CORPUS_TEXTS}
  DEPENDS qf_embed_corpus ${QF_CORPUS_TEXTS}
  COMMENT "Embedding the calibration corpus (${QF_CORPUS_N} files from calib-data/corpus)"
  VERBATIM)
target_sources(qforge_lib PRIVATE ${QF_CORPUS_C})
