#!/usr/bin/env bash
# Retrain the shipped default TTS (tts/shipped/tts16k-instruct: one model for plain text and
# instructions) for the installed default tokenizer, in stages that each resume where they
# stopped:
#   1. the plain `nar` model on egs/tts16k (egs/tts16k/train.sh PLAIN_STEPS, its export unscored);
#   2. recipes/tts/instruct-nar.yaml from it, on this corpus (styled speech, with instructions)
#      beside egs/tts16k's (plain, without);
#   3. its level classifier trained alone on the instructions (recipes/tts/style-refit.yaml);
#   4. its duration predictor refitted on the final phone encoder (recipes/tts/duration-refit.yaml,
#      1,500 short steps), then a float16 export scored as plain TTS and on instructions.
#
#   egs/instruct16k/train.sh [STEPS] [extra LightningCLI arguments of stage 2...]
#
# STEPS (default 2500): stage 2's steps, with the learning rate decaying by cosine over them.
# PLAIN_STEPS (default 3350): stage 1's (see egs/tts16k/train.sh, which also reads DATA and NICE).
# DATA  (default ~/.cache/codec/tts16k) and IDATA (default ~/.cache/codec/instruct16k): the two
#       corpora; IDATA's sizes are TRAIN_UTTERANCES_I (4000) and EVAL_UTTERANCES_I (100), its
#       options PREPARE_ARGS_I. Tokens go to folders named by the tokenizer's token fingerprint.
# STATE (default ~/.cache/codec/train-tts): checkpoints and logs, outside the repository.
# OUT   (default $STATE/tts16k-instruct-model): the exported model; copy it over
#       tts/shipped/tts16k-instruct to ship it. SCORE=0 skips `tts eval` (the [eval-extra] extra).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
steps=${1:-2500}
shift || true
python=${PYTHON:-$repo/.venv/bin/python}
export DATA=${DATA:-$HOME/.cache/codec/tts16k}
export STATE=${STATE:-$HOME/.cache/codec/train-tts}
IDATA=${IDATA:-$HOME/.cache/codec/instruct16k}
OUT=${OUT:-$STATE/tts16k-instruct-model}
plain="$STATE/tts16k-nar-model"
read -r -a prepare_args <<< "${PREPARE_ARGS_I:-}"

OUT="$plain" SCORE=0 "$here/../tts16k/train.sh" "${PLAIN_STEPS:-3350}"

fingerprint=$("$python" -c "from codec import load_codec; print(load_codec('default').fingerprints().tokens)")
tokens="$IDATA/tokens/$fingerprint"
# egs/tts16k's download of the sentences, where it made one, is reused
fortunes=()
[[ -d "$DATA/pkgroot/fortunes" ]] && fortunes=(--fortunes "$DATA/pkgroot/fortunes")
nice -n "${NICE:-10}" "$python" "$here/prepare.py" --out "$IDATA" "${fortunes[@]}" --tokens "$tokens" -q --train-utterances "${TRAIN_UTTERANCES_I:-4000}" \
  --eval-utterances "${EVAL_UTTERANCES_I:-100}" "${prepare_args[@]}"

last="$STATE/tts16k-instruct/run/checkpoints/last.ckpt"
# both stages read the styled corpus with instructions beside the plain one without
corpora=(--data.pairs "$IDATA/pairs.jsonl" --data.tokens "$tokens"
         --data.plain_corpora "[{pairs: $DATA/pairs.jsonl, tokens: $DATA/tokens/$fingerprint}]"
         --trainer.logger.init_args.save_dir "$STATE" --trainer.logger.init_args.version run)
args=(train fit --config "$repo/recipes/tts/instruct-nar.yaml" "${corpora[@]}"
      --trainer.max_steps "$steps" --model.total_steps "$steps" --trainer.logger.init_args.name tts16k-instruct)
if [[ -f "$last" ]]; then
  args+=(--ckpt_path "$last")
else
  args+=(--model.init_from "$plain")
fi
nice -n "${NICE:-10}" "$python" -m tts.cli.main "${args[@]}" "$@"

styles="$STATE/tts16k-instruct-styles/run/checkpoints/last.ckpt"
args=(train fit --config "$repo/recipes/tts/instruct-nar.yaml" --config "$repo/recipes/tts/style-refit.yaml"
      "${corpora[@]}" --model.init_from "$last" --trainer.logger.init_args.name tts16k-instruct-styles)
[[ -f "$styles" ]] && args+=(--ckpt_path "$styles")
nice -n "${NICE:-10}" "$python" -m tts.cli.main "${args[@]}"

refit="$STATE/tts16k-instruct-refit/run/checkpoints/last.ckpt"
args=(train fit --config "$repo/recipes/tts/instruct-nar.yaml" --config "$repo/recipes/tts/duration-refit.yaml"
      "${corpora[@]}" --model.init_from "$styles" --trainer.logger.init_args.name tts16k-instruct-refit)
[[ -f "$refit" ]] && args+=(--ckpt_path "$refit")
nice -n "${NICE:-10}" "$python" -m tts.cli.main "${args[@]}"
"$python" -m tts.cli.main export "$refit" -o "$OUT" --half
if [[ "${SCORE:-1}" != 0 ]]; then
  "$python" -m tts.cli.main eval --model "$OUT" --pairs "$DATA/pairs.jsonl" --limit 25 \
    --robustness "$DATA/robustness.txt" --json "$OUT.eval.json"
  "$python" -m tts.cli.main eval --instruct --model "$OUT" --pairs "$IDATA/pairs.jsonl" --limit 32 \
    --contrasts 12 --ablation --json "$OUT.instruct.json"
fi
