#!/usr/bin/env bash
# Installs qforge's build and test dependencies from Debian packages (idempotent), and a
# Python virtual environment (.venv) with the reference packages the interop tests use
# (tests/requirements.txt; about 25 MB from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libzstd-dev libopenblas-dev liblapacke-dev libcjson-dev libpcre2-dev libutf8proc-dev
      librsvg2-dev fonts-dejavu-core
      python3 python3-venv python3-pip)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-deps: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import safetensors, gguf, numpy, tokenizers" 2>/dev/null; then
    echo "setup-deps: creating .venv with tests/requirements.txt"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
fi
echo "setup-deps: ok"
