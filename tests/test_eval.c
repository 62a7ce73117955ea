/* `qforge eval` on the real SmolLM2 GGUF and WikiText-2 test against transformers'
 * perplexity of the same windows (tests/fixtures/eval, make_eval_fixtures.py): relative
 * difference < 1e-4, identical scored-token counts. Then KL against a saved base: the
 * same model gives KL 0 and full top-1 agreement; F16 weights give a small positive KL.
 * Greedy `qforge generate` equals transformers' greedy continuation.
 * And the documented failures: empty text, ctx beyond the model, mismatched base file. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "test.h"

#define GGUF QF_CACHE_DIR "/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
#define TEXT QF_SHARED_DIR "/data/wikitext-2/wiki.test.raw"

static cJSON *run_json(const char *args, int *rc) {
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s eval %s --json 2>/dev/null", QF_QFORGE_BIN, args);
    *rc = qf_test_run(cmd, &out);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    if (!j) fprintf(stderr, "not JSON (rc %d): %s\n", *rc, out ? out : "");
    free(out);
    return j;
}

static double num(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(j, k);
    return v ? v->valuedouble : NAN;
}

static void check_case(const cJSON *ref, const char *name, const char *extra) {
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "cases"), name);
    char args[2048];
    snprintf(args, sizeof args, "%s --text %s --ctx %d --stride %d --max-chunks %d %s %s", GGUF, TEXT,
             (int)num(c, "ctx"), (int)num(c, "stride"), (int)num(c, "windows"),
             cJSON_IsTrue(cJSON_GetObjectItem(c, "bos")) ? "--bos" : "", extra);
    int rc;
    cJSON *j = run_json(args, &rc);
    CHECK_MSG(rc == 0 && j, "%s: exit %d", name, rc);
    if (!j) return;
    double ppl = num(j, "ppl"), want = num(c, "ppl");
    printf("%-18s %s ppl %.6f transformers %.6f rel diff %.2e\n", name, extra, ppl, want, fabs(ppl / want - 1));
    CHECK_MSG(fabs(ppl / want - 1) < 1e-4, "%s: ppl %.6f vs transformers %.6f", name, ppl, want);
    CHECK(num(j, "scored_tokens") == num(c, "scored"));
    CHECK(num(j, "text_tokens") == num(ref, "text_tokens"));
    CHECK(strcmp(cJSON_GetObjectItem(j, "text_sha256")->valuestring,
                 cJSON_GetObjectItem(ref, "text_sha256")->valuestring) == 0);
    cJSON_Delete(j);
}

static void expect_fail(const char *args, const char *needle) {
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s eval %s", QF_QFORGE_BIN, args);
    int rc = qf_test_run(cmd, &out);
    CHECK_MSG(rc == 1 && out && strstr(out, needle), "eval %s: exit %d, want 1 with \"%s\":\n%s", args, rc,
              needle, out ? out : "");
    free(out);
}

/* Greedy generation equals transformers' greedy continuation (same ids, same text). */
static void check_greedy(const cJSON *ref) {
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(ref, "greedy")) {
        const char *prompt = cJSON_GetObjectItem(g, "prompt")->valuestring;
        const char *want = cJSON_GetObjectItem(g, "text")->valuestring;
        char path[256], cmd[8192], *out = NULL;
        snprintf(path, sizeof path, "/tmp/qf_test_prompt.%d", (int)getpid());
        CHECK_OK(qf_file_write_atomic(path, prompt, strlen(prompt), 1));
        snprintf(cmd, sizeof cmd, "%s generate %s --prompt-file %s -n 16 --weights f32 2>/dev/null",
                 QF_QFORGE_BIN, GGUF, path);
        int rc = qf_test_run(cmd, &out);
        size_t wl = strlen(want);
        CHECK_MSG(rc == 0 && out && strncmp(out, want, wl) == 0 && strcmp(out + wl, "\n") == 0,
                  "generate: exit %d\ngot:  [%s]\nwant: [%s]", rc, out ? out : "", want);
        free(out);
        unlink(path);
    }
}

int main(void) {
    if (!qf_path_exists(GGUF)) {
        fprintf(stderr, "missing %s: run scripts/get-model.sh first\n", GGUF);
        return 1;
    }
    char *text = NULL;
    CHECK_OK(qf_file_read_all(QF_FIXTURES_DIR "/eval/smollm2_wikitext2_ppl.json", 1 << 20, &text, NULL));
    cJSON *ref = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(ref != NULL);
    if (!ref) TEST_END();
    check_case(ref, "ctx512", "--weights f32");
    check_case(ref, "ctx2048", "--weights f32");
    check_case(ref, "ctx512_stride256", "--weights f32");
    check_case(ref, "ctx256_bos", "--weights f32");
    check_greedy(ref);

    char tmp[] = "/tmp/qf_test_eval.XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    char args[4096], base[512];
    snprintf(base, sizeof base, "%s/base.qflogits", tmp);
    int rc;
    snprintf(args, sizeof args, "%s --text %s --ctx 512 --max-chunks 2 --weights f32 --save-logits %s", GGUF, TEXT, base);
    cJSON *j = run_json(args, &rc);
    CHECK(rc == 0 && j && qf_path_exists(base));
    double base_ppl = j ? num(j, "ppl") : NAN;
    cJSON_Delete(j);

    snprintf(args, sizeof args, "%s --text %s --ctx 512 --max-chunks 2 --weights f32 --kl-base %s", GGUF, TEXT, base);
    j = run_json(args, &rc);
    CHECK(rc == 0 && j);
    if (j) {
        printf("self KL: mean %.3g max %.3g top1 %.4f coverage %.4f\n", num(j, "kld_mean"), num(j, "kld_max"),
               num(j, "top1_agreement"), num(j, "topk_coverage"));
        CHECK(num(j, "kld_max") < 1e-6);
        CHECK(num(j, "top1_agreement") == 1.0);
        CHECK_NEAR(num(j, "base_ppl"), base_ppl, base_ppl * 1e-6);
        CHECK(num(j, "topk_coverage") > 0.5 && num(j, "topk_coverage") <= 1.0);
    }
    cJSON_Delete(j);

    snprintf(args, sizeof args, "%s --text %s --ctx 512 --max-chunks 2 --weights f16 --kl-base %s", GGUF, TEXT, base);
    j = run_json(args, &rc);
    CHECK(rc == 0 && j);
    if (j) {
        printf("f16 vs f32 weights: KL mean %.3g p99 %.3g, top1 %.4f, delta ppl %+.4f\n", num(j, "kld_mean"),
               num(j, "kld_p99"), num(j, "top1_agreement"), num(j, "delta_ppl"));
        CHECK(num(j, "kld_mean") > 0 && num(j, "kld_mean") < 1e-2);
        CHECK(num(j, "top1_agreement") > 0.95);
    }
    cJSON_Delete(j);

    /* a text shorter than one window is evaluated as one shorter window */
    char shortp[512];
    snprintf(shortp, sizeof shortp, "%s/short.txt", tmp);
    CHECK_OK(qf_file_write_atomic(shortp, "The capital of France is Paris.", 31, 0));
    snprintf(args, sizeof args, "%s --text %s", GGUF, shortp);
    j = run_json(args, &rc);
    CHECK(rc == 0 && j && num(j, "windows") == 1 && num(j, "scored_tokens") == num(j, "text_tokens") - 1);
    cJSON_Delete(j);

    /* bench reports positive speeds */
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s bench %s --prompt 16 --gen 4 --repeats 1 --json", QF_QFORGE_BIN, GGUF);
    rc = qf_test_run(cmd, &out);
    j = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(rc == 0 && j && num(j, "prefill_tok_s") > 0 && num(j, "decode_tok_s") > 0 &&
                  num(j, "peak_rss_bytes") > 0,
              "bench: exit %d: %s", rc, out ? out : "");
    cJSON_Delete(j);
    free(out);

    /* documented failures */
    snprintf(args, sizeof args, "%s --text %s --ctx 256 --max-chunks 2 --kl-base %s", GGUF, TEXT, base);
    expect_fail(args, "was saved with");
    char empty[512], corrupt[512];
    snprintf(empty, sizeof empty, "%s/empty.txt", tmp);
    CHECK_OK(qf_file_write_atomic(empty, "", 0, 0));
    snprintf(args, sizeof args, "%s --text %s", GGUF, empty);
    expect_fail(args, "is empty");
    snprintf(args, sizeof args, "%s --text %s --ctx 100000", GGUF, TEXT);
    expect_fail(args, "exceeds the model");
    snprintf(corrupt, sizeof corrupt, "%s/corrupt.qflogits", tmp);
    qf_mapped_file mf;
    CHECK_OK(qf_file_map(base, &mf));
    CHECK_OK(qf_file_write_atomic(corrupt, mf.data, mf.size / 2, 0));
    qf_file_unmap(&mf);
    snprintf(args, sizeof args, "%s --text %s --ctx 512 --max-chunks 2 --kl-base %s", GGUF, TEXT, corrupt);
    expect_fail(args, "corrupt.qflogits");
    snprintf(args, sizeof args, "%s --text /nonexistent.txt", GGUF);
    expect_fail(args, "/nonexistent.txt");

    snprintf(args, sizeof args, "rm -rf %s", tmp);
    CHECK(system(args) == 0);
    cJSON_Delete(ref);
    TEST_END();
}
