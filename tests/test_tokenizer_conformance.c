/* Conformance of runtime/tokenizer with the HF tokenizers library on the shared
 * tokenizers (Llama-2, Llama-3, Qwen3, GPT-2 vocab.json + merges.txt), variants of them
 * that use the options those files do not, and two tiny trained BPE models: ids and
 * decoded text of whole files and of an adversarial set (test_tokenizer_util.h).
 * Usage: test_tokenizer_conformance [FIXTURE...] (default: all of them). */
#include "test_tokenizer_util.h"

static const char *const qf_fixtures[] = {
    "llama2",        "llama3",           "qwen3",
    "gpt2",          "llama2-metaspace", "llama2-metaspace-split",
    "llama2-config", "llama3-splits",    "llama3-added",
    "tiny-unk",      "tiny-fallback",
};

int main(int argc, char **argv) {
    if (argc > 1) {
        for (int i = 1; i < argc; i++) qf_tt_run(argv[i]);
    } else {
        for (size_t i = 0; i < sizeof qf_fixtures / sizeof qf_fixtures[0]; i++)
            qf_tt_run(qf_fixtures[i]);
    }
    TEST_END();
}
