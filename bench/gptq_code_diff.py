#!/usr/bin/env python3
"""How far apart two GPTQ checkpoints of the same model are, linear by linear: the
fraction of weights whose dequantized value differs, and |Wa - Wb| / |Wa| (Frobenius).
Issue 6 asks for these between the CPU's and the GPU's GPTQ (`quantize --device cuda`):
the codes may differ where a propagated weight lands at a rounding tie.

Reads the safetensors files itself (numpy only, so it runs on a bare GPU machine):
4-bit GPTQ v1 tensors (qweight int32 (in/8, out), qzeros int32 (groups, out/8) storing
zero - 1, F16 scales (groups, out), g_idx int32 (in)); W = scale * (q - zero).

Usage: bench/gptq_code_diff.py DIR_A DIR_B
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np

DTYPES = {"I32": np.int32, "F16": np.float16, "F32": np.float32, "BF16": np.uint16}


def tensors(d):
    """name -> (file, dtype, shape, offset) over every *.safetensors in d."""
    out = {}
    for f in sorted(Path(d).glob("*.safetensors")):
        with open(f, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
        for name, t in header.items():
            if name != "__metadata__":
                out[name] = (f, t["dtype"], t["shape"], 8 + n + t["data_offsets"][0])
    return out


def load(index, name):
    f, dtype, shape, off = index[name]
    count = int(np.prod(shape))
    return np.fromfile(f, dtype=DTYPES[dtype], count=count, offset=off).reshape(shape)


def unpack(packed, axis):
    """int32 words of eight 4-bit codes (low nibble first) along `axis`."""
    words = packed.astype(np.uint32)
    codes = np.stack([(words >> (4 * k)) & 15 for k in range(8)], axis=axis + 1)
    shape = list(packed.shape)
    shape[axis] *= 8
    return codes.reshape(shape).astype(np.int32)


def dequant(index, prefix):
    q = unpack(load(index, prefix + ".qweight"), 0)          # (in, out)
    z = unpack(load(index, prefix + ".qzeros"), 1) + 1      # (groups, out), v1: zero - 1
    s = load(index, prefix + ".scales").astype(np.float32)  # (groups, out)
    g = load(index, prefix + ".g_idx")                       # (in)
    return s[g] * (q - z[g]).astype(np.float32)              # (in, out)


def main():
    a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
    prefixes = sorted(n[: -len(".qweight")] for n in a if n.endswith(".qweight"))
    total = differ = 0
    worst = 0.0
    for p in prefixes:
        if p + ".qweight" not in b:
            print(f"{p}: missing in {sys.argv[2]}")
            continue
        wa, wb = dequant(a, p), dequant(b, p)
        d = int(np.count_nonzero(wa != wb))
        rel = float(np.linalg.norm(wa - wb) / max(np.linalg.norm(wa), 1e-30))
        total += wa.size
        differ += d
        worst = max(worst, rel)
        print(f"{p}: {d / wa.size:.4%} of weights differ, |Wa - Wb| / |Wa| = {rel:.3e}")
    print(f"all {len(prefixes)} linears: {differ / max(total, 1):.4%} of {total} weights differ; "
          f"worst |Wa - Wb| / |Wa| {worst:.3e}")


if __name__ == "__main__":
    main()
