/* Our files read by the official safetensors package: writes files with our writer
 * (every dtype, zero-size, scalar, metadata, names needing escapes) plus what they
 * should contain, then runs QF_TEST_PYTHON tests/fixtures/scripts/
 * check_safetensors_read.py on them. One file must match the official writer byte
 * for byte. Skipped (77) when that Python is missing. */
#include <sys/wait.h>

#include "test.h"
#include "test_safetensors_common.h"

#define CHECK_SCRIPT QF_FIXTURES_DIR "/scripts/check_safetensors_read.py"

static void json_str(FILE *fp, const char *s) {
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(fp, "\\%c", *p);
        else if (*p < 0x20) fprintf(fp, "\\u%04x", *p);
        else fputc(*p, fp);
    }
    fputc('"', fp);
}

/* Writes `path` with our writer and its expectation file; bad_hex corrupts the
 * expectation of the first tensor (to prove the checker is not vacuous). */
static void write_case(const char *path, const char *exp_path, int with_f6, int many_meta,
                       int bad_hex) {
    struct {
        const char *name;
        qf_dtype dtype;
        int ndim;
        int64_t shape[3];
    } t[40];
    int n = 0;
    static char names[QF_DTYPE_COUNT][32];
    for (int d = 0; d < QF_DTYPE_COUNT; d++) {
        if (qf_dtype_get_info((qf_dtype)d)->block_elems != 1) continue;
        if (!with_f6 && (d == QF_DTYPE_F6_E2M3 || d == QF_DTYPE_F6_E3M2)) continue;
        snprintf(names[d], sizeof names[d], "layer.%s", qf_dtype_name((qf_dtype)d));
        t[n].name = names[d];
        t[n].dtype = (qf_dtype)d;
        t[n].ndim = 2;
        t[n].shape[0] = 3;
        t[n].shape[1] = 4;
        n++;
    }
    t[n].name = "zero";
    t[n].dtype = QF_DTYPE_F32;
    t[n].ndim = 2;
    t[n].shape[0] = 0;
    t[n].shape[1] = 5;
    n++;
    t[n].name = "scalar";
    t[n].dtype = QF_DTYPE_BF16;
    t[n].ndim = 0;
    n++;
    t[n].name = "a.weight";
    t[n].dtype = QF_DTYPE_F16;
    t[n].ndim = 1;
    t[n].shape[0] = 2;
    n++;
    t[n].name = "a.weight2";
    t[n].dtype = QF_DTYPE_F16;
    t[n].ndim = 1;
    t[n].shape[0] = 1;
    n++;
    t[n].name = "we\"ird\\name\n\x01/\xc3\xbcn\xc3\xaf\xe5\x90\x8d";
    t[n].dtype = QF_DTYPE_U8;
    t[n].ndim = 3;
    t[n].shape[0] = 1;
    t[n].shape[1] = 2;
    t[n].shape[2] = 1;
    n++;

    const char *meta[] = {"format", "pt", "note", "q\"\\\n\xc3\xbc", "empty", ""};
    int nmeta = many_meta ? 3 : 1;

    qf_st_writer *w = NULL;
    CHECK_OK(qf_st_writer_open(path, 1, &w));
    for (int i = 1; i < nmeta; i++) CHECK_OK(qf_st_writer_add_meta(w, meta[2 * i], meta[2 * i + 1]));
    for (int i = 0; i < n; i++) CHECK_OK(qf_st_writer_declare(w, t[i].name, t[i].dtype, t[i].ndim, t[i].shape));
    CHECK_OK(qf_st_writer_write_header(w));
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1, nbytes = 0;
        for (int d = 0; d < t[i].ndim; d++) numel *= (uint64_t)t[i].shape[d];
        CHECK_OK(qf_dtype_nbytes(t[i].dtype, numel, &nbytes));
        uint8_t *data = malloc(nbytes + 1);
        for (uint64_t b = 0; b < nbytes; b++) data[b] = (uint8_t)(b * 29 + (uint64_t)i * 7 + 3);
        CHECK_OK(qf_st_writer_write(w, t[i].name, data, (size_t)nbytes));
        free(data);
    }
    CHECK_OK(qf_st_writer_finish(w));

    /* the expectation: what we meant to write, read back through our reader for the
     * offsets (the checker compares them with the official reader's) */
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(path, &f));
    if (!f) return;
    FILE *fp = fopen(exp_path, "w");
    if (!fp) abort();
    fprintf(fp, "{\"byte_identical\": %s, \"metadata\": {", many_meta ? "false" : "true");
    for (int i = 0; i < nmeta; i++) {
        if (i) fputc(',', fp);
        json_str(fp, meta[2 * i]);
        fputc(':', fp);
        json_str(fp, meta[2 * i + 1]);
    }
    fprintf(fp, "}, \"tensors\": [");
    for (int i = 0; i < n; i++) {
        const qf_st_tensor *q = qf_st_find(f, t[i].name, strlen(t[i].name));
        CHECK(q != NULL);
        if (!q) continue;
        fprintf(fp, "%s{\"name\":", i ? ",\n" : "");
        json_str(fp, t[i].name);
        fprintf(fp, ",\"dtype\":\"%s\",\"shape\":[", qf_dtype_name(t[i].dtype));
        for (int d = 0; d < t[i].ndim; d++) fprintf(fp, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        fprintf(fp, "],\"data_offsets\":[%llu,%llu],\"hex\":\"", (unsigned long long)q->begin,
                (unsigned long long)q->end);
        uint64_t numel = 1, nbytes = 0;
        for (int d = 0; d < t[i].ndim; d++) numel *= (uint64_t)t[i].shape[d];
        qf_dtype_nbytes(t[i].dtype, numel, &nbytes);
        for (uint64_t b = 0; b < nbytes; b++) {
            uint8_t v = (uint8_t)(b * 29 + (uint64_t)i * 7 + 3);
            if (bad_hex && i == 0 && b == 0) v ^= 1;
            fprintf(fp, "%02x", v);
        }
        fprintf(fp, "\"}");
    }
    fprintf(fp, "]}\n");
    fclose(fp);
    qf_st_close(f);
}

static int run_check(const char *file, const char *exp) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", QF_TEST_PYTHON, CHECK_SCRIPT, file, exp);
    fflush(stdout);
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(void) {
    if (access(QF_TEST_PYTHON, X_OK) != 0)
        TEST_SKIP("QF_TEST_PYTHON '%s' not found (run scripts/setup.sh)", QF_TEST_PYTHON);
    char probe[4200];
    snprintf(probe, sizeof probe, "'%s' -c 'import safetensors, numpy' 2>/dev/null",
             QF_TEST_PYTHON);
    if (system(probe) != 0) TEST_SKIP("%s lacks safetensors/numpy", QF_TEST_PYTHON);

    char dir[4096], file[4200], exp[4200];
    st_make_tmpdir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/ours.safetensors", dir);
    snprintf(exp, sizeof exp, "%s/ours.json", dir);

    /* every dtype incl. F6, several metadata entries: read back by the official reader */
    write_case(file, exp, 1, 1, 0);
    CHECK_MSG(run_check(file, exp) == 0, "official reader disagrees (all dtypes + metadata)");
    /* dtypes the official writer can take, format=pt only: byte-identical output */
    write_case(file, exp, 0, 0, 0);
    CHECK_MSG(run_check(file, exp) == 0, "not byte-identical to the official writer");
    /* the checker notices a wrong byte */
    write_case(file, exp, 0, 0, 1);
    printf("(a mismatch report is expected next)\n");
    CHECK_MSG(run_check(file, exp) == 1, "checker accepted a corrupted expectation");

    st_rm_dir(dir);
    TEST_END();
}
