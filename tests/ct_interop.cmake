# compressed-tensors W8A8 checkpoints from llm-compressor (w8a8/ per-token, w8a8_static/
# static per-tensor activations) in our runtime (int8 kernels)
# against the reference consumer's logits (fixtures/ct_interop/, made by
# fixtures/scripts/make_ct_interop_fixtures.py),
qf_add_test(test_ct_interop SOURCES test_ct_interop.c LABELS unit)
target_link_libraries(test_ct_interop PRIVATE PkgConfig::CJSON)
# ... and our own W8A8 writer's artifacts (ours_sq/, ours_rtn/, ours_sq_static/) in the same
# consumer; the test re-runs `qforge quantize` on them and `qforge eval` on hostile copies.
add_dependencies(test_ct_interop qforge)
