# qforge quantize (pipeline/): the activation store, the layer forward against the
# verification runtime, and the whole driver on the tiny fixture models.
qf_add_test(test_pipeline_act_store SOURCES test_pipeline_act_store.c LABELS unit)
qf_add_test(test_pipeline_layer SOURCES test_pipeline_layer.c LABELS unit)
qf_add_test(test_pipeline SOURCES test_pipeline.c LABELS unit)
qf_add_test(test_pipeline_cli SOURCES test_pipeline_cli.c LABELS unit)
qf_add_test(test_pipeline_awq SOURCES test_pipeline_awq.c LABELS unit)
qf_add_test(test_pipeline_w8a8 SOURCES test_pipeline_w8a8.c LABELS unit)
