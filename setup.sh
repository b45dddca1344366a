#!/usr/bin/env bash
# Create (or bring up to date) the virtual environment .venv, or $VENV_DIR, from the repo's
# requirements files. Does nothing when it already matches them.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${VENV_DIR:-.venv}"
HASH=$(cat requirements.txt requirements-rknn.txt | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.requirements-hash" 2>/dev/null || true)" != "$HASH" ]; then
  echo "setting up $VENV (torch is a large download the first time) ..."
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
  # rknn-toolkit2's metadata pins torch<=2.4 and numpy<=1.26.4, which it does not need here.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r requirements-rknn.txt
  echo "$HASH" > "$VENV/.requirements-hash"
fi
