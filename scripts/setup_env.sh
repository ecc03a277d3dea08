#!/usr/bin/env bash
# Create ./.venv and install the project into it; a no-op when nothing changed.
#   bash scripts/setup_env.sh        everything ([all]: DeepSpeed, wandb, bitsandbytes, MNE, yasa,
#                                    pytest); what scripts/test.sh uses
#   bash scripts/setup_env.sh core   the core install (pip install -e .): what the demo runs
# An [all] install also serves a later 'core' request.
set -euo pipefail
cd "$(dirname "$0")/.."
WANT=${1:-all}
case "$WANT" in all|core) ;; *) echo "setup_env.sh: unknown install '$WANT' (all or core)" >&2; exit 2;; esac
VENV=${EEG_VLM_VENV:-.venv}
PY=${PYTHON:-python3}
hash=$(sha256sum setup.py | cut -c1-16)
if [ -f "$VENV/.installed-$hash-all" ] || [ -f "$VENV/.installed-$hash-$WANT" ]; then exit 0; fi
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
if [ "$WANT" = all ]; then spec=".[all]"; else spec="."; fi
echo "[setup] installing eeg-vlm ($spec) and its dependencies into $VENV (a minute or two the first time)" >&2
quiet_pip -e "$spec"
# a stamp of an older setup.py is stale; a 'core' stamp is superseded by 'all'
rm -f "$VENV"/.installed-*
touch "$VENV/.installed-$hash-$WANT"
