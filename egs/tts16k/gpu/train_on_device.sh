#!/usr/bin/env bash
# Runs ON the GPU machine of the device tool, in the repository root, with .carry-tts/ from pack.sh:
#
#   bash egs/tts16k/gpu/train_on_device.sh SECONDS RUN [RUN...]
#
# RUN is nar, ar, ar-aligned (on the tts16k tokens) or instruct-nar (on the instruct16k tokens):
# recipes/tts/RUN.yaml with gpu.yaml over it, all at once on the one GPU for SECONDS of training,
# each from the same machine's earlier call when its checkpoint is still in STATE, else from
# .carry-tts/init/RUN (instruct-nar falls back to init/nar), else from scratch. Every two minutes,
# and at the end, each run is exported in float16 into $OUT/RUN.tar (config.json,
# model.safetensors, scalars.json), so a timed-out call still brings back what it trained;
# $OUT/summary.txt gets steps and samples/s per run and the GPU's utilisation. Put a run back with
#   tar -xf FILES_AT/RUN.tar -C DIR && tts eval --model DIR/RUN ...
# ACCELERATOR (default gpu), STATE (default /tmp/tts-state), NO_WHEELS=1, PRECISION (default
# bf16-mixed) and EXTRA (more 'tts train' arguments for every run) can be changed, e.g. to try it on
# a CPU machine whose Python has the packages:
#   ACCELERATOR=cpu PRECISION=32 NO_WHEELS=1 EXTRA="--data.batch_size 4 --data.num_workers 0" OUT=/tmp/o \
#     bash egs/tts16k/gpu/train_on_device.sh 60 nar instruct-nar
set -euo pipefail
seconds=${1:?seconds of training}
shift
runs=("$@")
[[ ${#runs[@]} -gt 0 ]] || { echo "name at least one run: nar ar ar-aligned instruct-nar" >&2; exit 2; }
accelerator=${ACCELERATOR:-gpu}
state=${STATE:-/tmp/tts-state}
out=${OUT:?OUT must name the folder that comes back}
here=egs/tts16k/gpu
carry=.carry-tts
mkdir -p "$state"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
if [[ -z "${NO_WHEELS:-}" ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$carry"/wheels/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
fi
summary="$out/summary.txt"
: >"$summary"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$summary"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 20 >"$state/gpu.csv" &
fi

ckpt() { echo "$state/$1/run/checkpoints/last.ckpt"; }

export_run() {  # RUN: float16 generator + scalars -> $OUT/RUN.tar, replaced atomically
  local run=$1 dir="$state/export/$1"
  [[ -f "$(ckpt "$run")" ]] || return 0
  rm -rf "$dir" && mkdir -p "$dir"
  python3 -m tts.cli.main export "$(ckpt "$run")" -o "$dir/$run" --half >/dev/null 2>&1 || return 0
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
  corpus=tts16k
  [[ $run == instruct-nar ]] && corpus=instruct16k
  [[ -f recipes/tts/$run.yaml ]] || { echo "no recipe recipes/tts/$run.yaml" >&2; exit 2; }
  args=(fit --config "recipes/tts/$run.yaml" --config "$here/gpu.yaml"
        --data.pairs "$carry/$corpus/pairs.jsonl" --data.tokens "$carry/$corpus/tokens"
        --trainer.logger.init_args.save_dir "$state" --trainer.logger.init_args.name "$run"
        --trainer.accelerator "$accelerator" --trainer.devices 1 --trainer.enable_progress_bar false
        --trainer.precision "${PRECISION:-bf16-mixed}" --trainer.max_time "{seconds: $seconds}")
  init=$carry/init/$run
  [[ -d $init || $run != instruct-nar ]] || init=$carry/init/nar
  if [[ -f "$(ckpt "$run")" ]]; then
    args+=(--ckpt_path "$(ckpt "$run")")
    echo "$run: resumed from $(ckpt "$run")" >>"$summary"
  elif [[ -d $init ]]; then
    args+=(--model.init_from "$init")
    echo "$run: started from $init" >>"$summary"
  fi
  read -r -a extra <<<"${EXTRA:-}"
  python3 -m tts.cli.main train "${args[@]}" "${extra[@]}" >"$state/$run.log" 2>&1 &
  pids+=($!)
done
(while sleep 120; do for run in "${runs[@]}"; do export_run "$run"; done; done) &
exporter=$!
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
pkill -P "$exporter" 2>/dev/null || true  # its sleep, which would hold the output open
kill "$exporter" 2>/dev/null || true
for run in "${runs[@]}"; do
  export_run "$run"
  python3 - "$(ckpt "$run")" "$run" "$seconds" "$state/$run.log" >>"$summary" <<'PY'
import sys
from pathlib import Path

import torch
path, run, seconds, log = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:]) if log.exists() else "no log"
if not path.exists():
    print(f"{run}: no checkpoint; log: {tail}")
    sys.exit()
import yaml

checkpoint = torch.load(path, map_location="cpu", weights_only=False)
config = yaml.safe_load((path.parents[1] / "config.yaml").read_text())  # LightningCLI's record of the run
batch = config["data"]["batch_size"]
steps = checkpoint["global_step"]
print(f"{run}: {steps} steps, batch {batch}, {steps * batch / seconds:.0f} utterances/s over {seconds:.0f} s; log: {tail}")
PY
done
pkill -f "nvidia-smi --query-gpu=timestamp" 2>/dev/null || true
[[ -f "$state/gpu.csv" ]] && { echo "GPU utilisation (every 20 s):"; cat "$state/gpu.csv"; } >>"$summary"
ls -l "$out" >>"$summary"
cat "$summary"
exit $status
