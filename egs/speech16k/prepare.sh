#!/usr/bin/env bash
# Build the speech16k corpus.
#
# Usage: egs/speech16k/prepare.sh OUT_DIR [prepare.py options...]
#
# As root it first runs `apt-get update` and installs the system tools the
# recipe calls (dpkg for dpkg-deb, the TTS engines flite, espeak-ng and
# festival with two voices); then it runs prepare.py at low priority.
# PYTHON overrides the interpreter (default: the repository's .venv).
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 OUT_DIR [prepare.py options...]" >&2
    exit 2
fi
out=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}

if ! "$py" -c 'import numpy, soundfile, soxr' 2>/dev/null; then
    echo "$py lacks numpy/soundfile/soxr: run '$py -m pip install numpy soundfile soxr'" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        dpkg flite espeak-ng festival festvox-kallpc16k festvox-us-slt-hts
fi

exec nice -n 10 "$py" "$here/prepare.py" --out "$out" "$@"
