# Fuzz targets. Each target is one file tests/fuzz/fuzz_<name>.c defining
# LLVMFuzzerTestOneInput, with a seed corpus in tests/fuzz/corpus/<name>/.
#  - always: replay_<name> feeds the corpus once (ctest label "fuzz"), so with
#    QF_SANITIZE=address,undefined the corpus is a regression suite;
#  - QF_FUZZ=ON (clang): fuzz_<name> is the libFuzzer binary (scripts/fuzz.sh runs it
#    for a bounded time).
function(qf_add_fuzz name)
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${name}.c)
  set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
  add_executable(replay_${name} ${src} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.c)
  target_compile_options(replay_${name} PRIVATE ${QF_WARN_FLAGS})
  target_link_libraries(replay_${name} PRIVATE qforge_lib)
  add_test(NAME replay_${name} COMMAND replay_${name} ${corpus})
  set_tests_properties(replay_${name} PROPERTIES LABELS "fuzz;unit")
  if(QF_FUZZ)
    add_executable(fuzz_${name} ${src})
    target_compile_options(fuzz_${name} PRIVATE ${QF_WARN_FLAGS} -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${name} PRIVATE qforge_lib)
  endif()
endfunction()

file(GLOB QF_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(src ${QF_FUZZ_SOURCES})
  get_filename_component(n ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" n ${n})
  qf_add_fuzz(${n})
endforeach()
