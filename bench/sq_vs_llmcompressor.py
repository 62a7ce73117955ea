#!/usr/bin/env python3
"""SmoothQuant W8A8 quality and speed, qforge vs llm-compressor, in one run on the same
machine and the same calibration tokens (bench/, not CI).

1. `qforge quantize --method smoothquant --alpha A` on HF_DIR with --save-calib (the token
   windows it used), and `--method rtn --format compressed-tensors` (W8A8 without
   smoothing) for reference: int8 symmetric per-channel weights, int8 symmetric per-token
   dynamic activations, compressed-tensors "int-quantized";
2. llm-compressor on the SAME windows: [SmoothQuantModifier(smoothing_strength=A),
   QuantizationModifier(targets=Linear, scheme="W8A8", ignore=["lm_head"])] (its W8A8
   preset is the same scheme: int8 channel-wise symmetric weights, int8 token-wise
   symmetric dynamic activations; RTN with min-max scales), oneshot with the sequential
   pipeline, its default Llama mappings (input_layernorm -> q,k,v;
   post_attention_layernorm -> gate,up: ours); wall time of oneshot();
3. perplexity on TEXT by DESIGN.md §5's protocol (ctx windows, tail dropped): `qforge
   eval` for the FP model and our artifacts (our int8 runtime), transformers in memory
   for the FP model and llm-compressor's result, whose wrapped forward fake-quantizes
   the weights and, per token, the activations as compressed-tensors defines them. Each
   Δppl is against the FP value of the same evaluator.
Results go to OUT_DIR/result.json after every step; the end prints a Markdown table.

Pinned (/root/lcenv, as awq_vs_llmcompressor.py): llmcompressor==0.14.0.1,
compressed-tensors==0.19.0, torch==2.14.0, transformers==5.17.0, datasets==5.2.0,
tokenizers==0.23.3.
Usage: sq_vs_llmcompressor.py QFORGE HF_DIR TEXT OUT_DIR [--samples 128] [--seqlen 512]
       [--alpha 0.5] [--threads 2] [--ctx 2048] [--windows 0]
"""
import contextlib
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptq_vs_llmcompressor import (bench_parser, bench_start, llmcompressor_run,  # noqa: E402
                                   qforge_eval_runs, qforge_quantize_runs)  # (shared helpers)


def forward_check(lin):
    """What the quantized module's forward computes, on random tokens with outliers shaped
    (batch, tokens, features) as the model calls it: its output against F.linear of (a)
    the inputs quantized per token as our runtime does (scale max|x| / 127.5, round half
    to even, clamp to [-128, 127]) and (b) the raw inputs, both with the module's
    fake-quantized weights (its weight_scale, round, clamp). (a) ~0 and (b) clearly not
    says llm-compressor's W8A8 computes what ours does."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, lin.in_features, generator=g)
    x[:, :, :4] *= 30.0
    s = lin.weight_scale.float()
    wq = torch.clamp(torch.round(lin.weight.float() / s), -128, 127) * s
    xs = x.abs().amax(dim=-1, keepdim=True) / 127.5
    xq = torch.clamp(torch.round(x / xs), -128, 127) * xs
    with torch.no_grad():
        y = lin(x).float()
        ya, yb = torch.nn.functional.linear(xq, wq), torch.nn.functional.linear(x, wq)
    rel = lambda u: float((y - u).abs().max() / y.abs().max())
    return {"vs_int8_tokens": rel(ya), "vs_float_inputs": rel(yb)}


def llmcompressor_sq(a, calib, res, save):
    # llm-compressor logs to the sys.stdout of its import: import it under stderr
    with contextlib.redirect_stdout(sys.stderr):
        from llmcompressor.modifiers.quantization import QuantizationModifier
        from llmcompressor.modifiers.smoothquant import SmoothQuantModifier

    recipe = [SmoothQuantModifier(smoothing_strength=a.alpha),
              QuantizationModifier(targets="Linear", scheme="W8A8", ignore=["lm_head"])]

    def inspect(model):
        q = model.model.layers[0].self_attn.q_proj
        return {"scheme_layer0_q_proj": repr(q.quantization_scheme),
                "forward_check_layer0_q_proj": forward_check(q)}

    llmcompressor_run(a, calib, recipe, "llmcompressor_sq", res, save, inspect)


def summary(res):
    """Markdown table, one row per method."""
    rows = ["| method | ppl | Δppl vs FP | Δppl / FP ppl | seconds | peak RSS MiB |",
            "|---|---|---|---|---|---|",
            f"| FP (qforge eval) | {res['fp_ppl_qforge']:.4f} | | | | |",
            f"| FP (transformers) | {res['llmcompressor_sq']['fp_ppl_transformers']:.4f} | | | | |"]
    for name, k, rss in (("qforge smoothquant", "qforge_sq", "peak_rss_kib"),
                         ("qforge W8A8 RTN (no smoothing)", "qforge_rtn", "peak_rss_kib"),
                         ("llm-compressor SmoothQuant + W8A8 (RSS: whole python process)",
                          "llmcompressor_sq", "peak_rss_kib_python_process")):
        r = res[k]
        rows.append(f"| {name} | {r['ppl']:.4f} | {r['delta_ppl']:+.4f} | {r['delta_pct']:.2f}% | "
                    f"{r['seconds']:.1f} | {r[rss] / 1024:.0f} |")
    return "\n".join(rows)


def main():
    ap = bench_parser(512)
    ap.add_argument("--alpha", type=float, default=0.5)
    a, res, save = bench_start(ap)
    calib = os.path.join(a.out_dir, "calib.safetensors")
    common = ["--calib-samples", str(a.samples), "--calib-seqlen", str(a.seqlen), "--threads", str(a.threads)]
    runs = (("qforge_sq", "qforge-sq", ["--method", "smoothquant", "--alpha", str(a.alpha), "--save-calib", calib]),
            ("qforge_rtn", "qforge-rtn", ["--method", "rtn", "--format", "compressed-tensors"]))
    qforge_quantize_runs(a, runs, common, res, save)
    llmcompressor_sq(a, calib, res, save)
    qforge_eval_runs(a, runs, res, save)
    res["speedup_vs_llmcompressor"] = res["llmcompressor_sq"]["seconds"] / res["qforge_sq"]["seconds"]
    save()
    print(summary(res))
    print(f"\nspeedup (llm-compressor oneshot s / qforge smoothquant s): "
          f"{res['speedup_vs_llmcompressor']:.2f}x; all numbers in {os.path.join(a.out_dir, 'result.json')}")


if __name__ == "__main__":
    main()
