#!/usr/bin/env bash
# Pack what a GPU machine without network needs to train the speech tokenizer: the wheels its image
# lacks (pinned to this checkout's .venv), an evenly spread subset of the corpus's train split as
# Ogg Opus (about 31 kbit/s, PESQ-WB 3.9 against the FLAC: 2.7 h in 36 MiB where FLAC holds 35 min),
# 64 dev clips for validation (dev.jsonl), and their teacher units when they exist. Writes .carry/ in the repository root
# (git-ignored); name it in `carry`.
#
#   DATA=~/.cache/codec/speech16k [UNITS=FILE] [INIT=CHECKPOINT] egs/speech16k/gpu/pack.sh [MEGABYTES]
#
# MEGABYTES (default 38) bounds the audio: the device tool moves at most 64 MiB per call, and the
# repository itself (the shipped weights included) travels too. UNITS (default
# $DATA/semantic/whisper-tiny-en/units-512.npz, made by egs/speech16k/semantic_units.py) gives the
# semantic runs their targets. INIT, a checkpoint of a CPU run (its last.ckpt), is exported in
# float16 to .carry/init, where train_on_device.sh starts from it: the way to carry on a run whose
# model is not shipped yet (about 15 MB, so give the audio less room).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
megabytes=${1:-38}
DATA=${DATA:-$HOME/.cache/codec/speech16k}
UNITS=${UNITS:-$DATA/semantic/whisper-tiny-en/units-512.npz}
python=${PYTHON:-$repo/.venv/bin/python}
carry="$repo/.carry"
rm -rf "$carry" && mkdir -p "$carry/wheels"
PYTHON="$python" bash "$repo/egs/speech16k/gpu/wheels.sh" "$carry/wheels"
"$python" - "$DATA/manifest.jsonl" "$carry/data" "$megabytes" "$UNITS" <<'PY'
import io
import json
import sys
from pathlib import Path

import soundfile as sf

from codec.training.data import read_manifest, spread
from codec.training.semantic import load_units, save_units

manifest, out, budget, units_path = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]) * 2**20, Path(sys.argv[4])
items = read_manifest(manifest)
train = [item for item in items if item.split == "train"]
dev = spread([item for item in items if item.split == "dev" and (item.duration or 0) >= 1.0], 64)
units = load_units(units_path) if units_path.is_file() else None


def opus(path: Path) -> bytes:
    audio, rate = sf.read(path, dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="OGG", subtype="OPUS", compression_level=0.9)
    return buffer.getvalue()


# Estimate the share of the split that fits from a sample, then take every k-th file.
sample = train[:: max(1, len(train) // 200)]
ratio = sum(len(opus(item.path)) for item in sample) / sum(item.duration or 0.0 for item in sample)
share = min(1.0, budget / (ratio * sum(item.duration or 0.0 for item in train)))
rows, kept, used, seconds, position = [], {}, 0, 0.0, 0.0
(out / "audio").mkdir(parents=True, exist_ok=True)
while int(position) < len(train) and used < budget:
    item = train[int(position)]
    name = f"audio/{len(rows):06d}.opus"
    data = opus(item.path)
    (out / name).write_bytes(data)
    rows.append(json.dumps({"path": name, "split": "train", "duration": item.duration}))
    if units is not None and item.key in units.ids:
        kept[name] = units.ids[item.key]
    used += len(data)
    seconds += item.duration or 0.0
    position += 1 / share
dev_rows = []
for index, item in enumerate(dev):
    name = f"audio/dev-{index:03d}.opus"
    (out / name).write_bytes(opus(item.path))
    dev_rows.append(json.dumps({"path": name, "split": "dev", "duration": item.duration}))
    if units is not None and item.key in units.ids:
        kept[name] = units.ids[item.key]
(out / "manifest.jsonl").write_text("\n".join(rows) + "\n")
(out / "dev.jsonl").write_text("\n".join(dev_rows) + "\n")
if units is not None:
    save_units(out / "units.npz", kept, units.classes, units.frame_rate)
print(f"{len(rows)} train clips, {seconds / 3600:.2f} h, {used / 2**20:.1f} MiB in {out}"
      + (f", units of {len(kept)}" if units is not None else ", no units"))
PY
if [[ -n "${INIT:-}" ]]; then
  "$python" -m codec.cli export "$INIT" -o "$carry/init" --half
fi
du -sh "$carry"
