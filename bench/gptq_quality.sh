#!/usr/bin/env bash
# RTN vs GPTQ quality on one model, same grid, same calibration: quantizes each config
# with `qforge quantize`, evaluates every artifact and the source with `qforge eval` on
# TEXT (ctx 2048, non-overlapping windows, DESIGN.md §5) and prints a Markdown table
# (ppl, delta ppl vs the source, GPTQ's delta as a fraction of RTN's, quantize time).
# Usage: bench/gptq_quality.sh QFORGE HF_DIR TEXT OUT_DIR [WINDOWS=0 (all)] [-- extra
#        quantize options for GPTQ, e.g. --calib-samples 128 --calib-seqlen 512]
# Configs: W4 g128, W3 g128, W4 per-channel (asym); GPTQ with --desc-act --static-groups.
set -euo pipefail
qforge="$1" hf="$2" text="$3" out="$4" windows="${5:-0}"
shift $(( $# < 5 ? $# : 5 ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
threads="${QF_THREADS:-2}"
mkdir -p "$out"
eval_args=(--text "$text" --ctx 2048 --threads "$threads" --json)
[ "$windows" != 0 ] && eval_args+=(--max-chunks "$windows")

ppl() { "$qforge" eval "$1" "${eval_args[@]}" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])'; }
timed() { # prints seconds
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    python3 -c "print(f'{$t1 - $t0:.0f}')"
}

fp=$(ppl "$hf")
echo "source ppl $fp (windows: ${windows/#0/all})" >&2
echo "| config | RTN ppl | GPTQ ppl | RTN Δppl | GPTQ Δppl | GPTQ Δ / RTN Δ | GPTQ time |"
echo "|---|---|---|---|---|---|---|"
for cfg in "4 128" "3 128" "4 -1"; do
    set -- $cfg
    name="w$1_g$2"
    [ "$2" = -1 ] && name="w$1_pc"
    [ -d "$out/$name-rtn" ] || "$qforge" quantize "$hf" "$out/$name-rtn" --method rtn --bits "$1" \
        --group-size "$2" --threads "$threads" >/dev/null 2>&1
    secs=-
    [ -d "$out/$name-gptq" ] || secs=$(timed "$qforge" quantize "$hf" "$out/$name-gptq" --bits "$1" \
        --group-size "$2" --desc-act --static-groups --threads "$threads" "${extra[@]}")
    r=$(ppl "$out/$name-rtn") g=$(ppl "$out/$name-gptq")
    python3 - "$name" "$fp" "$r" "$g" "$secs" <<'PY'
import sys
name, fp, r, g, secs = sys.argv[1], *map(float, sys.argv[2:5]), sys.argv[5]
print(f"| {name} | {r:.4f} | {g:.4f} | {r - fp:+.4f} | {g - fp:+.4f} | {(g - fp) / (r - fp):.2f} | {secs} s |")
PY
done
echo
echo "source (F32) ppl $fp; eval: ctx 2048, windows ${windows/#0/all}; GPTQ options: --desc-act --static-groups ${extra[*]}"
