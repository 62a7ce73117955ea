/* Writes a GPTQ checkpoint (checkpoint_format "gptq", sym, no act-order) of an HF F32/F16
 * model from RTN codes, for the runtime's W4 benchmark until `qforge quantize` exists:
 * every model.layers.*_proj.weight becomes qweight/qzeros/scales/g_idx (qf_quant_rtn, fp16
 * scales, then formats/gptq.h), the other 2-d tensors F16, the 1-d ones F32; config.json
 * gains "quantization_config", tokenizer files are copied. With LM8, a tied model gets an
 * untied 8-bit group-32 symmetric GPTQ lm_head made from the embeddings (a `dynamic`
 * override), like the Q8_0 output tensor llama.cpp's Q4_0 files carry.
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -I. dev/gptq_rtn_checkpoint.c build-qk/libqforge.a \
 *          $(pkg-config --libs openblas libzstd libcjson libpcre2-8 libutf8proc lapacke) -lpthread -lm
 * Usage: gptq_rtn_checkpoint SRC_HF_DIR DST_DIR [BITS=4] [GROUP=128] [lm8] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "core/fileio.h"
#include "core/quant.h"
#include "formats/gptq.h"
#include "formats/model.h"
#include "formats/safetensors.h"

static int quantized(const char *name) {
    const size_t n = strlen(name);
    return strncmp(name, "model.layers.", 13) == 0 && n > 12 &&
           strcmp(name + n - 12, "_proj.weight") == 0;
}

static void die(qf_status st, const char *what) {
    if (st == QF_STATUS_OK) return;
    fprintf(stderr, "%s: %s\n", what, qf_error_message());
    exit(1);
}

static void copy_file(const char *src_dir, const char *dst_dir, const char *name) {
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/%s", src_dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dst_dir, name);
    if (!qf_path_exists(src)) return;
    char *buf;
    size_t n;
    die(qf_file_read_all(src, (size_t)1 << 30, &buf, &n), src);
    die(qf_file_write_atomic(dst, buf, n, 1), dst);
    free(buf);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SRC_HF_DIR DST_DIR [BITS] [GROUP]\n", argv[0]);
        return 2;
    }
    const int bits = argc > 3 ? atoi(argv[3]) : 4;
    const int64_t group = argc > 4 ? atoll(argv[4]) : 128;
    const int lm8 = argc > 5 && strcmp(argv[5], "lm8") == 0;
    qf_model *m;
    die(qf_model_open(argv[1], &m), argv[1]);
    mkdir(argv[2], 0755);
    qf_gptq_config c = {.bits = bits, .group_size = group, .sym = 1, .true_sequential = 1,
                        .damp_percent = 0.01, .format = QF_GPTQ_FORMAT_V1,
                        .quantizer = "qforge dev/gptq_rtn_checkpoint (RTN)"};
    qf_gptq_dynamic lm_rule = {.pattern = "lm_head", .bits = 8, .group_size = 32};
    if (lm8) c.n_dynamic = 1, c.dynamic = &lm_rule;
    char *qjson, path[4096];
    die(qf_gptq_config_to_json(&c, &qjson), "config");
    snprintf(path, sizeof path, "%s/quantize_config.json", argv[2]);
    die(qf_file_write_atomic(path, qjson, strlen(qjson), 1), path);
    snprintf(path, sizeof path, "%s/config.json", argv[1]);
    char *cfg;
    size_t n;
    die(qf_file_read_all(path, 1 << 20, &cfg, &n), path);
    cJSON *cj = cJSON_Parse(cfg), *qj = cJSON_Parse(qjson);
    cJSON_DeleteItemFromObject(cj, "quantization_config");
    cJSON_AddItemToObject(cj, "quantization_config", qj);
    const qf_model_tensor *emb = qf_model_find_tensor(m, "model.embed_tokens.weight");
    const int lm_from_emb = lm8 && !qf_model_find_tensor(m, "lm_head.weight");
    if (lm_from_emb) {
        cJSON_DeleteItemFromObject(cj, "tie_word_embeddings");
        cJSON_AddFalseToObject(cj, "tie_word_embeddings");
    }
    char *out_cfg = cJSON_Print(cj);
    snprintf(path, sizeof path, "%s/config.json", argv[2]);
    die(qf_file_write_atomic(path, out_cfg, strlen(out_cfg), 1), path);
    const char *copies[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                            "special_tokens_map.json"};
    for (size_t i = 0; i < 4; i++) copy_file(argv[1], argv[2], copies[i]);

    qf_st_writer *w;
    snprintf(path, sizeof path, "%s/model.safetensors", argv[2]);
    die(qf_st_writer_open(path, 1, &w), path);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const qf_model_tensor *t = &m->tensors[i];
        char prefix[512];
        if (quantized(t->name)) {
            snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(t->name) - 7), t->name);
            die(qf_gptq_declare(w, prefix, bits, t->shape[0], t->shape[1], group, 0), prefix);
        } else {
            die(qf_st_writer_declare(w, t->name, t->ndim == 1 ? QF_DTYPE_F32 : QF_DTYPE_F16,
                                     t->ndim, t->shape),
                t->name);
        }
    }
    if (lm_from_emb)
        die(qf_gptq_declare(w, "lm_head", 8, emb->shape[0], emb->shape[1], 32, 0), "lm_head");
    die(qf_st_writer_write_header(w), "header");
    const qf_quant_params p = {.bits = bits, .sym = 1, .group_size = group};
    for (size_t i = 0; i < m->n_tensors; i++) {
        const qf_model_tensor *t = &m->tensors[i];
        float *f = malloc(t->numel * sizeof *f);
        die(qf_model_tensor_read_f32(t, f), t->name);
        if (quantized(t->name)) {
            char prefix[512];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(t->name) - 7), t->name);
            qf_qweight q;
            die(qf_quant_rtn(f, t->shape[0], t->shape[1], &p, &q), prefix);
            die(qf_gptq_write(w, prefix, &q, NULL, QF_GPTQ_FORMAT_V1), prefix);
            qf_qweight_free(&q);
        } else if (t->ndim == 1) {
            die(qf_st_writer_write(w, t->name, f, t->numel * 4), t->name);
        } else {
            uint16_t *h = malloc(t->numel * 2);
            for (uint64_t k = 0; k < t->numel; k++) h[k] = qf_fp32_to_fp16(f[k]);
            die(qf_st_writer_write(w, t->name, h, t->numel * 2), t->name);
            free(h);
        }
        free(f);
    }
    if (lm_from_emb) {
        float *f = malloc(emb->numel * sizeof *f);
        die(qf_model_tensor_read_f32(emb, f), emb->name);
        const qf_quant_params p8 = {.bits = 8, .sym = 1, .group_size = 32};
        qf_qweight q;
        die(qf_quant_rtn(f, emb->shape[0], emb->shape[1], &p8, &q), "lm_head");
        die(qf_gptq_write(w, "lm_head", &q, NULL, QF_GPTQ_FORMAT_V1), "lm_head");
        qf_qweight_free(&q);
        free(f);
    }
    die(qf_st_writer_finish(w), "finish");
    printf("wrote %s (%d-bit, group %lld%s)\n", argv[2], bits, (long long)group,
           lm_from_emb ? "; lm_head 8-bit, group 32" : "");
    cJSON_Delete(cj);
    free(cfg), free(out_cfg), free(qjson);
    qf_model_free(m);
    return 0;
}
