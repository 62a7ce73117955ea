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
                                                     time and memory, not quality)"""
import json, os, shutil, struct, sys

import numpy as np

out, layers = sys.argv[1], int(sys.argv[2])
big = len(sys.argv) > 3 and sys.argv[3] == "--llama2-7b"
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
size = np.dtype(dtype).itemsize
header, off = {}, 0
for name in sorted(shapes):
    n = int(np.prod(shapes[name])) * size
    header[name] = {"dtype": st, "shape": list(shapes[name]), "data_offsets": [off, off + n]}
    off += n
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for name in sorted(shapes):
        s = shapes[name]
        # 2-d: 0.05 (narrow), 1/sqrt(in) (7B shapes: outputs of unit-RMS inputs stay O(1))
        scale = s[-1] ** -0.5 if big else 0.05
        if len(s) == 1:
            x = 1.0 + 0.1 * rng.standard_normal(s)
        elif big:
            n = int(np.prod(s))
            start = int(rng.integers(0, pool.size - n + 1))
            x = scale * pool[start:start + n].reshape(s)
        else:
            x = scale * rng.standard_normal(s)
        f.write(x.astype(dtype).tobytes())
