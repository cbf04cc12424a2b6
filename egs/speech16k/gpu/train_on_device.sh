#!/usr/bin/env bash
# Runs ON the GPU machine of the device tool, in the repository root, with .carry/ from pack.sh:
#
#   bash egs/speech16k/gpu/train_on_device.sh RECIPE MINUTES [extra LightningCLI arguments...]
#
# Installs the carried wheels, resumes from this machine's earlier call (/tmp/codec-state), or
# else starts from the model pack.sh carried in .carry/init (INIT=...), or else from the shipped
# weights of RECIPE, trains for MINUTES with the GAN on from the start
# (--model.gan_start_step 0), and writes the generator (float16) to $OUT/RECIPE/ as config.json
# plus model.safetensors cut into parts under the tool's 16 MiB file limit. Put them back with
#   cat FILES_AT/RECIPE/model.safetensors.part-* > codec/pretrained/RECIPE/model.safetensors
# ACCELERATOR (default gpu) and STATE (default /tmp/codec-state) can be changed, and NO_WHEELS=1
# skips the wheels, e.g. to try it on a CPU machine whose Python has the packages.
set -euo pipefail
recipe=${1:?recipe}
minutes=${2:?minutes}
shift 2
accelerator=${ACCELERATOR:-gpu}
state=${STATE:-/tmp/codec-state}
out=${OUT:?OUT must name the folder that comes back}
[[ -n "${NO_WHEELS:-}" ]] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/wheels/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
last="$state/$recipe/run/checkpoints/last.ckpt"
args=(fit --config "recipes/$recipe.yaml" --data.train .carry/data/manifest.jsonl
      --trainer.logger.init_args.save_dir "$state" --trainer.accelerator "$accelerator" --trainer.devices 1
      --trainer.max_time "00:00:$(printf %02d "$minutes"):00" --trainer.enable_progress_bar false
      --model.gan_start_step 0)
if [[ -f "$last" ]]; then
  args+=(--ckpt_path "$last")
elif [[ -f .carry/init/model.safetensors ]]; then
  args+=(--model.init_from .carry/init --model.init_modules "[encoder,quantizer,decoder]")
else
  args+=(--model.init_from "$recipe" --model.init_modules "[encoder,quantizer,decoder]")
fi
python3 -m codec.cli train "${args[@]}" "$@"
python3 -m codec.cli export "$last" -o "$out/$recipe" --half
split -b 15M "$out/$recipe/model.safetensors" "$out/$recipe/model.safetensors.part-"
rm "$out/$recipe/model.safetensors"
ls -l "$out/$recipe"
