#!/usr/bin/env bash
# Packs what bench/cuda_device_check.sh needs on a lent GPU machine into .dev/ (ignored by
# git; carried by the device tool): the CUDA build's test and bench binaries and qforge
# from build/ (Release, CUDA, sm_80 + sm_90), the non-system shared libraries they load
# (the device image has the CUDA toolkit but none of qforge's Debian dependencies) as
# lib.txz, and the llama2 tokenizer for bench/make_deep_model.py.
# Usage: bench/cuda_device_pack.sh   (after scripts/build.sh with CUDA)
set -euo pipefail
cd "$(dirname "$0")/.."
bins="build/qforge build/cuda_gemv build/cuda_gptq $(ls build/tests/test_cuda_*)"
rm -rf .dev
mkdir -p .dev/bin .dev/lib .dev/shared/tokenizers/llama2
cp $bins .dev/bin/
cp ../shared/tokenizers/llama2/tokenizer.json ../shared/tokenizers/llama2/tokenizer_config.json \
   .dev/shared/tokenizers/llama2/
# everything ldd resolves except glibc, the C++/gcc runtime and CUDA's own libraries
for b in $bins; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*|libdl|libpthread|librt)\.so' |
    grep -v -E 'libcu|libnv' | while read -r l; do cp -L "$l" .dev/lib/; done
(cd .dev && tar cJf lib.txz lib && rm -rf lib)
du -sh .dev
