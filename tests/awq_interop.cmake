# Our `qforge quantize --format awq` (AutoAWQ GEMM) checkpoints in the real consumer:
# transformers + GPTQModel's AWQ kernels loaded them as they are (fixtures/awq_interop/,
# made by fixtures/scripts/make_awq_interop_fixtures.py, on the source of
# fixtures/gptq_interop/); our runtime must give the consumer's logits on them, and
# re-quantizing the source must reproduce them.
qf_add_test(test_awq_interop SOURCES test_awq_interop.c LABELS unit)
