/* Unit tests of the ggml dequantizers and qf_model_tensor_read_f32:
 *  - every case of fixtures/gguf/dequant_synthetic.json (gguf-py's gguf.quants output
 *    on quantized real weight rows and on random K-quant blocks) must match bit for bit
 *    (tolerance: 0 ulp), through qf_gguf_dequant_ref and through qf_model_tensor_read_f32;
 *  - argument errors;
 *  - the RoPE un-permutation: a hand-worked case, and permute (convert_hf_to_gguf.py's
 *    formula) then read == identity for several head counts, row lengths and 1-D. */
#include "formats/gguf.h"
#include "formats/model.h"
#include "tests/test_gguf_util.h"

static void test_synthetic_cases(void) {
    cJSON *j = qf_test_load_json(QF_FIXTURES_DIR "/gguf/dequant_synthetic.json");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(j, "cases");
    int seen[QF_DTYPE_COUNT] = {0};
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = qf_test_json_str(c, "name");
        const char *tname = qf_test_json_str(c, "type");
        int dt = qf_dtype_from_name(tname, strlen(tname));
        CHECK_MSG(dt >= 0, "case '%s': unknown type %s", name, tname);
        if (dt < 0) continue;
        seen[dt] = 1;
        uint8_t *bytes;
        float *want;
        size_t nbytes = qf_test_unhex(qf_test_json_str(c, "bytes"), &bytes);
        size_t n = qf_test_unhex_f32(qf_test_json_str(c, "expected"), &want);
        CHECK_MSG(n == (size_t)qf_test_json_num(c, "n"), "case '%s': count", name);
        uint64_t need;
        CHECK_OK(qf_dtype_nbytes((qf_dtype)dt, n, &need));
        CHECK_MSG(need == nbytes, "case '%s': %zu bytes for %zu values", name, nbytes, n);

        /* unaligned source on purpose: dequantizers must not assume alignment */
        uint8_t *src = malloc(nbytes + 1);
        memcpy(src + 1, bytes, nbytes);
        float *got = calloc(n, sizeof *got);
        CHECK_OK(qf_gguf_dequant_ref((qf_dtype)dt, src + 1, n, got));
        CHECK_MSG(qf_test_bits_diff(name, got, want, n) == 0, "case '%s' differs from gguf-py",
                  name);

        qf_model_tensor t = {.name = name,
                             .dtype = (qf_dtype)dt,
                             .ndim = 2,
                             .shape = {2, (int64_t)n / 2},
                             .numel = n,
                             .nbytes = nbytes,
                             .data = src + 1};
        if (dt == QF_DTYPE_Q4_K || dt == QF_DTYPE_Q6_K) {
            t.shape[0] = (int64_t)n / 256;
            t.shape[1] = 256;
        }
        memset(got, 0, n * sizeof *got);
        CHECK_OK(qf_model_tensor_read_f32(&t, got));
        CHECK_MSG(qf_test_bits_diff(name, got, want, n) == 0, "case '%s' via read_f32", name);
        free(src);
        free(got);
        free(bytes);
        free(want);
    }
    const qf_dtype needed[] = {QF_DTYPE_F32,  QF_DTYPE_F16,  QF_DTYPE_BF16, QF_DTYPE_Q8_0,
                               QF_DTYPE_Q4_0, QF_DTYPE_Q4_1, QF_DTYPE_Q4_K, QF_DTYPE_Q6_K};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        CHECK_MSG(seen[needed[i]], "no fixture case for %s", qf_dtype_name(needed[i]));
    cJSON_Delete(j);
}

static void test_argument_errors(void) {
    uint8_t block[210] = {0};
    float out[256];
    CHECK_FAILS(qf_gguf_dequant_ref(QF_DTYPE_Q4_0, block, 31, out), QF_STATUS_INVALID_ARG,
                "not a whole number of Q4_0 blocks");
    CHECK_FAILS(qf_gguf_dequant_ref(QF_DTYPE_Q6_K, block, 128, out), QF_STATUS_INVALID_ARG,
                "Q6_K blocks of 256");
    CHECK_FAILS(qf_gguf_dequant_ref(QF_DTYPE_I32, block, 4, out), QF_STATUS_UNSUPPORTED,
                "no GGUF dequantizer for dtype I32");
    CHECK_OK(qf_gguf_dequant_ref(QF_DTYPE_Q4_K, block, 0, out));

    qf_model_tensor t = {.name = "x",
                         .dtype = QF_DTYPE_Q8_0,
                         .ndim = 1,
                         .shape = {32},
                         .numel = 32,
                         .nbytes = 33,
                         .data = block};
    CHECK_FAILS(qf_model_tensor_read_f32(&t, out), QF_STATUS_FORMAT,
                "tensor 'x': 33 bytes stored but 32 Q8_0 elements need 34");
    t.nbytes = 34;
    t.numel = 33;
    CHECK_FAILS(qf_model_tensor_read_f32(&t, out), QF_STATUS_FORMAT, "tensor 'x': ");
    t = (qf_model_tensor){.name = "ints",
                          .dtype = QF_DTYPE_I32,
                          .ndim = 1,
                          .shape = {4},
                          .numel = 4,
                          .nbytes = 16,
                          .data = block};
    CHECK_FAILS(qf_model_tensor_read_f32(&t, out), QF_STATUS_UNSUPPORTED,
                "tensor 'ints': dtype I32 cannot be read as F32");
    float w[6] = {0};
    t = (qf_model_tensor){.name = "q",
                          .dtype = QF_DTYPE_F32,
                          .ndim = 2,
                          .shape = {6, 1},
                          .numel = 6,
                          .nbytes = 24,
                          .data = w,
                          .rope_unpermute_heads = 2};
    CHECK_FAILS(qf_model_tensor_read_f32(&t, out), QF_STATUS_FORMAT,
                "tensor 'q': 6 rows do not split into 2 heads of an even size");
}

/* convert_hf_to_gguf.py permute: w.reshape(heads, 2, D/2, rest).swapaxes(1, 2), i.e.
 * GGUF row h*D + 2*i + k holds HF row h*D + k*D/2 + i. Written out independently of
 * the code under test. */
static void test_permute(const float *hf, float *gguf, int64_t rows, int64_t row_len, int heads) {
    int64_t d = rows / heads;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t k = 0; k < 2; k++)
            for (int64_t i = 0; i < d / 2; i++)
                memcpy(gguf + (h * d + 2 * i + k) * row_len,
                       hf + (h * d + k * (d / 2) + i) * row_len, (size_t)row_len * sizeof *hf);
}

static void test_unpermute(void) {
    /* one head of 4 rows: GGUF order is HF rows 0, 2, 1, 3 */
    float g4[4] = {10, 12, 11, 13}, out4[4];
    qf_model_tensor t = {.name = "k",
                         .dtype = QF_DTYPE_F32,
                         .ndim = 1,
                         .shape = {4},
                         .numel = 4,
                         .nbytes = 16,
                         .data = g4,
                         .rope_unpermute_heads = 1};
    CHECK_OK(qf_model_tensor_read_f32(&t, out4));
    CHECK(out4[0] == 10 && out4[1] == 11 && out4[2] == 12 && out4[3] == 13);

    /* two heads of 4 rows, rows of 2: HF row r = (r, r+100) */
    float hf8[16], gg8[16], back8[16];
    for (int r = 0; r < 8; r++) {
        hf8[2 * r] = (float)r;
        hf8[2 * r + 1] = (float)(r + 100);
    }
    const float expect_rows[8] = {0, 2, 1, 3, 4, 6, 5, 7}; /* HF row at each GGUF row */
    test_permute(hf8, gg8, 8, 2, 2);
    for (int r = 0; r < 8; r++) CHECK(gg8[2 * r] == expect_rows[r]);
    t = (qf_model_tensor){.name = "q",
                          .dtype = QF_DTYPE_F32,
                          .ndim = 2,
                          .shape = {8, 2},
                          .numel = 16,
                          .nbytes = 64,
                          .data = gg8,
                          .rope_unpermute_heads = 2};
    CHECK_OK(qf_model_tensor_read_f32(&t, back8));
    CHECK(memcmp(back8, hf8, sizeof hf8) == 0);

    /* property: permute then read == identity (SmolLM2 shapes included) */
    const struct {
        int64_t rows, row_len;
        int heads;
    } shapes[] = {{576, 576, 9}, {192, 576, 3}, {64, 1, 4}, {64, 3, 1}, {32, 7, 16}, {128, 5, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s].rows, len = shapes[s].row_len;
        size_t n = (size_t)(rows * len);
        float *hf = malloc(n * sizeof *hf), *gg = malloc(n * sizeof *gg),
              *back = malloc(n * sizeof *back);
        for (size_t i = 0; i < n; i++) hf[i] = (float)i;
        test_permute(hf, gg, rows, len, shapes[s].heads);
        t = (qf_model_tensor){.name = "p",
                              .dtype = QF_DTYPE_F32,
                              .ndim = len == 1 ? 1 : 2,
                              .shape = {rows, len},
                              .numel = n,
                              .nbytes = n * 4,
                              .data = gg,
                              .rope_unpermute_heads = shapes[s].heads};
        CHECK_OK(qf_model_tensor_read_f32(&t, back));
        CHECK_MSG(memcmp(back, hf, n * sizeof *hf) == 0, "round trip rows %lld heads %d",
                  (long long)rows, shapes[s].heads);
        free(hf);
        free(gg);
        free(back);
    }
}

int main(void) {
    test_synthetic_cases();
    test_argument_errors();
    test_unpermute();
    TEST_END();
}
