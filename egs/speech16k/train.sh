#!/usr/bin/env bash
# Train (or keep training) a shipped speech tokenizer on the egs/speech16k corpus.
#
#   egs/speech16k/train.sh [RECIPE] [extra LightningCLI arguments...]
#
# RECIPE defaults to speech16k-hn (the shipped "default" model).
# DATA  (default ~/.cache/codec/speech16k): corpus made by egs/speech16k/prepare.py.
# STATE (default ~/.cache/codec/train): checkpoints and logs, kept outside the repository.
# Resumes from STATE's last checkpoint; with none, starts from the shipped weights if the package
# has them, else as the recipe says (its init_from). Runs at low priority (nice) so the machine stays usable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
recipe=${1:-speech16k-hn}
shift || true
DATA=${DATA:-$HOME/.cache/codec/speech16k}
STATE=${STATE:-$HOME/.cache/codec/train}
codec=${CODEC:-codec}
last="$STATE/$recipe/run/checkpoints/last.ckpt"
args=(fit --config "$repo/recipes/codec/$recipe.yaml" --data.train "$DATA/manifest.jsonl"
      --trainer.logger.init_args.save_dir "$STATE")
if [[ -f "$last" ]]; then
  args+=(--ckpt_path "$last")
elif [[ -f "$repo/codec/pretrained/$recipe/model.safetensors" ]]; then
  args+=(--model.init_from "$recipe" --model.init_modules "[encoder,quantizer,decoder]")
fi
exec nice -n "${NICE:-10}" "$codec" train "${args[@]}" "$@"
