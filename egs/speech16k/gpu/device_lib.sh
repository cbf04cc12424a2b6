# Shell functions of the device scripts (egs/*/gpu/train_on_device.sh), sourced by them once they
# have set `state` (their scratch folder on the GPU machine), `out` (the folder that comes back),
# `summary` (a file in it) and the `runs` array:
#
#   install_wheels DIR          the carried wheels into /tmp/site, first on PYTHONPATH (NO_WHEELS=1 skips)
#   watch_gpu                   the GPU's name into the summary, its utilisation every 20 s into $state/gpu.csv
#   export_run CLI RUN          RUN's last checkpoint exported in float16 by `python3 -m CLI export`, with
#                               its logged scalars (scalars.json), into $out/RUN.tar, replaced atomically
#   start_exporter CLI          export_run of every run every two minutes, in the background
#   stop_exporter
#   report_run RUN SECONDS      steps, batch and items/s of RUN over SECONDS (and its log's tail) into the summary
#   report_gpu                  the utilisation log into the summary

ckpt() { echo "$state/$1/run/checkpoints/last.ckpt"; }

install_wheels() {
  export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
  [[ -z "${NO_WHEELS:-}" ]] || return 0
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$1"/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
}

watch_gpu() {
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >>"$summary"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 20 >"$state/gpu.csv" &
}

export_run() {
  local cli=$1 run=$2 dir="$state/export/$2"
  [[ -f "$(ckpt "$run")" ]] || return 0
  rm -rf "$dir" && mkdir -p "$dir"
  python3 -m "$cli" export "$(ckpt "$run")" -o "$dir/$run" --half >/dev/null 2>&1 || return 0
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

start_exporter() {
  (while sleep 120; do for run in "${runs[@]}"; do export_run "$1" "$run"; done; done) &
  exporter=$!
}

stop_exporter() {
  pkill -P "$exporter" 2>/dev/null || true  # its sleep, which would hold the output open
  kill "$exporter" 2>/dev/null || true
}

report_run() {
  python3 - "$(ckpt "$1")" "$1" "$2" "$state/$1.log" >>"$summary" <<'PY'
import sys
from pathlib import Path

import torch
import yaml

path, run, seconds, log = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:]) if log.exists() else "no log"
if not path.exists():
    print(f"{run}: no checkpoint; log: {tail}")
    sys.exit()
steps = torch.load(path, map_location="cpu", weights_only=False)["global_step"]
batch = yaml.safe_load((path.parents[1] / "config.yaml").read_text())["data"]["batch_size"]  # LightningCLI's record
print(f"{run}: {steps} steps, batch {batch}, {steps * batch / seconds:.0f} items/s over {seconds:.0f} s; log: {tail}")
PY
}

report_gpu() {
  pkill -f "nvidia-smi --query-gpu=timestamp" 2>/dev/null || true
  [[ -f "$state/gpu.csv" ]] || return 0
  { echo "GPU utilisation (every 20 s):"; cat "$state/gpu.csv"; } >>"$summary"
}
