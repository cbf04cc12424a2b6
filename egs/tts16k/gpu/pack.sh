#!/usr/bin/env bash
# Pack what a GPU machine without network needs to train the speech generators: the wheels its
# image lacks, the token corpora (no audio: a generator trains on tokens, 2 MB per 5 h), their
# pairs cut to the fields training reads, and float16 start weights of CPU runs. Writes .carry-tts/
# in the repository root (git-ignored); name it in `carry`.
#
#   DATA=~/.cache/codec/tts16k IDATA=~/.cache/codec/instruct16k \
#     [INIT_NAR=CKPT_OR_FOLDER] [INIT_AR=...] [INIT_AR_ALIGNED=...] [INIT_INSTRUCT_NAR=...] \
#     [INIT_INSTRUCT_AR_SEMANTIC=...] egs/tts16k/gpu/pack.sh
#
# Either corpus may be missing (its runs then cannot start); the instruction corpus's semantic
# units (units/units.npz, 3 MB) go along when they exist. INIT_<RUN> (a 'tts train' checkpoint or
# an exported folder) is exported in float16 to .carry-tts/init/<run>, where train_on_device.sh
# starts that run from it; an instruct-nar run without its own start takes the nar one's, and an
# instruct-ar-semantic run the ar one's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
DATA=${DATA:-$HOME/.cache/codec/tts16k}
IDATA=${IDATA:-$HOME/.cache/codec/instruct16k}
python=${PYTHON:-$repo/.venv/bin/python}
carry="$repo/.carry-tts"
rm -rf "$carry" && mkdir -p "$carry/init"
PYTHON="$python" bash "$repo/egs/speech16k/gpu/wheels.sh" "$carry/wheels"
for pair in "tts16k:$DATA" "instruct16k:$IDATA"; do
  name=${pair%%:*} root=${pair#*:}
  [[ -f "$root/pairs.jsonl" ]] || { echo "no $root/pairs.jsonl: $name not packed" >&2; continue; }
  mkdir -p "$carry/$name"
  cp -r "$root/tokens/default" "$carry/$name/tokens"
  [[ -f "$root/style_bins.json" ]] && cp "$root/style_bins.json" "$carry/$name/"
  [[ -f "$root/units/units.npz" ]] && cp "$root/units/units.npz" "$carry/$name/"
  "$python" - "$root/pairs.jsonl" "$carry/$name/pairs.jsonl" <<'PY'
import json, sys
fields = ("key", "phones", "durations", "split", "text", "style_words")
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
kept = [{k: row.get(k) for k in fields if k in row} for row in rows if row.get("split") in ("train", "dev")]
open(sys.argv[2], "w", encoding="utf-8").write("".join(json.dumps(row) + "\n" for row in kept))
print(f"{sys.argv[2]}: {len(kept)} rows")
PY
done
for run in nar ar ar-aligned instruct-nar instruct-ar-semantic; do
  variable="INIT_$(echo "$run" | tr 'a-z-' 'A-Z_')"
  [[ -n "${!variable:-}" ]] || continue
  if [[ -d "${!variable}" ]]; then
    cp -r "${!variable}" "$carry/init/$run"
  else
    "$python" -m tts.cli.main export "${!variable}" -o "$carry/init/$run" --half
  fi
done
du -sh "$carry"
