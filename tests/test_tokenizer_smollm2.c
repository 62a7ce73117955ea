/* Conformance of runtime/tokenizer with the HF tokenizers library on the tokenizer.json
 * that `qforge convert` exports from SmolLM2's GGUF (the real test model; skipped when
 * scripts/get-model.sh has not fetched it). See test_tokenizer_util.h. */
#include "test_tokenizer_util.h"

int main(void) {
    if (qf_tt_run("smollm2") == 77) return 77;
    TEST_END();
}
