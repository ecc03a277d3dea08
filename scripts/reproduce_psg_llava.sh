#!/usr/bin/env bash
# PSG-LLaVA end to end on one dataset: stacked multi-channel PSG images -> holdout 8:2 split (10 %
# of train as val; seeds 0-4 are the paper's five) -> data -> scripts/finetune_psg_llava.sh
# (LLaVA-NeXT-7B, LoRA on vision tower + LM, Table 2) -> label-scoring evaluation -> report (Table 1).
#
# Data (expected layout under $DATA; pass --psg-dataset isruc|mass|shhs):
#   ISRUC-Sleep subgroup 1, https://sleeptight.isr.uc.pt/  : $DATA/1/1.rec, $DATA/1/1_1.txt, 1_2.txt, ...
#   MASS SS3 (request access), http://ceams-carsm.ca/mass/ : $DATA/01-03-0001 PSG.edf, 01-03-0001 Base.edf, ...
#   SHHS-1 (NSRR, data use agreement), https://sleepdata.org/datasets/shhs :
#       $DATA/edfs/shhs1/shhs1-200001.edf and $DATA/annotations-events-nsrr/shhs1/shhs1-200001-nsrr.xml
#   The base model: a llava-v1.6-mistral-7b folder (BASE).
#
#   DATA=/data/isruc BASE=/models/llava-v1.6-mistral-7b bash scripts/reproduce_psg_llava.sh --psg-dataset isruc
#   bash scripts/reproduce_psg_llava.sh --profile gpu --data /data/isruc --dry-run     # print every command
#   bash scripts/reproduce_psg_llava.sh --profile tiny --work /tmp/repro_psg           # CPU, synthetic nights
#   for s in 0 1 2 3 4; do bash scripts/reproduce_psg_llava.sh --data /data/isruc --seed $s --work runs/isruc_s$s; done
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
args=(--paper psg-llava)
[ -n "${DATA:-}" ] && args+=(--data "$DATA")
[ -n "${BASE:-}" ] && args+=(--base-model "$BASE")
case " $* " in *" --profile "*) ;; *) args+=(--profile "${PROFILE:-gpu}") ;; esac
exec "$PYTHON" -m eeg_vlm experiment reproduce "${args[@]}" "$@"
