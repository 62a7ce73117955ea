# Our `qforge quantize` GPTQ checkpoints in the real consumer: transformers + optimum +
# GPTQModel loaded them as they are (fixtures/gptq_interop/, made by
# fixtures/scripts/make_gptq_interop_fixtures.py); our runtime must give the consumer's
# logits on them, and re-quantizing the committed source must reproduce them.
qf_add_test(test_gptq_interop SOURCES test_gptq_interop.c LABELS unit)
