#!/usr/bin/env python3
"""Interop check: the tokenizer.json written by `qforge convert`, loaded by the Hugging
Face `tokenizers` library (pinned in tests/requirements.txt), gives the same ids as
llama.cpp on the same GGUF (fixture from make_tokenizer_fixtures.py), and decodes back.
Usage: check_tokenizer.py OUTDIR FIXTURE.json ; exit 0 when all cases agree."""
import json
import sys

from tokenizers import Tokenizer


def main():
    tok = Tokenizer.from_file(f"{sys.argv[1]}/tokenizer.json")
    cases = json.load(open(sys.argv[2], encoding="utf-8"))["cases"]
    failed = 0
    for c in cases:
        ids = tok.encode(c["text"], add_special_tokens=True).ids
        if ids != c["ids"]:
            failed += 1
            first = next((i for i, (a, b) in enumerate(zip(ids, c["ids"])) if a != b),
                         min(len(ids), len(c["ids"])))
            print(f"MISMATCH {c['text'][:40]!r}: first difference at {first}: "
                  f"ours {ids[first:first + 5]} llama.cpp {c['ids'][first:first + 5]}")
        elif tok.decode(ids, skip_special_tokens=False) != c["text"]:
            failed += 1
            print(f"DECODE MISMATCH {c['text'][:40]!r}")
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
