#!/usr/bin/env python3
"""GPTQ quality and speed, qforge vs llm-compressor, in one run on the same machine and
the same calibration tokens (bench/, not CI).

1. `qforge quantize` GPTQ on HF_DIR with --save-calib, which writes the token windows it
   used (safetensors, "tokens" I32 (n, L)); then RTN with the same grid, for reference;
2. llm-compressor's GPTQModifier (oneshot, sequential pipeline) on the SAME windows, same
   bits / group / damping / block, lm_head ignored; wall time of oneshot().
   Act-order: --desc-act is qforge `--desc-act --static-groups` = llm-compressor actorder
   "static" (groups from the original weights, columns in act order); without it the
   script passes actorder=None to the modifier explicitly, because the modifier's default
   (a sentinel meaning "static") turns act-order on for a scheme that says None;
3. perplexity on TEXT with the protocol of DESIGN.md §5 (ctx windows, tail dropped):
   `qforge eval` for the FP model and our artifacts, transformers (in-memory, fake-quant
   weights as llm-compressor leaves them) for the FP model and llm-compressor's result.
Results go to OUT_DIR/result.json after every step (a crash keeps what was measured).
Note: compressed-tensors needs in % group == 0, so SmolLM2 (in = 576) cannot use g128 there.
--group -1 is per-channel (one scale per output row; its strategy "channel").

Pinned (/root/lcenv): llmcompressor==0.14.0.1, compressed-tensors==0.19.0, torch==2.14.0,
transformers==5.17.0, datasets==5.2.0, tokenizers==0.23.3 (llmcompressor 0.14 refuses torch 2.15).
Usage: gptq_vs_llmcompressor.py QFORGE HF_DIR TEXT OUT_DIR [--samples 128] [--seqlen 2048]
       [--bits 4] [--group 64] [--desc-act] [--threads 2] [--ctx 2048] [--windows 0]
"""
import argparse
import json
import math
import os
import re
import resource
import subprocess
import time

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer


def run_timed(cmd):
    """Runs cmd under /usr/bin/time -v; returns (seconds, peak RSS KiB, stdout)."""
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    dt = time.time() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return dt, rss, p.stdout


def bench_parser(seqlen):
    """The arguments every *_vs_llmcompressor.py script takes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("qforge")
    ap.add_argument("hf_dir")
    ap.add_argument("text")
    ap.add_argument("out_dir")
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=seqlen)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--windows", type=int, default=0, help="eval windows (0 = whole text)")
    return ap


def bench_start(ap):
    """Parses, creates OUT_DIR (it must not exist); returns (args, results, save) where
    save() writes the results to OUT_DIR/result.json."""
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out_dir, exist_ok=False)
    res = {"args": vars(a)}

    def save():
        with open(os.path.join(a.out_dir, "result.json"), "w") as f:
            json.dump(res, f, indent=1)

    return a, res, save


def qforge_quantize_runs(a, runs, common, res, save):
    """runs: (result key, OUT_DIR subfolder, quantize options); each timed."""
    for k, d, extra in runs:
        t, rss, _ = run_timed([a.qforge, "quantize", a.hf_dir, os.path.join(a.out_dir, d)] + extra + common)
        res[k] = {"seconds": t, "peak_rss_kib": rss}
        save()


def qforge_eval_runs(a, runs, res, save):
    """The FP model's and each run's perplexity through qforge eval, Δ against the FP's."""
    fp = res["fp_ppl_qforge"] = qforge_ppl(a.qforge, a.hf_dir, a.text, a.ctx, a.windows, a.threads)
    for k, d, _ in runs:
        r = res[k]
        r["ppl"] = qforge_ppl(a.qforge, os.path.join(a.out_dir, d), a.text, a.ctx, a.windows, a.threads)
        r["delta_ppl"] = r["ppl"] - fp
        r["delta_pct"] = 100.0 * r["delta_ppl"] / fp
        save()


def qforge_ppl(qforge, model, text, ctx, windows, threads):
    cmd = [qforge, "eval", model, "--text", text, "--ctx", str(ctx), "--threads", str(threads), "--json"]
    if windows:
        cmd += ["--max-chunks", str(windows)]
    _, _, out = run_timed(cmd)
    return json.loads(out)["ppl"]


def torch_ppl(model, ids, ctx, windows):
    n_win = len(ids) // ctx
    if windows:
        n_win = min(n_win, windows)
    nll, scored = 0.0, 0
    for w in range(n_win):
        win = torch.tensor([ids[w * ctx:(w + 1) * ctx]])
        with torch.no_grad():
            logits = model(win).logits[0, :-1].double()
        nll += float(torch.nn.functional.cross_entropy(logits, win[0, 1:], reduction="sum"))
        scored += ctx - 1
    return math.exp(nll / scored)


def llmcompressor_run(a, calib, recipe, key, res, save, inspect=None):
    """llm-compressor's oneshot (sequential pipeline) of recipe on the calibration windows
    qforge saved, on the FP model in memory: res[key] gets the transformers FP ppl, the
    oneshot wall time and peak RSS, what inspect(model) returns, the quantized ppl."""
    from datasets import Dataset
    from llmcompressor import oneshot
    from transformers import AutoModelForCausalLM

    tokens = load_file(calib)["tokens"]
    ds = Dataset.from_dict({"input_ids": tokens.tolist(), "attention_mask": torch.ones_like(tokens).tolist()})
    model = AutoModelForCausalLM.from_pretrained(a.hf_dir, dtype=torch.float32)
    model.eval()
    ids = Tokenizer.from_file(os.path.join(a.hf_dir, "tokenizer.json")).encode(
        open(a.text, "rb").read().decode("utf-8"), add_special_tokens=False).ids
    recipes = recipe if isinstance(recipe, list) else [recipe]
    lc = res[key] = {"recipe": [repr(m) for m in recipes],
                     "fp_ppl_transformers": torch_ppl(model, ids, a.ctx, a.windows)}
    save()
    t0 = time.time()
    oneshot(model=model, dataset=ds, recipe=recipe, max_seq_length=a.seqlen,
            num_calibration_samples=a.samples, pipeline="sequential")
    lc["seconds"] = time.time() - t0
    lc["peak_rss_kib_python_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if inspect:
        lc.update(inspect(model))
    save()
    lc["ppl"] = torch_ppl(model, ids, a.ctx, a.windows)
    lc["delta_ppl"] = lc["ppl"] - lc["fp_ppl_transformers"]
    lc["delta_pct"] = 100.0 * lc["delta_ppl"] / lc["fp_ppl_transformers"]


def llmcompressor_gptq(a, calib, res, save):
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
    from llmcompressor.modifiers.gptq import GPTQModifier

    actorder = "static" if a.desc_act else None
    grid = dict(strategy="channel") if a.group == -1 else dict(strategy="group", group_size=a.group)
    scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(
        num_bits=a.bits, type="int", symmetric=False, actorder=actorder, **grid))
    recipe = GPTQModifier(config_groups={"group_0": scheme}, ignore=["lm_head"], block_size=128,
                          dampening_frac=0.01, actorder=actorder)
    llmcompressor_run(a, calib, recipe, "llmcompressor_gptq", res, save)


def main():
    ap = bench_parser(2048)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group", type=int, default=64, help="-1: per channel")
    ap.add_argument("--desc-act", action="store_true")
    a, res, save = bench_start(ap)
    calib = os.path.join(a.out_dir, "calib.safetensors")
    common = ["--bits", str(a.bits), "--group-size", str(a.group), "--calib-samples", str(a.samples),
              "--calib-seqlen", str(a.seqlen), "--threads", str(a.threads)]
    runs = (("qforge_gptq", "qforge-gptq", ["--method", "gptq", "--save-calib", calib]
             + (["--desc-act", "--static-groups"] if a.desc_act else [])),
            ("qforge_rtn", "qforge-rtn", ["--method", "rtn"]))
    qforge_quantize_runs(a, runs, common, res, save)
    qforge_eval_runs(a, runs, res, save)
    llmcompressor_gptq(a, calib, res, save)
    res["speedup_vs_llmcompressor"] = res["llmcompressor_gptq"]["seconds"] / res["qforge_gptq"]["seconds"]
    save()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
