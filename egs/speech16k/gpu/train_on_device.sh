#!/usr/bin/env bash
# Runs ON the GPU machine of the device tool, in the repository root, with .carry/ from pack.sh:
#
#   bash egs/speech16k/gpu/train_on_device.sh SECONDS RUN [RUN...]
#
# Trains every RUN (egs/speech16k/gpu/runs/RUN.yaml, an overlay on the recipe it names in its first
# line and on runs/gpu.yaml, the GPU settings they share) at once on the one GPU, each for SECONDS of training, from the same machine's earlier call
# when its checkpoint is still in STATE, else from the model pack.sh carried in .carry/init (INIT=...),
# else as its recipe says (the shipped weights). Equal wall time on a shared GPU makes the runs an
# ablation at equal compute. Every two minutes, and at the end, each run's generator is exported in
# float16 into $OUT/RUN.tar (config.json, model.safetensors and the logged scalars as scalars.json,
# under the tool's 16 MiB file limit), so a timed-out call still brings back what it trained. $OUT/summary.txt gets
# each run's steps and samples/s, GPU utilisation and memory, and the default model's encode/decode
# speed on the GPU (bench/recipe_speed.py). Put a run back with
#   tar -xf FILES_AT/RUN.tar -C DIR && codec eval --model DIR/RUN ...
# ACCELERATOR (default gpu) and STATE (default /tmp/codec-state) can be changed, NO_WHEELS=1 skips
# the wheels and NO_BENCH=1 the speed figures, e.g. to try it on a CPU machine whose Python has the
# packages.
set -euo pipefail
seconds=${1:?seconds of training}
shift
runs=("$@")
[[ ${#runs[@]} -gt 0 ]] || { echo "name at least one run of egs/speech16k/gpu/runs/" >&2; exit 2; }
accelerator=${ACCELERATOR:-gpu}
state=${STATE:-/tmp/codec-state}
out=${OUT:?OUT must name the folder that comes back}
here=egs/speech16k/gpu
mkdir -p "$state"
[[ -n "${NO_WHEELS:-}" ]] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .carry/wheels/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
summary="$out/summary.txt"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$summary"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 20 >"$state/gpu.csv" &
fi

ckpt() { echo "$state/$1/run/checkpoints/last.ckpt"; }

export_run() {  # RUN: float16 generator + TensorBoard log -> $OUT/RUN.tar, replaced atomically
  local run=$1 dir="$state/export/$1"
  [[ -f "$(ckpt "$run")" ]] || return 0
  rm -rf "$dir" && mkdir -p "$dir"
  python3 -m codec.cli export "$(ckpt "$run")" -o "$dir/$run" --half >/dev/null 2>&1 || return 0
  python3 - "$state/$run/run" "$dir/$run/scalars.json" <<'PY' || true
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
log = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
log.Reload()
scalars = {tag: [(event.step, event.value) for event in log.Scalars(tag)] for tag in log.Tags()["scalars"]}
open(sys.argv[2], "w").write(json.dumps(scalars))
PY
  tar -cf "$out/.$run.tar" -C "$dir" "$run" && mv "$out/.$run.tar" "$out/$run.tar"
}

pids=()
for run in "${runs[@]}"; do
  overlay="$here/runs/$run.yaml"
  recipe=$(sed -n '1s/^# recipe: *//p' "$overlay")
  args=(fit --config "recipes/codec/$recipe.yaml" --config "$here/runs/gpu.yaml" --config "$overlay" --data.train .carry/data/manifest.jsonl
        --trainer.logger.init_args.save_dir "$state" --trainer.logger.init_args.name "$run"
        --trainer.accelerator "$accelerator" --trainer.devices 1 --trainer.enable_progress_bar false
        --trainer.max_time "{seconds: $seconds}")
  if [[ -f "$(ckpt "$run")" ]]; then
    args+=(--ckpt_path "$(ckpt "$run")")
  elif [[ -f .carry/init/model.safetensors ]]; then
    args+=(--model.init_from .carry/init)
  fi
  python3 -m codec.cli train "${args[@]}" >"$state/$run.log" 2>&1 &
  pids+=($!)
done
(while sleep 120; do for run in "${runs[@]}"; do export_run "$run"; done; done) &
exporter=$!
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
kill "$exporter" 2>/dev/null || true
exports=()
for run in "${runs[@]}"; do export_run "$run" & exports+=($!); done
for run in "${runs[@]}"; do
  python3 - "$(ckpt "$run")" "$run" "$seconds" "$state/$run.log" >>"$summary" <<'PY'
import sys

import torch
from pathlib import Path
path, run, seconds, log = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:]) if log.exists() else "no log"
if not path.exists():
    print(f"{run}: no checkpoint; log: {tail}")
    sys.exit()
checkpoint = torch.load(path, map_location="cpu", weights_only=False)
batch = checkpoint.get("datamodule_hyper_parameters", {}).get("batch_size", 0)
steps = checkpoint["global_step"]
print(f"{run}: {steps} steps, batch {batch}, {steps * batch / seconds:.0f} samples/s over {seconds:.0f} s; log: {tail}")
PY
done
pkill -f "nvidia-smi --query-gpu=timestamp" 2>/dev/null || true
[[ -f "$state/gpu.csv" ]] && { echo "GPU utilisation (every 20 s):"; cat "$state/gpu.csv"; } >>"$summary"
for pid in "${exports[@]}"; do wait "$pid" || true; done
if [[ -z "${NO_BENCH:-}" ]]; then
  timeout 90 python3 bench/recipe_speed.py --device cuda --batch 16 --threads 1 --recipes speech16k-hn >>"$summary" 2>&1 || true
fi
ls -l "$out" >>"$summary"
cat "$summary"
exit $status
