#!/usr/bin/env python3
"""One real linear through qforge's GPTQ and llm-compressor's quantize_weight on identical
inputs: W of model.layers.L.<module> and H = (2/n) X^T X of its inputs in transformers
(F32) on the calibration windows of a `qforge quantize --save-calib` file; both get the
same minmax observer grid (4-bit asym, f32 scales), damp 1%, block 128. Prints each side's
true relative error tr(D H D^T) / tr(W H W^T) and the fraction of equal codes.
Env: /root/lcenv (see tests/fixtures/scripts/make_quant_fixtures.py for the pins).
Usage: gptq_real_layer.py HF_DIR CALIB.safetensors GPTQ_BIN [--layer 0] [--module self_attn.q_proj]
       [--group 64] [--act-order]      (--act-order: ours desc_act + static groups,
                                        llm-compressor actorder "weight")
GPTQ_BIN: dev/gptq_real_layer.c built as in its header."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "scripts"))
import make_quant_fixtures as mq  # noqa: E402  (its observer / code helpers)
from llmcompressor.modifiers.gptq.gptq_quantize import quantize_weight  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("hf_dir")
ap.add_argument("calib")
ap.add_argument("gptq_bin")
ap.add_argument("--layer", type=int, default=0)
ap.add_argument("--module", default="self_attn.q_proj")
ap.add_argument("--group", type=int, default=64)
ap.add_argument("--act-order", action="store_true")
a = ap.parse_args()
torch.set_num_threads(2)
tok = load_file(a.calib)["tokens"]
m = AutoModelForCausalLM.from_pretrained(a.hf_dir, dtype=torch.float32).eval()
lin = m.get_submodule(f"model.layers.{a.layer}.{a.module}")
H = torch.zeros(lin.in_features, lin.in_features, dtype=torch.float64)
rows = [0]


def hook(_, inp):
    x = inp[0][0].double()
    H.add_(x.T @ x)
    rows[0] += x.shape[0]


lin.register_forward_pre_hook(hook)
with torch.no_grad():
    for i in range(tok.shape[0]):
        m(tok[i:i + 1].long())
H = ((2.0 / rows[0]) * H).float()
W = lin.weight.detach().float().contiguous()
out, inn = W.shape
args = mq.qargs(4, False, a.group, actorder="weight" if a.act_order else None)
scale, zp = mq.observe(W.clone(), args)
wq = quantize_weight(W.clone().unsqueeze(0), H.clone().unsqueeze(0), scale.unsqueeze(0),
                     zp.unsqueeze(0), None, args, blocksize=128, percdamp=0.01)[0][0]
with tempfile.TemporaryDirectory() as d:
    W.numpy().tofile(f"{d}/W.bin")
    H.numpy().tofile(f"{d}/H.bin")
    r = subprocess.run([a.gptq_bin, f"{d}/W.bin", f"{d}/H.bin", str(out), str(inn), f"{d}/Q.bin",
                        str(a.group), "1", "1" if a.act_order else "0"],
                       check=True, capture_output=True, text=True).stdout.strip()
    Q = torch.from_numpy(np.fromfile(f"{d}/Q.bin", dtype=np.float32).reshape(out, inn))
Hd, Wd = H.double(), W.double()


def rel(q):
    D = Wd - q.double()
    return float(torch.trace(D @ Hd @ D.T) / torch.trace(Wd @ Hd @ Wd.T))


mq.IN = inn
same = float((mq.codes_of(wq, scale, zp, args) == mq.codes_of(Q, scale, zp, args)).float().mean())
print(f"model.layers.{a.layer}.{a.module} ({out}x{inn}), {tok.shape[0]}x{tok.shape[1]} tokens, "
      f"g{a.group}, act-order {a.act_order}")
print(f"qforge: {r}")
print(f"relative error  qforge {rel(Q):.6e}  llm-compressor {rel(wq):.6e}  codes equal {same:.6f}")
