/* qf_gptq_quantize on a real layer's W and H read from raw f32 files (written by
 * dev/gptq_real_layer.py from transformers' activations on calibration windows), for a
 * code-by-code comparison with llm-compressor's quantize_weight on the same inputs.
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -I. dev/gptq_real_layer.c build/libqforge.a \
 *          $(pkg-config --libs openblas libzstd libcjson libpcre2-8 libutf8proc lapacke) -lpthread -lm
 * Usage: gptq_real_layer W.bin H.bin OUT IN Q.bin GROUP STATIC_GROUPS DESC_ACT
 *        (4-bit asym, f32 scales like llm-compressor's observer; writes the dequantized Q) */
#include <stdio.h>
#include <stdlib.h>

#include "gptq/gptq.h"

static void read_all(const char *path, float *dst, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f || fread(dst, sizeof(float), n, f) != n) {
        fprintf(stderr, "%s: cannot read %zu floats\n", path, n);
        exit(1);
    }
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s W.bin H.bin OUT IN Q.bin GROUP STATIC DESC_ACT\n", argv[0]);
        return 2;
    }
    const int64_t out = atoll(argv[3]), in = atoll(argv[4]);
    float *w = malloc((size_t)(out * in) * sizeof(float)), *q = malloc((size_t)(out * in) * sizeof(float));
    qf_gptq_hessian h;
    if (!w || !q || qf_gptq_hessian_init(&h, in) != QF_STATUS_OK) return 1;
    read_all(argv[1], w, (size_t)(out * in));
    read_all(argv[2], h.h, (size_t)(in * in));
    h.count = 1;
    qf_gptq_options o = qf_gptq_options_default();
    o.quant.group_size = atoi(argv[6]);
    o.quant.scale_f32 = 1;
    o.static_groups = atoi(argv[7]);
    o.desc_act = atoi(argv[8]);
    qf_qweight qw;
    qf_gptq_stats st;
    if (qf_gptq_quantize(w, out, in, &h, &o, &qw, &st) != QF_STATUS_OK) {
        fprintf(stderr, "%s\n", qf_error_message());
        return 1;
    }
    qf_qweight_dequant_ref(&qw, q);
    printf("damp %g rtn_error %g gptq_error %g\n", st.damp_percent, st.rtn_error, st.gptq_error);
    FILE *f = fopen(argv[5], "wb");
    if (!f || fwrite(q, sizeof(float), (size_t)(out * in), f) != (size_t)(out * in)) return 1;
    fclose(f);
    qf_qweight_free(&qw);
    qf_gptq_hessian_free(&h);
    free(w), free(q);
    return 0;
}
