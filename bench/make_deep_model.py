#!/usr/bin/env python3
"""Writes a random Llama checkpoint with many layers (safetensors, llama2 tokenizer from the
shared folder) for the `qforge quantize` peak-RSS benches.
Usage: make_deep_model.py OUTDIR LAYERS [HIDDEN]     narrow: F32, intermediate 3*HIDDEN (256),
                                                     8 heads, 4 kv heads
       make_deep_model.py OUTDIR LAYERS --llama2-7b  Llama-2-7B shapes: hidden 4096,
                                                     intermediate 11008, 32 heads (MHA),
                                                     vocab 32000, F16 (as Meta ships it);
                                                     each tensor a window of one pool of
                                                     2^27 normal draws (6.7e9 fresh draws
                                                     take minutes; these models are for
                                                     time and memory, not quality)
       make_deep_model.py OUTDIR LAYERS --llama2-7b --w4   the same shapes with every layer
                                                     linear as a GPTQ 4-bit g128 tensor set
                                                     (random codes, zero 8, scales for
                                                     unit-RMS outputs): what `qforge
                                                     quantize` would write, in seconds"""
import json, os, shutil, struct, sys

import numpy as np

out, layers = sys.argv[1], int(sys.argv[2])
big = len(sys.argv) > 3 and sys.argv[3] == "--llama2-7b"
w4 = big and sys.argv[4:5] == ["--w4"]
if big:
    hid, inter, heads, kv, dtype, st = 4096, 11008, 32, 32, "<f2", "F16"
else:
    hid = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    inter, heads, kv, dtype, st = hid * 3, 8, 4, "<f4", "F32"
vocab = 32000
hd = hid // heads
os.makedirs(out, exist_ok=True)
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hid,
       "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
       "num_key_value_heads": kv, "head_dim": hd, "vocab_size": vocab,
       "max_position_embeddings": 4096 if big else 2048, "rms_norm_eps": 1e-5,
       "rope_theta": 10000.0, "tie_word_embeddings": False, "bos_token_id": 1,
       "eos_token_id": 2, "torch_dtype": "float16" if big else "float32"}
if w4:
    cfg["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128,
                                  "desc_act": False, "sym": True, "checkpoint_format": "gptq"}
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
shared = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tokenizers", "llama2")
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(shared, f), out)
rng = np.random.default_rng(0)
pool = rng.standard_normal(1 << 27, dtype=np.float32) if big else None
shapes = {"model.embed_tokens.weight": (vocab, hid), "model.norm.weight": (hid,),
          "lm_head.weight": (vocab, hid)}
for l in range(layers):
    p = f"model.layers.{l}."
    shapes.update({p + "self_attn.q_proj.weight": (heads * hd, hid),
                   p + "self_attn.k_proj.weight": (kv * hd, hid),
                   p + "self_attn.v_proj.weight": (kv * hd, hid),
                   p + "self_attn.o_proj.weight": (hid, heads * hd),
                   p + "mlp.gate_proj.weight": (inter, hid), p + "mlp.up_proj.weight": (inter, hid),
                   p + "mlp.down_proj.weight": (hid, inter),
                   p + "input_layernorm.weight": (hid,), p + "post_attention_layernorm.weight": (hid,)})
# name -> (safetensors dtype, numpy dtype, shape); GPTQ tensors replace a linear's weight
tensors = {}
for name, shape in shapes.items():
    if w4 and len(shape) == 2 and name.startswith("model.layers."):
        o, i = shape
        base = name[:-len("weight")]
        tensors.update({base + "qweight": ("I32", "<u4", (i // 8, o)),
                        base + "qzeros": ("I32", "<u4", (i // 128, o // 8)),
                        base + "scales": ("F16", "<f2", (i // 128, o)),
                        base + "g_idx": ("I32", "<i4", (i,))})
    else:
        tensors[name] = (st, dtype, shape)
header, off = {}, 0
for name in sorted(tensors):
    t, d, shape = tensors[name]
    n = int(np.prod(shape)) * np.dtype(d).itemsize
    header[name] = {"dtype": t, "shape": list(shape), "data_offsets": [off, off + n]}
    off += n
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for name in sorted(tensors):
        t, d, s = tensors[name]
        if name.endswith(".qweight"):  # uniform codes 0..15: std 4.6 steps
            x = rng.integers(0, 1 << 32, size=s, dtype=np.uint32)
        elif name.endswith(".qzeros"):  # stored zero - 1 = 7 (GPTQ v1): zero point 8
            x = np.full(s, 0x77777777, dtype=np.uint32)
        elif name.endswith(".scales"):  # 1/sqrt(in) / 4.6 per step, as the F16 weights
            x = np.full(s, (s[0] * 128) ** -0.5 / 4.6)
        elif name.endswith(".g_idx"):
            x = np.arange(s[0]) // 128
        elif len(s) == 1:
            x = 1.0 + 0.1 * rng.standard_normal(s)
        elif big:
            # 2-d: 1/sqrt(in) (7B shapes: outputs of unit-RMS inputs stay O(1))
            n = int(np.prod(s))
            start = int(rng.integers(0, pool.size - n + 1))
            x = s[-1] ** -0.5 * pool[start:start + n].reshape(s)
        else:
            x = 0.05 * rng.standard_normal(s)
        f.write(x.astype(d).tobytes())
