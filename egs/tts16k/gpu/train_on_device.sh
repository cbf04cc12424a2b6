#!/usr/bin/env bash
# Runs ON the GPU machine of the device tool, in the repository root, with .carry-tts/ from pack.sh:
#
#   bash egs/tts16k/gpu/train_on_device.sh SECONDS RUN [RUN...]
#
# RUN is nar, ar, ar-aligned (on the tts16k tokens), instruct-nar or instruct-ar-semantic (on the
# instruct16k tokens, the latter with its semantic units): recipes/tts/RUN.yaml with gpu.yaml over
# it, all at once on the one GPU for SECONDS of training, each from the same machine's earlier call
# when its checkpoint is still in STATE, else from .carry-tts/init/RUN (instruct-nar falls back to
# init/nar, instruct-ar-semantic to init/ar), else from scratch. Every two minutes,
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
[[ ${#runs[@]} -gt 0 ]] || { echo "name at least one run: nar ar ar-aligned instruct-nar instruct-ar-semantic" >&2; exit 2; }
accelerator=${ACCELERATOR:-gpu}
state=${STATE:-/tmp/tts-state}
out=${OUT:?OUT must name the folder that comes back}
here=egs/tts16k/gpu
carry=.carry-tts
summary="$out/summary.txt"
: >"$summary"
mkdir -p "$state"
source egs/speech16k/gpu/device_lib.sh
install_wheels "$carry/wheels"
watch_gpu

pids=()
for run in "${runs[@]}"; do
  corpus=tts16k
  [[ $run == instruct-* ]] && corpus=instruct16k
  [[ -f recipes/tts/$run.yaml ]] || { echo "no recipe recipes/tts/$run.yaml" >&2; exit 2; }
  args=(fit --config "recipes/tts/$run.yaml" --config "$here/gpu.yaml"
        --data.pairs "$carry/$corpus/pairs.jsonl" --data.tokens "$carry/$corpus/tokens"
        --trainer.logger.init_args.save_dir "$state" --trainer.logger.init_args.name "$run"
        --trainer.accelerator "$accelerator" --trainer.devices 1 --trainer.enable_progress_bar false
        --trainer.precision "${PRECISION:-bf16-mixed}" --trainer.max_time "{seconds: $seconds}")
  init=$carry/init/$run
  [[ -d $init || $run != instruct-nar ]] || init=$carry/init/nar
  [[ -d $init || $run != instruct-ar-semantic ]] || init=$carry/init/ar
  [[ $run != instruct-ar-semantic ]] || args+=(--data.semantic_units "$carry/instruct16k/units.npz")
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
start_exporter tts.cli.main
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
stop_exporter
for run in "${runs[@]}"; do
  export_run tts.cli.main "$run"
  report_run "$run" "$seconds"
done
report_gpu
ls -l "$out" >>"$summary"
cat "$summary"
exit $status
