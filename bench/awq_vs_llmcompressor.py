#!/usr/bin/env python3
"""AWQ quality and speed, qforge vs llm-compressor, in one run on the same machine and
the same calibration tokens (bench/, not CI).

1. `qforge quantize --method awq` on HF_DIR with --save-calib, which writes the token
   windows it used (safetensors, "tokens" I32 (n, L)): AWQ scales, clip search, then RTN;
   then `--method awq+gptq` (AWQ scales, GPTQ after, no clipping) and `--method rtn` with
   the same grid, for reference;
2. llm-compressor's AWQ on the SAME windows: in 0.14 AWQModifier (modifiers/transform/awq)
   only rescales channels and needs a quantization modifier after it (the old
   `llmcompressor.modifiers.awq.AWQModifier(scheme=...)` is a deprecated shim that builds
   exactly this pair), so the recipe is
   [AWQModifier(duo_scaling=True, n_grid=20), QuantizationModifier(config_groups={int B,
   asymmetric, group G, Linear}, ignore=["lm_head"])] (min-max RTN after the scales;
   W4A16_ASYM is not used because its group size is fixed at 128), oneshot with the
   sequential pipeline; wall time of oneshot(). Its default mappings for Llama are ours
   (input_layernorm -> q,k,v; v -> o, skipped under GQA; post_attention_layernorm ->
   gate,up; up -> down). Differences that stay: llm-compressor has no clip search (the
   closest qforge run is `--awq-no-clip`), and it measures the grid-search error on every
   calibration window where qforge uses the first --awq-search-samples (default 16).
   On a machine without a GPU the script turns IntermediatesCache.pin_memory into a no-op:
   AWQModifier pins its cached inputs unconditionally and pin_memory() needs a driver;
3. perplexity on TEXT with the protocol of DESIGN.md §5 (ctx windows, tail dropped):
   `qforge eval` for the FP model and our artifacts, transformers (in-memory, weights
   fake-quantized in forward as llm-compressor leaves them) for the FP model and
   llm-compressor's result. Each Δppl is against the FP value of the same evaluator.
Results go to OUT_DIR/result.json after every step (a crash keeps what was measured); the
end prints a Markdown table (ppl, Δppl vs FP, seconds, peak RSS) per method on stdout
(llm-compressor's log is moved to stderr).
Note: compressed-tensors needs in % group == 0, so SmolLM2 (in = 576) cannot use g128 there.

Pinned (/root/lcenv): llmcompressor==0.14.0.1, compressed-tensors==0.19.0, torch==2.14.0,
transformers==5.17.0, datasets==5.2.0, tokenizers==0.23.3 (llmcompressor 0.14 refuses torch 2.15).
Usage: awq_vs_llmcompressor.py QFORGE HF_DIR TEXT OUT_DIR [--samples 128] [--seqlen 512]
       [--bits 4] [--group 64] [--threads 2] [--ctx 2048] [--windows 0]
"""
import contextlib
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptq_vs_llmcompressor import (bench_parser, bench_start, llmcompressor_run,  # noqa: E402
                                   qforge_eval_runs, qforge_quantize_runs)  # (shared helpers)


def llmcompressor_awq(a, calib, res, save):
    # llm-compressor's loguru sink is the sys.stdout of its import (and it logs while
    # importing): importing under stderr moves its log there, stdout is for the table
    with contextlib.redirect_stdout(sys.stderr):
        from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
        from llmcompressor.modifiers.quantization import QuantizationModifier
        from llmcompressor.modifiers.transform.awq import AWQModifier
        from llmcompressor.pipelines.cache import IntermediatesCache

    if not torch.accelerator.is_available():
        # AWQModifier pins the cached layer inputs before each grid search (page-locked
        # memory only speeds host-to-device copies); without a GPU pin_memory() raises
        # "Found no NVIDIA driver", so on a CPU-only machine pinning is skipped
        IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None

    scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(
        num_bits=a.bits, type="int", symmetric=False, strategy="group", group_size=a.group))
    recipe = [AWQModifier(duo_scaling=True, n_grid=20),
              QuantizationModifier(config_groups={"group_0": scheme}, ignore=["lm_head"])]
    llmcompressor_run(a, calib, recipe, "llmcompressor_awq", res, save)


def summary(res):
    """Markdown table, one row per method."""
    rows = ["| method | ppl | Δppl vs FP | seconds | peak RSS MiB |", "|---|---|---|---|---|",
            f"| FP (qforge eval) | {res['fp_ppl_qforge']:.4f} | | | |",
            f"| FP (transformers) | {res['llmcompressor_awq']['fp_ppl_transformers']:.4f} | | | |"]
    for name, k, rss in (("qforge awq", "qforge_awq", "peak_rss_kib"),
                         ("qforge awq+gptq", "qforge_awq_gptq", "peak_rss_kib"),
                         ("qforge rtn", "qforge_rtn", "peak_rss_kib"),
                         ("llm-compressor AWQ (RSS: whole python process)", "llmcompressor_awq",
                          "peak_rss_kib_python_process")):
        r = res[k]
        rows.append(f"| {name} | {r['ppl']:.4f} | {r['delta_ppl']:+.4f} | {r['seconds']:.1f} | "
                    f"{r[rss] / 1024:.0f} |")
    return "\n".join(rows)


def main():
    ap = bench_parser(512)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group", type=int, default=64)
    a, res, save = bench_start(ap)
    calib = os.path.join(a.out_dir, "calib.safetensors")
    common = ["--bits", str(a.bits), "--group-size", str(a.group), "--calib-samples", str(a.samples),
              "--calib-seqlen", str(a.seqlen), "--threads", str(a.threads)]
    runs = (("qforge_awq", "qforge-awq", ["--method", "awq", "--save-calib", calib]),
            ("qforge_awq_gptq", "qforge-awq-gptq", ["--method", "awq+gptq"]),
            ("qforge_rtn", "qforge-rtn", ["--method", "rtn"]))
    qforge_quantize_runs(a, runs, common, res, save)
    qforge_eval_runs(a, runs, res, save)
    llmcompressor_awq(a, calib, res, save)
    res["speedup_vs_llmcompressor"] = res["llmcompressor_awq"]["seconds"] / res["qforge_awq"]["seconds"]
    save()
    print(summary(res))
    print(f"\nspeedup (llm-compressor oneshot s / qforge awq s): {res['speedup_vs_llmcompressor']:.2f}x; "
          f"all numbers in {os.path.join(a.out_dir, 'result.json')}")


if __name__ == "__main__":
    main()
