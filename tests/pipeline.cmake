# qforge quantize (pipeline/): the activation store, the layer forward against the
# verification runtime, and the whole driver on the tiny fixture models.
qf_add_test(test_pipeline_act_store SOURCES test_pipeline_act_store.c LABELS unit)
qf_add_test(test_pipeline_layer SOURCES test_pipeline_layer.c LABELS unit)
qf_add_test(test_layer_fold SOURCES test_layer_fold.c LABELS unit)
qf_add_test(test_pipeline SOURCES test_pipeline.c LABELS unit)
qf_add_test(test_pipeline_cli SOURCES test_pipeline_cli.c LABELS unit)
qf_add_test(test_pipeline_awq SOURCES test_pipeline_awq.c LABELS unit)
qf_add_test(test_pipeline_w8a8 SOURCES test_pipeline_w8a8.c LABELS unit)
# quantize --device cuda: the refusals on every machine; GPU vs CPU GPTQ / AWQ+GPTQ reports
# on a GPU (with CUDA built and no GPU: SKIPPED, 77, after the refusals pass).
qf_add_test(test_pipeline_device SOURCES test_pipeline_device.c LABELS unit cuda)
target_link_libraries(test_pipeline_device PRIVATE PkgConfig::CJSON)
