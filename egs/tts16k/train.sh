#!/usr/bin/env bash
# Train the plain `nar` TTS on egs/tts16k for the installed default tokenizer: builds the corpus and
# the tokenizer's tokens, trains recipes/tts/nar.yaml (resuming where it stopped), exports float16
# weights and scores them. It is the first stage of the shipped default's retraining
# (egs/instruct16k/train.sh), and alone a plain TTS.
#
#   egs/tts16k/train.sh [STEPS] [extra LightningCLI arguments...]     (STEPS default 3350)
#
# DATA  (default ~/.cache/codec/tts16k): the corpus, 4,000 training and 25 dev / test utterances
#       (TRAIN_UTTERANCES, EVAL_UTTERANCES; PREPARE_ARGS adds options of prepare.py). Its tokens go
#       to a folder named by the tokenizer's token fingerprint, so a new default gets new tokens.
# STATE (default ~/.cache/codec/train-tts): checkpoints and logs, outside the repository.
# OUT   (default $STATE/tts16k-nar-model): the exported model. SCORE=0 skips `tts eval` (which needs
#       the [eval-extra] extra).
# RECIPE (default recipes/tts/nar.yaml). Runs at low priority (NICE, default 10).
# With no checkpoint in STATE, training starts from the shipped default TTS's shared weights where it
# was trained on this tokenizer's tokens (INIT=none starts from scratch).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
steps=${1:-3350}
shift || true
python=${PYTHON:-$repo/.venv/bin/python}
DATA=${DATA:-$HOME/.cache/codec/tts16k}
STATE=${STATE:-$HOME/.cache/codec/train-tts}
OUT=${OUT:-$STATE/tts16k-nar-model}
RECIPE=${RECIPE:-$repo/recipes/tts/nar.yaml}
read -r -a prepare_args <<< "${PREPARE_ARGS:-}"

fingerprint=$("$python" -c "from codec import load_codec; print(load_codec('default').fingerprints().tokens)")
tokens="$DATA/tokens/$fingerprint"
nice -n "${NICE:-10}" "$python" "$here/prepare.py" --out "$DATA" --tokens "$tokens" -q \
  --train-utterances "${TRAIN_UTTERANCES:-4000}" --eval-utterances "${EVAL_UTTERANCES:-25}" "${prepare_args[@]}"

last="$STATE/tts16k-nar/run/checkpoints/last.ckpt"
args=(train fit --config "$RECIPE" --data.pairs "$DATA/pairs.jsonl" --data.tokens "$tokens"
      --trainer.max_steps "$steps" --model.total_steps "$steps" --trainer.logger.init_args.save_dir "$STATE"
      --trainer.logger.init_args.name tts16k-nar --trainer.logger.init_args.version run)
shipped=$("$python" -c "
import json
from tts.pretrained import model_folder
config = model_folder('default') / 'config.json'
print(json.loads(config.read_text())['codec'].get('token_fingerprint'))")
if [[ -f "$last" ]]; then
  args+=(--ckpt_path "$last")
elif [[ "${INIT:-shipped}" != none && "$shipped" == "$fingerprint" ]]; then
  args+=(--model.init_from default)
fi
nice -n "${NICE:-10}" "$python" -m tts.cli.main "${args[@]}" "$@"
"$python" -m tts.cli.main export "$last" -o "$OUT" --half
if [[ "${SCORE:-1}" != 0 ]]; then
  "$python" -m tts.cli.main eval --model "$OUT" --pairs "$DATA/pairs.jsonl" --limit 25 \
    --robustness "$DATA/robustness.txt" --json "$OUT.eval.json"
fi
