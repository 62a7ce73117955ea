/* The qforge CLI as a user meets it: help for every command, exit codes (0 ok, 1 failed
 * work, 2 usage), inspect --json on a sharded checkpoint written by transformers
 * (tests/fixtures/hf, see make_hf_fixtures.py), and convert of that checkpoint to F16
 * (values equal to rounding the source; an existing output is never overwritten), and
 * eval / bench --device (cpu as before, unknown devices a usage error, cuda a clean exit 1
 * naming the reason where no GPU is usable or the build has no CUDA). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "formats/model.h"
#include "runtime/backend.h"
#include "runtime/runtime.h"
#include "test.h"

#define SHARDED QF_FIXTURES_DIR "/hf/tiny-mistral-sharded"

static int run(const char *args, char **out) {
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "%s %s", QF_QFORGE_BIN, args);
    if (n < 0 || (size_t)n >= sizeof cmd) return -1;
    return qf_test_run(cmd, out);
}

static void expect(const char *args, int code, const char *needle) {
    char *out = NULL;
    int rc = run(args, &out);
    CHECK_MSG(rc == code && (!needle || (out && strstr(out, needle))),
              "qforge %s: exit %d (want %d), output lacks \"%s\":\n%s", args, rc, code,
              needle ? needle : "", out ? out : "");
    free(out);
}

/* --device: cpu as before, an unknown device a usage error, cuda a clean failure (exit 1,
 * the reason named) on a machine without a usable GPU or a build without CUDA. */
static void check_device(const char *text) {
    char args[8192];
    snprintf(args, sizeof args, "eval %s --text %s --device tpu", SHARDED, text);
    expect(args, 2, "--device must be cpu or cuda, not 'tpu'");
    expect("bench " SHARDED " --device tpu", 2, "--device must be cpu or cuda");
    snprintf(args, sizeof args, "eval %s --text %s --device cpu", SHARDED, text);
    expect(args, 1, "no tokenizer.json");
    expect("bench " SHARDED " --device cpu --prompt 4 --gen 2 --repeats 1", 0, "prefill 4 tokens");
    const qf_backend *cuda = qf_backend_find("cuda");
    if (cuda && cuda->available()) {
        printf("test_cli: a GPU is usable here; the no-GPU --device cuda checks are skipped\n");
        return;
    }
    /* "no usable GPU (<CUDA error>)" with CUDA built, "built without CUDA support" without */
    const char *why = cuda ? "no usable GPU" : "built without CUDA support";
    snprintf(args, sizeof args, "eval %s --text %s --device cuda", SHARDED, text);
    expect(args, 1, "--device cuda: ");
    expect(args, 1, why);
    expect("bench " SHARDED " --device cuda --prompt 4 --gen 2", 1, why);
    /* the library refuses the same way, without a crash */
    qf_model *m = NULL;
    qf_runtime *rt = NULL;
    CHECK_OK(qf_model_open(SHARDED, &m));
    const qf_runtime_options o = {.device = QF_RUNTIME_DEVICE_CUDA};
    CHECK(m && qf_runtime_init(m, &o, &rt) == QF_STATUS_UNSUPPORTED && rt == NULL);
    CHECK_MSG(strstr(qf_error_message(), "device cuda: ") != NULL, "message: %s",
              qf_error_message());
    qf_model_free(m);
}

static void check_inspect_json(void) {
    char *out = NULL, *exp_text = NULL;
    CHECK(run("inspect " SHARDED " --json", &out) == 0);
    CHECK_OK(qf_file_read_all(SHARDED "/expected.json", 1 << 20, &exp_text, NULL));
    cJSON *j = out ? cJSON_Parse(out) : NULL, *e = exp_text ? cJSON_Parse(exp_text) : NULL;
    CHECK_MSG(j != NULL, "inspect --json output is not JSON:\n%s", out ? out : "");
    if (j && e) {
        const cJSON *et = cJSON_GetObjectItem(e, "tensors");
        CHECK(strcmp(cJSON_GetObjectItem(j, "format")->valuestring, "hf") == 0);
        CHECK(cJSON_GetObjectItem(j, "files")->valuedouble == 3);
        CHECK(cJSON_GetObjectItem(j, "tensor_count")->valuedouble == cJSON_GetArraySize(et));
        double params = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, et) {
            double n = 1;
            const cJSON *d;
            cJSON_ArrayForEach(d, cJSON_GetObjectItem(t, "shape")) n *= d->valuedouble;
            params += n;
        }
        CHECK_NEAR(cJSON_GetObjectItem(j, "parameters")->valuedouble, params, 0);
        const cJSON *cfg = cJSON_GetObjectItem(j, "config");
        CHECK(cfg && strcmp(cJSON_GetObjectItem(cfg, "architecture")->valuestring,
                            "MistralForCausalLM") == 0);
        CHECK(cJSON_GetObjectItem(cfg, "sliding_window")->valuedouble == 32);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "tensors")) == cJSON_GetArraySize(et));
    }
    cJSON_Delete(j);
    cJSON_Delete(e);
    free(out);
    free(exp_text);
}

/* Every tensor of the converted checkpoint equals fp16(source value). */
static void check_converted_f16(const char *dir) {
    qf_model *src = NULL, *dst = NULL;
    CHECK_OK(qf_model_open(SHARDED, &src));
    CHECK_OK(qf_model_open(dir, &dst));
    if (!src || !dst) goto done;
    CHECK(src->n_tensors == dst->n_tensors);
    for (size_t i = 0; i < dst->n_tensors; i++) {
        const qf_model_tensor *d = &dst->tensors[i];
        const qf_model_tensor *s = qf_model_find_tensor(src, d->name);
        CHECK_MSG(s && d->dtype == QF_DTYPE_F16 && s->numel == d->numel, "tensor %s", d->name);
        if (!s || s->numel != d->numel) continue;
        float *a = malloc(s->numel * sizeof *a), *b = malloc(d->numel * sizeof *b);
        CHECK_OK(qf_model_tensor_read_f32(s, a));
        CHECK_OK(qf_model_tensor_read_f32(d, b));
        size_t bad = 0;
        for (size_t k = 0; k < s->numel; k++)
            bad += qf_fp16_to_fp32(qf_fp32_to_fp16(a[k])) != b[k];
        CHECK_MSG(bad == 0, "%s: %zu values differ", d->name, bad);
        free(a);
        free(b);
    }
done:
    qf_model_free(src);
    qf_model_free(dst);
}

int main(void) {
    expect("--help", 0, "Exit codes");
    expect("help convert", 0, "Usage: qforge convert");
    expect("inspect --help", 0, "Usage: qforge inspect");
    expect("convert --help", 0, "Usage: qforge convert");
    expect("--version", 0, "backend cpu");
    expect("", 2, "Usage: qforge <command>");
    expect("frobnicate", 2, "unknown command 'frobnicate'");
    expect("inspect", 2, "expected exactly one PATH");
    expect("inspect --bogus " SHARDED, 2, "unknown option");
    expect("inspect /nonexistent/model.gguf", 1, "/nonexistent/model.gguf");
    expect("convert " SHARDED " --to gguf /tmp/x", 2, "--to must be 'hf'");
    expect("convert " SHARDED " --to hf /tmp/x --dtype q4", 2, "--dtype must be");
    expect("convert " SHARDED " /tmp/x", 2, "missing --to hf");
    expect("inspect " SHARDED, 0, "MistralForCausalLM");
    check_inspect_json();

    char tmp[] = "/tmp/qf_test_cli.XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    char args[8192], out_dir[512];
    expect("eval --help", 0, "Usage: qforge eval");
    expect("generate --help", 0, "Usage: qforge generate");
    expect("bench --help", 0, "Usage: qforge bench");
    snprintf(out_dir, sizeof out_dir, "%s/f16", tmp);
    snprintf(args, sizeof args, "convert %s --to hf %s --dtype f16 --json", SHARDED, out_dir);
    expect(args, 0, "\"tensors\"");
    check_converted_f16(out_dir);
    expect(args, 1, "already exists");

    /* eval: no tokenizer; a tokenizer whose ids exceed the model's vocabulary */
    char text[600];
    snprintf(text, sizeof text, "%s/text.txt", tmp);
    CHECK_OK(qf_file_write_atomic(text, "Hello world, hello tests.", 25, 0));
    snprintf(args, sizeof args, "eval %s --text %s", SHARDED, text);
    expect(args, 1, "no tokenizer.json");
    snprintf(args, sizeof args,
             "eval %s/f16 --text %s", tmp, text);
    char cp[8192];
    snprintf(cp, sizeof cp, "cp %s/tokenizers/llama2/tokenizer.json %s/f16/", QF_SHARED_DIR, tmp);
    CHECK(system(cp) == 0);
    expect(args, 1, "the tokenizer has 32000 token ids but the model's vocabulary has 64 rows");
    snprintf(args, sizeof args, "eval %s/f16", tmp);
    expect(args, 2, "missing --text");
    expect("generate " SHARDED, 2, "--prompt");
    expect("bench " SHARDED " --repeats x", 2, "not a non-negative integer");
    check_device(text);

    snprintf(args, sizeof args, "rm -rf %s", tmp);
    CHECK(system(args) == 0);
    TEST_END();
}
