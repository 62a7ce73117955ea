#!/usr/bin/env python3
"""Side-by-side speed of the qforge runtime and llama.cpp on the same model, same
threads, in one run: prefill tokens/s for a PROMPT-token input and decode tokens/s for
GEN greedy tokens after it (median of REPEATS runs each).

qforge side: `qforge bench GGUF --weights f32|f16 --json`.
llama.cpp side: llama-cpp-python (built from source:
  CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python==0.3.36)
on F32 and F16 GGUFs re-quantized from the same Q4_1 file with llama.cpp's own
llama_model_quantize (allow_requantize), so both sides compute with the same weights.

Usage: runtime_vs_llamacpp.py QFORGE_BIN GGUF [--threads 2] [--prompt 512] [--gen 128] [--repeats 3]
Prints a Markdown table.
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import tempfile
import time

import llama_cpp
import numpy as np


def requantize(src, dst, ftype):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    with open(os.devnull, "w") as null:  # llama.cpp logs every tensor to stderr
        saved = os.dup(2)
        os.dup2(null.fileno(), 2)
        try:
            rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize -> {rc}")


def last_logits(llm, vocab):
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(vocab,))


def bench_llamacpp(path, threads, prompt, gen, repeats):
    llm = llama_cpp.Llama(model_path=path, n_ctx=prompt + gen + 8, n_threads=threads,
                          n_threads_batch=threads, n_batch=prompt, verbose=False)
    vocab = llm.n_vocab()
    state = 0x5EED
    toks = []
    for _ in range(prompt):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        toks.append((state >> 33) % vocab)
    pre, dec = [], []
    for _ in range(repeats):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(toks)
        t1 = time.perf_counter()
        for _ in range(gen):
            nxt = int(last_logits(llm, vocab).argmax())
            llm.eval([nxt])
        t2 = time.perf_counter()
        pre.append(t1 - t0)
        dec.append(t2 - t1)
    return prompt / statistics.median(pre), gen / statistics.median(dec)


def bench_qforge(binary, path, weights, threads, prompt, gen, repeats):
    args = [binary, "bench", path, "--threads", str(threads), "--prompt", str(prompt),
            "--gen", str(gen), "--repeats", str(repeats), "--json"]
    if weights:  # None: the checkpoint's own (quantized linears stay packed)
        args += ["--weights", weights]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return r["prefill_tok_s"], r["decode_tok_s"], r["peak_rss_bytes"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qforge")
    ap.add_argument("gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        f32, f16 = os.path.join(tmp, "f32.gguf"), os.path.join(tmp, "f16.gguf")
        requantize(a.gguf, f32, llama_cpp.LLAMA_FTYPE_ALL_F32)
        requantize(a.gguf, f16, llama_cpp.LLAMA_FTYPE_MOSTLY_F16)
        print(f"threads {a.threads}, prompt {a.prompt}, gen {a.gen}, median of {a.repeats}; "
              f"llama-cpp-python {llama_cpp.__version__}\n")
        print("| weights | qforge prefill tok/s | llama.cpp prefill tok/s | ratio | "
              "qforge decode tok/s | llama.cpp decode tok/s | ratio | qforge peak RSS MiB |")
        print("|---|---|---|---|---|---|---|---|")
        for name, path in (("f32", f32), ("f16", f16)):
            qp, qd, rss = bench_qforge(a.qforge, a.gguf, name, a.threads, a.prompt, a.gen, a.repeats)
            lp, ld = bench_llamacpp(path, a.threads, a.prompt, a.gen, a.repeats)
            print(f"| {name} | {qp:.1f} | {lp:.1f} | {qp / lp:.2f} | {qd:.1f} | {ld:.1f} | {qd / ld:.2f} | "
                  f"{rss / 2**20:.0f} |")


if __name__ == "__main__":
    main()
