#!/usr/bin/env bash
# Packs what bench/cuda_device_check.sh needs on a lent GPU machine into .dev/ (ignored by
# git; carried by the device tool): the CUDA build's test and bench binaries and qforge
# from build/ (Release, CUDA, sm_80 + sm_90), the non-system shared libraries they load
# (the device image has the CUDA toolkit but none of qforge's Debian dependencies) as
# lib.txz, the llama2 tokenizer for bench/make_deep_model.py and the calibration text of
# test_pipeline_device.
# With --model GGUF also the real model for the GPU-vs-CPU perplexity steps, split in two
# halves (.dev/model.part1, .dev/model.part2, its sha256 in .dev/model.sha256) because the
# device tool carries 64 MiB a call: send each half in its own call on a warm machine
# (carry [".dev/model.partN"], command "cp .dev/model.partN /dev/shm/"), then the check
# with carry [".dev/bin", ".dev/lib.txz", ".dev/shared", ".dev/model.sha256"].
# Usage: bench/cuda_device_pack.sh [--model GGUF]   (after scripts/build.sh with CUDA)
set -euo pipefail
cd "$(dirname "$0")/.."
bins="build/qforge build/cuda_gemv build/cuda_gptq $(ls build/tests/test_cuda_*) build/tests/test_pipeline_device"
rm -rf .dev
mkdir -p .dev/bin .dev/lib .dev/shared/tokenizers/llama2 .dev/shared/data/calib
cp $bins .dev/bin/
cp ../shared/tokenizers/llama2/tokenizer.json ../shared/tokenizers/llama2/tokenizer_config.json \
   .dev/shared/tokenizers/llama2/
cp ../shared/data/calib/tinystories-sample.txt .dev/shared/data/calib/
mkdir -p .dev/shared/data/wikitext-2
cp ../shared/data/wikitext-2/wiki.test.raw .dev/shared/data/wikitext-2/
if [ "${1:-}" = --model ]; then
    split -n 2 -d -a 1 "$2" .dev/model.part
    mv .dev/model.part0 .dev/model.part1.tmp && mv .dev/model.part1 .dev/model.part2 &&
        mv .dev/model.part1.tmp .dev/model.part1
    sha256sum <"$2" | cut -d' ' -f1 >.dev/model.sha256
fi
# everything ldd resolves except glibc, the C++/gcc runtime and CUDA's own libraries
for b in $bins; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*|libdl|libpthread|librt)\.so' |
    grep -v -E 'libcu|libnv' | while read -r l; do cp -L "$l" .dev/lib/; done
(cd .dev && tar cJf lib.txz lib && rm -rf lib)
du -sh .dev
