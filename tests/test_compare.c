/* `qforge compare` from the command line on the tiny interop source (its own tokenizer):
 * the table rows agree with separate `qforge quantize` / `qforge eval` runs (RTN artifact
 * byte-identical, source perplexity equal), the JSON / Markdown / SVG / PNG files are
 * there and well-formed (PNG signature and 720 x 440 header), and bad input fails
 * cleanly: existing OUT untouched, unknown method (exit 2), unreadable text (exit 1,
 * nothing left behind); an interrupted run continues with --resume: finished rows kept,
 * the interrupted GPTQ quantize continued from its checkpoint (artifact byte-identical to
 * an uninterrupted `qforge quantize`), other settings or no --resume refused. */
#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

#include "core/fileio.h"
#include "pipeline/pipeline.h"
#include "tests/test.h"

#define SRC QF_FIXTURES_DIR "/gptq_interop/source"
#define TEXT QF_FIXTURES_DIR "/gptq_interop/calib.txt"

static char tmp[] = "/tmp/qf_test_compare_XXXXXX";

static int qforge(const char *args, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", QF_QFORGE_BIN, args);
    return qf_test_run(cmd, out);
}

static char *slurp(const char *dir, const char *name, size_t *n) {
    char p[1024], *s = NULL;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    size_t k = 0;
    CHECK_OK(qf_file_read_all(p, 64u << 20, &s, &k));
    if (n) *n = k;
    return s;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* out/a/model.safetensors and tmp/b/model.safetensors hold the same bytes; their size. */
static size_t same_weights(const char *out, const char *a, const char *b) {
    char dir[1100];
    size_t na = 0, nb = 0;
    snprintf(dir, sizeof dir, "%s/%s", out, a);
    char *x = slurp(dir, "model.safetensors", &na);
    snprintf(dir, sizeof dir, "%s/%s", tmp, b);
    char *y = slurp(dir, "model.safetensors", &nb);
    CHECK_MSG(x && y && na == nb && !memcmp(x, y, na), "%s/%s vs %s/%s", out, a, tmp, b);
    free(x), free(y);
    return na;
}

static int stop_fn(void *user, const char *what, uint64_t done, uint64_t total) {
    (void)done, (void)total;
    int *fired = user;
    if (!strncmp(what, "layer 2/", 8)) *fired = 1;
    return *fired;
}

static void write_file(const char *path, const char *body, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(body, 1, n, f) == n);
    if (f) fclose(f);
}

static void test_resume(void) {
    char out[600], otmp[700], calib[600], args[3072], *o = NULL;
    snprintf(out, sizeof out, "%s/res", tmp);
    snprintf(otmp, sizeof otmp, "%s.qforge-tmp", out);
    snprintf(calib, sizeof calib, "%s/calib.txt", tmp);
    write_file(calib, "", 0); /* gptq fails on it, after the rtn row */
    const char *common = "--methods rtn,gptq --ctx 256 --calib-samples 8 --calib-seqlen 64 --threads 1";
    snprintf(args, sizeof args, "compare " SRC " --text " TEXT " --out %s --group-size 32 --calib %s %s",
             out, calib, common);
    int rc = qforge(args, &o);
    CHECK_MSG(rc == 1 && o && strstr(o, "is empty") && strstr(o, "--resume"), "rc %d: %s", rc,
              o ? o : "");
    free(o);
    CHECK(!qf_path_exists(out) && qf_path_exists(otmp));
    char *rtn_row = slurp(otmp, "rtn.row.json", NULL);

    rc = qforge(args, &o); /* without --resume */
    CHECK(rc == 1 && o && strstr(o, "pass --resume"));
    free(o);
    snprintf(args, sizeof args, "compare " SRC " --text " TEXT " --out %s --group-size 64 --calib %s %s --resume",
             out, calib, common);
    rc = qforge(args, &o);
    CHECK(rc == 1 && o && strstr(o, "other settings"));
    free(o);
    CHECK(!qf_path_exists(out) && qf_path_exists(otmp));

    /* a damaged row is refused, naming the file; the rest stays for a later --resume */
    char rowp[800];
    snprintf(rowp, sizeof rowp, "%s/rtn.row.json", otmp);
    static const char *const bad[3] = {"{\"bytes\": \"many\"}", "[1, 2", "{\"ppl\": null}"};
    for (int k = 0; k < 3; k++) {
        write_file(rowp, bad[k], strlen(bad[k]));
        snprintf(args, sizeof args, "compare " SRC " --text " TEXT " --out %s --group-size 32 --calib %s %s --resume",
                 out, calib, common);
        rc = qforge(args, &o);
        CHECK_MSG(rc == 1 && o && strstr(o, "rtn.row.json") && (strstr(o, "invalid") || strstr(o, "missing")),
                  "bad row %d: rc %d: %s", k, rc, o ? o : "");
        free(o);
        CHECK(!qf_path_exists(out) && qf_path_exists(otmp));
    }
    write_file(rowp, rtn_row, strlen(rtn_row));

    /* the gptq quantize as compare runs it, interrupted before its layer 2 */
    size_t nc = 0;
    char *text = slurp(QF_FIXTURES_DIR "/gptq_interop", "calib.txt", &nc);
    write_file(calib, text, nc);
    free(text);
    const char *paths[1] = {calib};
    qf_quantize_options q = qf_quantize_options_default();
    q.method = QF_QUANT_METHOD_GPTQ;
    q.gptq.quant.group_size = 32;
    q.gptq.desc_act = q.gptq.static_groups = 1;
    q.calib_paths = paths;
    q.n_calib_paths = 1;
    q.calib.n_samples = 8, q.calib.seqlen = 64;
    q.n_threads = 1;
    int fired = 0;
    qf_progress p = {stop_fn, &fired};
    q.progress = &p;
    char gdir[800];
    snprintf(gdir, sizeof gdir, "%s/gptq", otmp);
    CHECK(qf_quantize_model(SRC, gdir, &q) == QF_STATUS_INTERRUPTED);

    snprintf(args, sizeof args, "compare " SRC " --text " TEXT " --out %s --group-size 32 --calib %s %s --resume",
             out, calib, common);
    rc = qforge(args, &o);
    CHECK_MSG(rc == 0 && o && strstr(o, "continuing") && strstr(o, "s (resumed) |"), "rc %d: %s", rc,
              o ? o : "");
    free(o);
    CHECK(!qf_path_exists(otmp));
    char *js = slurp(out, "compare.json", NULL);
    cJSON *j = js ? cJSON_Parse(js) : NULL, *saved = rtn_row ? cJSON_Parse(rtn_row) : NULL;
    free(js), free(rtn_row);
    const cJSON *rows = cJSON_GetObjectItem(j, "rows");
    const cJSON *rtn = cJSON_GetArrayItem(rows, 1), *gptq = cJSON_GetArrayItem(rows, 2);
    CHECK(cJSON_GetArraySize(rows) == 3);
    CHECK(saved && cJSON_GetNumberValue(cJSON_GetObjectItem(rtn, "quantize_seconds")) ==
                       cJSON_GetNumberValue(cJSON_GetObjectItem(saved, "quantize_seconds")));
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(rtn, "ppl")) ==
          cJSON_GetNumberValue(cJSON_GetObjectItem(saved, "ppl")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(rtn, "quantize_resumed")) &&
          cJSON_IsTrue(cJSON_GetObjectItem(gptq, "quantize_resumed")));
    cJSON_Delete(j), cJSON_Delete(saved);
    const char *leftovers[4] = {"compare-state.json", "source.qflogits", "rtn.row.json", "gptq.row.json"};
    for (int i = 0; i < 4; i++) {
        char lp[800];
        snprintf(lp, sizeof lp, "%s/%s", out, leftovers[i]);
        CHECK_MSG(!qf_path_exists(lp), "%s left in the output", leftovers[i]);
    }

    /* the resumed GPTQ artifact is the one an uninterrupted quantize writes */
    snprintf(args, sizeof args, "quantize " SRC " %s/gptq1 --method gptq --group-size 32 --desc-act "
             "--static-groups --calib %s --calib-samples 8 --calib-seqlen 64 --threads 1", tmp, calib);
    CHECK(qforge(args, NULL) == 0);
    same_weights(out, "gptq", "gptq1");
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    test_resume();
    char args[3072], out[1024], *o = NULL;
    snprintf(out, sizeof out, "%s/cmp", tmp);
    snprintf(args, sizeof args,
             "compare " SRC " --text " TEXT " --out %s --methods rtn,awq,smoothquant --group-size 32 --ctx 256 "
             "--calib " TEXT " --calib-samples 8 --calib-seqlen 64 --threads 1", out);
    int rc = qforge(args, &o);
    CHECK_MSG(rc == 0 && o && strstr(o, "| awq | 4 | 32 |"), "compare: rc %d: %s", rc, o ? o : "");
    free(o);

    /* the same RTN quantize and source eval run on their own */
    snprintf(args, sizeof args, "quantize " SRC " %s/rtn --method rtn --group-size 32 --threads 1", tmp);
    CHECK(qforge(args, NULL) == 0);
    const size_t na = same_weights(out, "rtn", "rtn");
    snprintf(args, sizeof args, "eval " SRC " --text " TEXT " --ctx 256 --threads 1 --json");
    rc = qforge(args, &o);
    cJSON *ev = rc == 0 && o ? cJSON_Parse(o) : NULL;
    free(o);

    char *js = slurp(out, "compare.json", NULL);
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    free(js);
    const cJSON *rows = cJSON_GetObjectItem(j, "rows");
    CHECK(cJSON_GetArraySize(rows) == 4);
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "device")), "cpu"));
    const cJSON *src = cJSON_GetArrayItem(rows, 0), *rtn = cJSON_GetArrayItem(rows, 1);
    const double ppl0 = cJSON_GetNumberValue(cJSON_GetObjectItem(src, "ppl"));
    CHECK(ev && fabs(ppl0 - cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "ppl"))) < 1e-9 * ppl0);
    for (int i = 1; i < 4; i++) {
        const cJSON *r = cJSON_GetArrayItem(rows, i);
        const double ppl = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "ppl"));
        const double kld = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "kld_mean"));
        const double top1 = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "top1_agree"));
        CHECK(isfinite(ppl) && fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(r, "delta_ppl")) -
                                    (ppl - ppl0)) < 1e-9 * ppl);
        CHECK(kld > 0.0 && top1 > 0.3 && top1 < 1.0);
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r, "quantize_peak_rss_mib")) > 0.0);
    }
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(rtn, "method")), "rtn"));
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(rtn, "bytes")) == (double)na);
    const cJSON *sq = cJSON_GetArrayItem(rows, 3); /* W8A8 whatever --bits says */
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(sq, "method")), "smoothquant") &&
          cJSON_GetNumberValue(cJSON_GetObjectItem(sq, "bits")) == 8 &&
          cJSON_GetNumberValue(cJSON_GetObjectItem(sq, "group_size")) == -1);
    cJSON_Delete(j);
    cJSON_Delete(ev);

    char *svg = slurp(out, "compare.svg", NULL);
    CHECK(svg && strstr(svg, "<svg") && strstr(svg, ">awq (") && strstr(svg, ">rtn (") &&
          strstr(svg, "</svg>"));
    free(svg);
    size_t np = 0;
    unsigned char *png = (unsigned char *)slurp(out, "compare.png", &np);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(png && np > 1000 && !memcmp(png, sig, 8) && !memcmp(png + 12, "IHDR", 4) &&
          be32(png + 16) == 720 && be32(png + 20) == 440);
    free(png);
    char *md = slurp(out, "compare.md", NULL);
    CHECK(md && strstr(md, "| source |") && strstr(md, "| rtn | 4 | 32 |"));
    free(md);

    /* bad input */
    snprintf(args, sizeof args, "compare " SRC " --text " TEXT " --out %s", out);
    rc = qforge(args, &o);
    CHECK(rc == 1 && o && strstr(o, "already exists"));
    free(o);
    snprintf(args, sizeof args, "compare " SRC " --text " TEXT " --out %s/x --methods rtn,fp8", tmp);
    rc = qforge(args, &o);
    CHECK(rc == 2 && o && strstr(o, "unknown method 'fp8'"));
    free(o);
    snprintf(args, sizeof args, "compare " SRC " --text " TEXT " --out %s/x --device tpu", tmp);
    rc = qforge(args, &o);
    CHECK(rc == 2 && o && strstr(o, "--device must be cpu or cuda"));
    free(o);
    /* without a usable GPU (or CUDA in the build) --device cuda is refused before any
     * work; with one, the table says where it ran */
    snprintf(args, sizeof args, "compare " SRC " --text " TEXT " --out %s/x --device cuda "
             "--methods rtn,gptq --group-size 32 --ctx 256 --calib " TEXT " --calib-samples 8 "
             "--calib-seqlen 64 --threads 1", tmp);
    rc = qforge(args, &o);
    CHECK_MSG((rc == 1 && o && strstr(o, "--device cuda: ")) || rc == 0, "rc %d: %s", rc, o ? o : "");
    free(o);
    snprintf(args, sizeof args, "%s/x", tmp);
    if (rc == 0) {
        char *gj = slurp(args, "compare.json", NULL);
        CHECK(gj && strstr(gj, "\"device\":\t\"cuda\""));
        free(gj);
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf %s/x", tmp);
        CHECK(system(cmd) == 0);
    }
    CHECK(!qf_path_exists(args));
    snprintf(args, sizeof args, "compare " SRC " --text /nonexistent.txt --out %s/x --methods rtn", tmp);
    rc = qforge(args, &o);
    CHECK(rc == 1 && o && strstr(o, "/nonexistent.txt"));
    free(o);
    snprintf(args, sizeof args, "%s/x", tmp);
    CHECK(!qf_path_exists(args));
    snprintf(args, sizeof args, "%s/x.qforge-tmp", tmp);
    CHECK(!qf_path_exists(args));

    if (!qf_test_failures) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        CHECK(system(cmd) == 0);
    }
    TEST_END();
}
