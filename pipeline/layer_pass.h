/* The passes of GPTQ's calibration samples through one decoder layer (private to
 * pipeline/; plain C, also read by the CUDA layer pipeline/cuda/layer_cuda.h). With
 * true_sequential each pass ends where the next linear group is quantized; X is the
 * layer's input, replaced by its output as the passes go. */
#ifndef QF_PIPELINE_LAYER_PASS_H
#define QF_PIPELINE_LAYER_PASS_H

typedef enum qf_layer_pass {
    QF_PASS_QKV,   /* H_qkv += input_layernorm(X) */
    QF_PASS_O,     /* att = attention -> kept, H_o += att */
    QF_PASS_GU,    /* X += o_proj(att) -> kept, H_gate_up += post_attention_layernorm(X) */
    QF_PASS_DOWN,  /* h = silu(gate) * up -> kept, H_down += h */
    QF_PASS_OUT,   /* X += down_proj(h) -> kept */
    QF_PASS_ALL_H, /* the FP layer: all four Hessians, X unchanged */
    QF_PASS_FULL,  /* X = layer(X) */
} qf_layer_pass;

#define QF_LAYER_N_PASSES (QF_PASS_FULL + 1)

#endif
