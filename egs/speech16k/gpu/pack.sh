#!/usr/bin/env bash
# Pack what a GPU machine without network needs to keep training a shipped speech tokenizer:
# the wheels its image lacks (pinned to this checkout's .venv) and an evenly spread subset of the
# corpus's train split. Writes .carry/ in the repository root (git-ignored); name it in `carry`.
#
#   DATA=~/.cache/codec/speech16k [INIT=CHECKPOINT] egs/speech16k/gpu/pack.sh [MEGABYTES]
#
# MEGABYTES (default 28) bounds the audio: the device tool moves at most 64 MiB per call, and the
# repository itself (shipped weights included) travels too. INIT, a checkpoint of a CPU run (its
# last.ckpt), is exported in float16 to .carry/init, where train_on_device.sh starts from it: the
# way to carry on a run whose model is not shipped yet (about 15 MB for the speech16k models, so
# give the audio less room).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
megabytes=${1:-28}
DATA=${DATA:-$HOME/.cache/codec/speech16k}
python=${PYTHON:-$repo/.venv/bin/python}
carry="$repo/.carry"
rm -rf "$carry" && mkdir -p "$carry/wheels"
# Packages the device image lacks (it has torch, lightning, einops, numpy, scipy, numba, ...).
packages=(vector-quantize-pytorch einx loguru torch-einops-utils frozendict soundfile soxr librosa audioread
          pooch decorator platformdirs jsonargparse docstring-parser typeshed-client)
pins=()
for name in "${packages[@]}"; do
  pins+=("$("$python" -m pip freeze 2>/dev/null | grep -i "^${name//-/[-_]}==")")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$carry/wheels" "${pins[@]}"
"$python" - "$DATA/manifest.jsonl" "$carry/data" "$megabytes" <<'PY'
import json, shutil, sys
from pathlib import Path

from codec.data import read_manifest

manifest, out, budget = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]) * 2**20
train = [item for item in read_manifest(manifest) if item.split == "train"]
sizes = [item.path.stat().st_size for item in train]
share = min(1.0, budget / sum(sizes))
step = 1 / share
rows, used, seconds, position = [], 0, 0.0, 0.0
while int(position) < len(train):
    item = train[int(position)]
    target = out / "audio" / f"{len(rows):06d}{item.path.suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(item.path, target)
    rows.append(json.dumps({"path": f"audio/{target.name}", "split": "train", "duration": item.duration}))
    used += target.stat().st_size
    seconds += item.duration or 0.0
    position += step
(out / "manifest.jsonl").write_text("\n".join(rows) + "\n")
print(f"{len(rows)} train clips, {seconds / 60:.1f} min, {used / 2**20:.1f} MiB in {out}")
PY
if [[ -n "${INIT:-}" ]]; then
  "$python" -m codec.cli export "$INIT" -o "$carry/init" --half
fi
du -sh "$carry"
