#!/usr/bin/env python3
"""Decode and prefill speed of the qforge runtime on a W4 GPTQ checkpoint vs llama.cpp on
a Q4_0 GGUF of the same model, same threads, in one run, interleaved (qforge, llama.cpp,
qforge, ...) so that load from other processes hits both sides alike; medians.

qforge side: `qforge bench GPTQ_DIR --json` (packed 4-bit linears, F16 embeddings/lm_head).
llama.cpp side: llama-cpp-python on a Q4_0 GGUF made by llama.cpp's own
llama_model_quantize (allow_requantize) from SRC_GGUF (see runtime_vs_llamacpp.py).

Usage: runtime_w4_vs_llamacpp.py QFORGE_BIN GPTQ_DIR SRC_GGUF [--threads 2] [--prompt 512]
                                 [--gen 128] [--rounds 5]
Prints a Markdown table.
"""
import argparse
import os
import statistics
import tempfile

import llama_cpp

from runtime_vs_llamacpp import bench_llamacpp, bench_qforge, requantize


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qforge")
    ap.add_argument("gptq")
    ap.add_argument("gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        q40 = os.path.join(tmp, "q4_0.gguf")
        requantize(a.gguf, q40, llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0)
        qp, qd, lp, ld, rss = [], [], [], [], []
        for _ in range(a.rounds):
            p, d, r = bench_qforge(a.qforge, a.gptq, None, a.threads, a.prompt, a.gen, 1)
            qp.append(p), qd.append(d), rss.append(r)
            p, d = bench_llamacpp(q40, a.threads, a.prompt, a.gen, 1)
            lp.append(p), ld.append(d)
        med = statistics.median
        print(f"threads {a.threads}, prompt {a.prompt}, gen {a.gen}, {a.rounds} interleaved rounds "
              f"(medians; min-max in brackets); llama-cpp-python {llama_cpp.__version__}; "
              f"Q4_0 GGUF {os.path.getsize(q40) / 2**20:.1f} MiB\n")
        print("| | qforge W4 g128 GPTQ | llama.cpp Q4_0 | ratio |")
        print("|---|---|---|---|")
        print(f"| decode tok/s | {med(qd):.1f} [{min(qd):.0f}-{max(qd):.0f}] | "
              f"{med(ld):.1f} [{min(ld):.0f}-{max(ld):.0f}] | {med(qd) / med(ld):.2f} |")
        print(f"| prefill tok/s | {med(qp):.1f} [{min(qp):.0f}-{max(qp):.0f}] | "
              f"{med(lp):.1f} [{min(lp):.0f}-{max(lp):.0f}] | {med(qp) / med(lp):.2f} |")
        print(f"\nqforge peak RSS {med(rss) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
