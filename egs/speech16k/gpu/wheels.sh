#!/usr/bin/env bash
# Download into DEST the wheels the device image lacks (it has torch, lightning, einops, numpy,
# scipy, numba, ...; not cffi, which soundfile needs), pinned to the versions of this checkout's
# .venv, for the image's Python 3.12 on x86-64 Linux. Used by every GPU pack (egs/*/gpu/pack.sh).
#
#   [PYTHON=.venv/bin/python] egs/speech16k/gpu/wheels.sh DEST
set -euo pipefail
dest=${1:?destination folder}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
mkdir -p "$dest"
packages=(vector-quantize-pytorch einx loguru torch-einops-utils frozendict soundfile soxr librosa audioread
          pooch decorator platformdirs jsonargparse docstring-parser typeshed-client cffi pycparser)
pins=()
for name in "${packages[@]}"; do
  pins+=("$("$python" -m pip freeze 2>/dev/null | grep -i "^${name//-/[-_]}==")")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$dest" "${pins[@]}"
