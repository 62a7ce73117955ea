/* `qforge quantize` from the command line: --help, usage errors (exit 2), a failing run
 * (exit 1, library message, nothing at OUTDIR), an RTN run on the tiny fixture (exit 0)
 * and its refusal to overwrite; progress into a pipe: plain lines at the
 * QF_PROGRESS_SECONDS interval (none at the default 30 s for a run this short). */
#include <unistd.h>

#include "core/fileio.h"
#include "tests/test.h"

static int run(const char *args, char **out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s quantize %s 2>&1", QF_QFORGE_BIN, args);
    return qf_test_run(cmd, out);
}

static void expect(const char *args, int code, const char *needle) {
    char *out = NULL;
    int rc = run(args, &out);
    CHECK_MSG(rc == code && out && strstr(out, needle), "quantize %s: rc %d, output: %s", args,
              rc, out ? out : "");
    free(out);
}

int main(void) {
    char tmp[] = "/tmp/qf_test_qcli_XXXXXX", args[1024];
    if (!mkdtemp(tmp)) return 1;
    const char *tiny = QF_FIXTURES_DIR "/hf/tiny-llama";
    expect("--help", 0, "--mem-budget");
    expect("--help", 0, "true-sequential");
    expect("", 2, "expected MODEL and OUTDIR");
    snprintf(args, sizeof args, "%s %s/o --bits 5", tiny, tmp);
    expect(args, 2, "--bits");
    snprintf(args, sizeof args, "%s %s/o --dynamic 'mlp=4'", tiny, tmp);
    expect(args, 2, "BITS");
    snprintf(args, sizeof args, "%s %s/o --method fp8", tiny, tmp);
    expect(args, 2, "--method");
    snprintf(args, sizeof args, "%s %s/o --method awq --awq-grid 0", tiny, tmp);
    expect(args, 2, "--awq-grid");
    snprintf(args, sizeof args, "%s %s/o --mem-budget 4X", tiny, tmp);
    expect(args, 2, "--mem-budget");
    snprintf(args, sizeof args, "%s %s/o --calib /nonexistent.txt", tiny, tmp);
    expect(args, 1, "error:");
    expect("--help", 0, "--device D");
    snprintf(args, sizeof args, "%s %s/o --device gpu", tiny, tmp);
    expect(args, 2, "--device must be cpu or cuda");
    snprintf(args, sizeof args, "%s %s/o --device cuda --method rtn", tiny, tmp);
    expect(args, 1, "only gptq, awq and awq+gptq run on the GPU");
    snprintf(args, sizeof args, "%s %s/o --gpu-precision fp16", tiny, tmp);
    expect(args, 2, "--gpu-precision must be tf32 or fp32");
    snprintf(args, sizeof args, "%s %s/o --checkpoint-every -2", tiny, tmp);
    expect(args, 2, "--checkpoint-every must be a number >= 0");
    snprintf(args, sizeof args, "%s/o", tmp);
    CHECK(!qf_path_exists(args));
    snprintf(args, sizeof args, "%s %s/o --method rtn --group-size 16", tiny, tmp);
    char *out = NULL;
    CHECK(run(args, &out) == 0 && out && strstr(out, "quantized") && !strstr(out, "quantize: "));
    free(out);
    out = NULL;
    expect(args, 1, "already exists");
    snprintf(args, sizeof args, "env QF_PROGRESS_SECONDS=0 %s quantize %s %s/p --method rtn "
             "--group-size 16 2>&1", QF_QFORGE_BIN, tiny, tmp);
    CHECK(qf_test_run(args, &out) == 0 && out);
    int lines = 0;
    for (const char *p = out; p && (p = strstr(p, "quantize: ")); p++) lines++;
    CHECK_MSG(lines >= 2 && !strchr(out, '\r') && strstr(out, "ETA"),
              "progress lines into a pipe: %d, output: %s", lines, out ? out : "");
    free(out);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    TEST_END();
}
