# qforge compare (tools/cmd_compare.c, tools/compare_chart.c) end to end on the tiny interop
# source: rows agree with separate quantize / eval runs; table, JSON, SVG and PNG written.
qf_add_test(test_compare SOURCES test_compare.c LABELS unit)
target_link_libraries(test_compare PRIVATE PkgConfig::CJSON)
add_dependencies(test_compare qforge)
