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
summary="$out/summary.txt"
: >"$summary"
mkdir -p "$state"
source egs/speech16k/gpu/device_lib.sh
install_wheels .carry/wheels
watch_gpu

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
start_exporter codec.cli
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
stop_exporter
exports=()
for run in "${runs[@]}"; do export_run codec.cli "$run" & exports+=($!); done
for run in "${runs[@]}"; do report_run "$run" "$seconds"; done
report_gpu
for pid in "${exports[@]}"; do wait "$pid" || true; done
if [[ -z "${NO_BENCH:-}" ]]; then
  timeout 90 python3 bench/recipe_speed.py --device cuda --batch 16 --threads 1 --recipes speech16k-hn >>"$summary" 2>&1 || true
fi
ls -l "$out" >>"$summary"
cat "$summary"
exit $status
