#!/usr/bin/env python3
"""Reference perplexity with transformers for bench/: the same protocol as `qforge eval`
(DESIGN.md §5; non-overlapping windows of CTX tokens, tail dropped, each window scored
after its first position), on a whole text file, with token ids from the tokenizer.json
that `qforge convert` wrote (HF `tokenizers`) and the model loaded from the GGUF.

Pinned: transformers==5.24.0, torch==2.15.0, tokenizers==0.23.3, gguf==0.19.0.
Usage: ppl_transformers.py GGUF HF_DIR TEXT [--ctx 2048] [--threads 2]
"""
import argparse
import hashlib
import json
import math
import os
import time

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("hf_dir")
    ap.add_argument("text")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    raw = open(a.text, "rb").read()
    ids = Tokenizer.from_file(os.path.join(a.hf_dir, "tokenizer.json")).encode(
        raw.decode("utf-8"), add_special_tokens=False).ids
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(a.gguf), gguf_file=os.path.basename(a.gguf),
                                                 dtype=torch.float32)
    model.eval()
    n_win = len(ids) // a.ctx
    nll, scored, t0 = 0.0, 0, time.time()
    for w in range(n_win):
        win = torch.tensor([ids[w * a.ctx:(w + 1) * a.ctx]])
        with torch.no_grad():
            logits = model(win).logits[0, :-1].double()
        nll += float(torch.nn.functional.cross_entropy(logits, win[0, 1:], reduction="sum"))
        scored += a.ctx - 1
    print(json.dumps({"ppl": math.exp(nll / scored), "ctx": a.ctx, "windows": n_win, "scored_tokens": scored,
                      "text_tokens": len(ids), "text_sha256": hashlib.sha256(raw).hexdigest(),
                      "seconds": time.time() - t0, "tokens_per_s": n_win * a.ctx / (time.time() - t0)}))


if __name__ == "__main__":
    main()
