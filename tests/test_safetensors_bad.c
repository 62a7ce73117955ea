/* Golden must-fail files: tests/fixtures/safetensors/bad/ (each one rejected by the
 * official parser, checked by make_safetensors_fixtures.py) and strict/ (accepted by
 * the official parser, rejected by qforge on purpose). Each must fail in qf_st_open
 * with a specific status and message; every fixture file must be listed here. */
#include "test.h"
#include "test_safetensors_common.h"

typedef struct bad_case {
    const char *dir, *file;
    qf_status status;
    const char *needle;
} bad_case;

static const bad_case cases[] = {
    {"bad", "too_small", QF_STATUS_FORMAT, "file is 5 bytes, smaller than the 8-byte header length"},
    {"bad", "header_too_large", QF_STATUS_FORMAT, "header size 100000001 exceeds the limit of 100000000 bytes"},
    {"bad", "header_len_overflow", QF_STATUS_FORMAT, "header size 18446744073709551615 exceeds the limit"},
    {"bad", "header_past_eof", QF_STATUS_FORMAT, "header of 64 bytes extends past the end of the file (15 bytes)"},
    {"bad", "header_empty", QF_STATUS_FORMAT, "header does not start with '{'"},
    {"bad", "truncated", QF_STATUS_FORMAT, "tensor 'b': data_offsets end 12 > data size 8"},
    {"bad", "trailing_bytes", QF_STATUS_FORMAT, "3 trailing bytes after the last tensor (tensors end at 12, data size 15)"},
    {"bad", "overlap", QF_STATUS_FORMAT, "tensor 'b': data_offsets [4, 12] overlap the previous tensor ending at 8"},
    {"bad", "gap", QF_STATUS_FORMAT, "tensor 'b': data_offsets begin 8 leaves a gap after offset 4"},
    {"bad", "not_from_zero", QF_STATUS_FORMAT, "tensor 'a': data_offsets begin 4 leaves a gap after offset 0"},
    {"bad", "end_before_begin", QF_STATUS_FORMAT, "tensor 'a': data_offsets end 0 < begin 4"},
    {"bad", "bad_dtype", QF_STATUS_FORMAT, "tensor 'a': unknown dtype 'F17'"},
    {"bad", "dtype_lowercase", QF_STATUS_FORMAT, "tensor 'a': unknown dtype 'f32'"},
    {"bad", "ggml_dtype", QF_STATUS_FORMAT, "tensor 'a': unknown dtype 'Q4_0'"},
    {"bad", "numel_mismatch", QF_STATUS_FORMAT, "tensor 'a': F32 shape of 3 elements is 12 bytes but data_offsets [0, 8] span 8"},
    {"bad", "shape_overflow", QF_STATUS_FORMAT, "tensor 'a': U8 shape: element count overflows 64 bits"},
    {"bad", "bits_overflow", QF_STATUS_FORMAT, "tensor 'a': U64 shape: size in bits overflows 64 bits"},
    {"bad", "f4_odd", QF_STATUS_FORMAT, "tensor 'a': F4 shape: size is not a whole number of bytes"},
    {"bad", "f6_partial_byte", QF_STATUS_FORMAT, "tensor 'a': F6_E2M3 shape: size is not a whole number of bytes"},
    {"bad", "dup_tensor", QF_STATUS_FORMAT, "duplicate tensor name 'a'"},
    {"bad", "dup_field", QF_STATUS_FORMAT, "tensor 'a': duplicate field 'dtype'"},
    {"bad", "dup_metadata", QF_STATUS_FORMAT, "duplicate '__metadata__'"},
    {"bad", "missing_shape", QF_STATUS_FORMAT, "tensor 'a': missing field 'shape'"},
    {"bad", "offsets_three", QF_STATUS_FORMAT, "tensor 'a': 'data_offsets' must have exactly 2 elements"},
    {"bad", "float_dim", QF_STATUS_FORMAT, "tensor 'a': shape[0] is not a non-negative integer"},
    {"bad", "negative_dim", QF_STATUS_FORMAT, "tensor 'a': shape[0] is not a non-negative integer"},
    {"bad", "dim_above_u64", QF_STATUS_FORMAT, "tensor 'a': shape[0] is not a non-negative integer below 2^64"},
    {"bad", "entry_not_object", QF_STATUS_FORMAT, "tensor 'a': entry must be an object"},
    {"bad", "metadata_not_object", QF_STATUS_FORMAT, "'__metadata__' must be an object of strings"},
    {"bad", "metadata_non_string", QF_STATUS_FORMAT, "'__metadata__' value of 'n' is not a string"},
    {"bad", "non_utf8", QF_STATUS_FORMAT, "header is not valid UTF-8 (at byte 3)"},
    {"bad", "overlong_utf8", QF_STATUS_FORMAT, "header is not valid UTF-8 (at byte 3)"},
    {"bad", "not_object", QF_STATUS_FORMAT, "header does not start with '{'"},
    {"bad", "bom", QF_STATUS_FORMAT, "header does not start with '{'"},
    {"bad", "deep_nesting", QF_STATUS_FORMAT, "JSON nesting deeper than 3 levels at header byte 57"},
    {"bad", "invalid_json", QF_STATUS_FORMAT, "invalid JSON in header at byte 53: expected a string"},
    {"bad", "unterminated", QF_STATUS_FORMAT, "invalid JSON in header at byte 18: expected ',' or '}'"},
    {"bad", "nul_padding", QF_STATUS_FORMAT, "invalid JSON in header at byte 2: trailing characters after the header object"},
    {"bad", "control_char", QF_STATUS_FORMAT, "invalid JSON in header at byte 3: control character in string"},
    {"bad", "lone_surrogate", QF_STATUS_FORMAT, "lone surrogate in \\u escape"},
    {"bad", "bad_escape", QF_STATUS_FORMAT, "invalid escape in string"},
    {"bad", "number_out_of_range", QF_STATUS_FORMAT, "number out of range"},
    {"bad", "leading_zero", QF_STATUS_FORMAT, "invalid number (leading zero)"},

    {"strict", "leading_space", QF_STATUS_FORMAT, "header does not start with '{'"},
    {"strict", "dup_tensor_identical", QF_STATUS_FORMAT, "duplicate tensor name 'a'"},
    {"strict", "dup_metadata_key", QF_STATUS_FORMAT, "duplicate '__metadata__' key 'k'"},
    {"strict", "dup_unknown_field", QF_STATUS_FORMAT, "tensor 'a': duplicate field 'x'"},
    {"strict", "nesting_depth_4", QF_STATUS_FORMAT, "JSON nesting deeper than 3 levels"},
    {"strict", "rank_9", QF_STATUS_UNSUPPORTED, "tensor 'a': more than 8 dimensions"},
    {"strict", "dim_above_int64", QF_STATUS_UNSUPPORTED, "tensor 'a': shape[0] = 18446744073709551615 exceeds the int64 range"},
    {"strict", "fnuz_dtype", QF_STATUS_UNSUPPORTED, "tensor 'a': dtype 'F8_E4M3FNUZ' is not supported by qforge"},
    {"strict", "name_too_long", QF_STATUS_NOMEM, "tensor name of 4097 bytes exceeds the limit of 4096"},
};

static int listed(const char *dir, const char *fname) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[256];
        snprintf(want, sizeof want, "%s.safetensors", cases[i].file);
        if (strcmp(cases[i].dir, dir) == 0 && strcmp(want, fname) == 0) return 1;
    }
    return 0;
}

/* Every fixture file in bad/ and strict/ has a row above. */
static void check_all_listed(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ST_FIXTURES, dir);
    DIR *d = opendir(path);
    CHECK_MSG(d != NULL, "cannot open %s", path);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (!strstr(e->d_name, ".safetensors")) continue;
        n++;
        CHECK_MSG(listed(dir, e->d_name), "%s/%s has no expected error in this test", dir,
                  e->d_name);
    }
    if (d) closedir(d);
    CHECK(n > 0);
}

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[4096], prefix[4200];
        snprintf(path, sizeof path, "%s/%s/%s.safetensors", ST_FIXTURES, cases[i].dir,
                 cases[i].file);
        qf_st_file *f = (qf_st_file *)1;
        CHECK_FAILS(qf_st_open(path, &f), cases[i].status, cases[i].needle);
        CHECK_MSG(f == NULL, "%s: handle not cleared", cases[i].file);
        /* messages start by naming the file */
        snprintf(prefix, sizeof prefix, "'%s': ", path);
        CHECK_MSG(strncmp(qf_error_message(), prefix, strlen(prefix)) == 0,
                  "message does not name the file: %s", qf_error_message());
    }
    check_all_listed("bad");
    check_all_listed("strict");
    TEST_END();
}
