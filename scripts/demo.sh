#!/usr/bin/env bash
# The main job end to end on the embedded default: synthetic PSG -> images -> vision module
# -> features -> CoT data -> tiny LLaVA LoRA fine-tuning -> answers -> report (CPU, minutes).
# Sets up ./.venv on first use. Extra arguments go to `eeg-vlm demo` (e.g. --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh core  # the core install is all the demo needs
exec .venv/bin/python -m eeg_vlm demo "$@"
