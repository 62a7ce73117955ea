"""Experiment (not part of qforge): QuaRot's R1 rotation of the residual stream, applied
offline to an HF Llama checkpoint (F32 safetensors, one file), for measuring whether a
rotated model quantizes better (bench/results/smoothquant-smollm2.md, 2026-12-05).

Every RMSNorm weight is folded into the linears that read its output (input_layernorm ->
q,k,v; post_attention_layernorm -> gate,up; the final norm -> lm_head) and set to 1; then
with an orthogonal Q (hidden x hidden) the embeddings become E Q, every linear reading the
residual W Q, every linear writing it (o_proj, down_proj) Q^T W, lm_head (E diag(w) Q,
untied). The model's outputs are unchanged (RMSNorm without weight commutes with Q).
Q: a randomized Hadamard matrix H12 x H12 x H4 / 24 (Paley's order-12 construction; only
for hidden_size 576) with random signs, or `random` (QR of a Gaussian matrix).

usage: python bench/rotate_r1.py SRC_DIR DST_DIR hadamard|random
needs: numpy, safetensors (tests/requirements.txt)."""
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def paley12():
    q = 11
    res = {(i * i) % q for i in range(1, q)}
    chi = lambda a: 0 if a % q == 0 else (1 if a % q in res else -1)
    s = np.zeros((12, 12))
    s[0, 1:], s[1:, 0] = 1, -1
    for i in range(q):
        for j in range(q):
            s[1 + i, 1 + j] = chi(j - i)
    return np.eye(12) + s


def rotation(n, kind, rng):
    if kind == "hadamard":
        if n != 576:
            sys.exit("hadamard: only hidden_size 576 (12 x 12 x 4) here")
        h12 = paley12()
        h4 = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], float)
        q = np.kron(np.kron(h12, h12), h4) / np.sqrt(n)
        q = q * rng.choice([-1.0, 1.0], n)[:, None]
    else:
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        q = q * np.sign(np.diag(r))
    assert np.allclose(q @ q.T, np.eye(n), atol=1e-9)
    return q


def main():
    src, dst, kind = sys.argv[1:4]
    cfg = json.load(open(f"{src}/config.json"))
    t = load_file(f"{src}/model.safetensors")
    n = cfg["hidden_size"]
    q = rotation(n, kind, np.random.default_rng(0))
    f64 = lambda name: t[name].astype(np.float64)
    emb = f64("model.embed_tokens.weight")
    head = f64("lm_head.weight") if "lm_head.weight" in t else emb
    out = {"model.embed_tokens.weight": emb @ q,
           "lm_head.weight": (head * f64("model.norm.weight")[None, :]) @ q,
           "model.norm.weight": np.ones(n)}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        for norm, readers in (("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj",
                                                   "self_attn.v_proj")),
                              ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"))):
            w = f64(p + norm + ".weight")
            for r in readers:
                out[p + r + ".weight"] = (f64(p + r + ".weight") * w[None, :]) @ q
            out[p + norm + ".weight"] = np.ones(n)
        for writer in ("self_attn.o_proj", "mlp.down_proj"):
            out[p + writer + ".weight"] = q.T @ f64(p + writer + ".weight")
    missing = [k for k in t if k not in out]
    if missing:
        sys.exit(f"not handled (biases, other architectures): {missing[:4]}")
    os.makedirs(dst, exist_ok=True)
    save_file({k: np.ascontiguousarray(v.astype(np.float32)) for k, v in out.items()},
              f"{dst}/model.safetensors", metadata={"format": "pt"})
    cfg["tie_word_embeddings"] = False
    json.dump(cfg, open(f"{dst}/config.json", "w"), indent=2)
    for f in ("generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(f"{src}/{f}"):
            shutil.copy(f"{src}/{f}", dst)


if __name__ == "__main__":
    main()
