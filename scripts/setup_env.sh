#!/usr/bin/env bash
# Create ./.venv and install the project into it; a no-op when nothing changed.
# Used by scripts/demo.sh and scripts/test.sh, so both work on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${EEG_VLM_VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.installed-$(sha256sum setup.py | cut -c1-16)"
if [ -f "$stamp" ]; then exit 0; fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
log="$VENV/install.log"
quiet_pip() {  # pip's output goes to $log and is shown only when it fails
  if ! "$VENV/bin/pip" install "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "[setup] pip install $* failed (log: $log)" >&2
    exit 1
  fi
}
# torch first, pinned: a bare 'torch' would pull a multi-GB CUDA build where a CPU wheel
# lies on disk. A torch that is already there (CUDA or not) is kept.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0" >&2
  quiet_pip torch==2.13.0
fi
echo "[setup] installing eeg-vlm and its dependencies into $VENV (a few minutes the first time)" >&2
quiet_pip -e ".[all]"
rm -f "$VENV"/.installed-*
touch "$stamp"
