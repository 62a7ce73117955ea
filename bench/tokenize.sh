#!/usr/bin/env bash
# Times runtime/tokenizer on whole files from ../shared/data (each file encoded as ONE
# string, no special tokens; best of 5 runs) for the shared tokenizers and, when it has
# been fetched, SmolLM2's exported tokenizer.json. Builds dev/tokenizer_bench.c against
# an existing build's libqforge.a. With a Python that has `tokenizers` (REF_PYTHON), the
# HF library's time for the same encode is printed next to ours (best of 3).
# Writes a Markdown table to stdout; bench/results/tokenizer.md holds a recorded run.
# Usage: bench/tokenize.sh [build-dir] (default build/); env REF_PYTHON=/path/to/python
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
shared="../shared"
cache="${QF_CACHE_DIR:-$HOME/.cache/qforge}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cc -O2 -std=c11 -D_GNU_SOURCE -I. dev/tokenizer_bench.c "$build/libqforge.a" \
    $(pkg-config --libs libpcre2-8 libutf8proc libcjson libzstd openblas lapacke) -lm -lpthread \
    -o "$work/tokenizer_bench"

cat > "$work/ref.py" <<'PY'
import os, sys, time
from tokenizers import Tokenizer, AddedToken, decoders, pre_tokenizers
from tokenizers.models import BPE
p, f = sys.argv[1], sys.argv[2]
if os.path.exists(p + "/tokenizer.json"):
    t = Tokenizer.from_file(p + "/tokenizer.json")
else:
    t = Tokenizer(BPE.from_file(p + "/vocab.json", p + "/merges.txt"))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
text = open(f, "rb").read().decode("utf-8")
best = 1e30
for _ in range(3):
    a = time.perf_counter(); ids = t.encode(text, add_special_tokens=False).ids
    best = min(best, time.perf_counter() - a)
print(f"{best:.3f}")
PY

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "| tokenizer | text | MB | tokens | load s | encode s | MB/s | decode s | HF tokenizers encode s |"
echo "|---|---|---|---|---|---|---|---|---|"
tokenizers=("$shared/tokenizers/gpt2" "$shared/tokenizers/llama2" "$shared/tokenizers/llama3"
            "$shared/tokenizers/qwen3")
[ -f "$cache/smollm2-135m-instruct/hf-f32/tokenizer.json" ] && tokenizers+=("$cache/smollm2-135m-instruct/hf-f32")
for tok in "${tokenizers[@]}"; do
    for text in data/wikitext-2/wiki.test.raw data/calib/wiki-sample.txt; do
        line="$("$work/tokenizer_bench" "$tok" "$shared/$text" --repeat 5)"
        # "...: N bytes -> T tokens; load L s, encode E s (R MB/s), decode D s; ids sha256 H"
        read -r bytes tokens load enc rate dec <<<"$(sed -E 's/.*: ([0-9]+) bytes -> ([0-9]+) tokens; load ([0-9.]+) s, encode ([0-9.]+) s \(([0-9.]+) MB\/s\), decode ([0-9.]+) s.*/\1 \2 \3 \4 \5 \6/' <<<"$line")"
        ref="-"
        if [ -n "${REF_PYTHON:-}" ]; then ref="$("$REF_PYTHON" "$work/ref.py" "$tok" "$shared/$text")"; fi
        mb="$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1e6 }')"
        name="$(basename "$tok")"
        [ "$name" = hf-f32 ] && name="smollm2 (qforge convert)"
        echo "| $name | $(basename "$text") | $mb | $tokens | $load | $enc | $rate | $dec | $ref |"
    done
done
