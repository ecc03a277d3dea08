#!/usr/bin/env bash
# EEG-VLM (arXiv 2511.19155) end to end: Sleep-EDF Expanded -> Fpz-Cz images -> subject-wise split
# -> modified ResNet-18 -> stage-wise CoT data -> [N,1,1024] features -> the seed's LoRA command
# (LLaVA-v1.5-13B, ZeRO-3, bf16) -> the seed's model_vqa.py -> report (Table I layout).
#
# Data: PhysioNet Sleep-EDF Expanded, https://physionet.org/content/sleep-edfx/1.0.0/
#   (wget -r -N -c -np https://physionet.org/files/sleep-edfx/1.0.0/ ; ~8 GB). Expected layout:
#     $DATA/sleep-cassette/SC4001E0-PSG.edf, SC4001EC-Hypnogram.edf, ...
#     $DATA/sleep-telemetry/ST7011J0-PSG.edf, ST7011JP-Hypnogram.edf, ...   (optional)
#   The base model: a LLaVA-v1.5-13b folder (BASE); CLIP ViT-L/14-336 is read from its config.
#
#   DATA=/data/sleep-edfx BASE=/models/llava-v1.5-13b bash scripts/reproduce_eeg_vlm.sh
#   bash scripts/reproduce_eeg_vlm.sh --profile gpu --data /data/sleep-edfx --dry-run   # print every command
#   bash scripts/reproduce_eeg_vlm.sh --profile tiny --work /tmp/repro                  # CPU, synthetic nights
#
# Every step is skipped when its marker (WORK/.done/<step>.json, written after success) records the
# same command; a rerun resumes. Other options: python -m eeg_vlm experiment reproduce -h.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
args=(--paper eeg-vlm)
[ -n "${DATA:-}" ] && args+=(--data "$DATA")
[ -n "${BASE:-}" ] && args+=(--base-model "$BASE")
case " $* " in *" --profile "*) ;; *) args+=(--profile "${PROFILE:-gpu}") ;; esac
exec "$PYTHON" -m eeg_vlm experiment reproduce "${args[@]}" "$@"
