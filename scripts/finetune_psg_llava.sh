#!/usr/bin/env bash
# PSG-LLaVA: LoRA on the vision tower and the language model of LLaVA-NeXT, projector frozen
# (PSG-LLaVA §2.2; Table 2: LoRA rank 16, batch 2, gradient accumulation 8, lr 1e-4, 3 epochs
# (1 on SHHS), cosine schedule with 10 % warm-up, bf16).
#
#   BASE=/models/llava-v1.6-mistral-7b OUT=checkpoints/psg_llava bash scripts/finetune_psg_llava.sh
#   EPOCHS=1 bash scripts/finetune_psg_llava.sh                       # SHHS
#   NUM_GPUS=2 ZERO=zero2 bash scripts/finetune_psg_llava.sh
#   PROFILE=tiny bash scripts/finetune_psg_llava.sh                   # CPU: a tiny base, a few steps
#   bash scripts/finetune_psg_llava.sh --eeg_fusion none              # extra flags go to train_mem.py
#
# Same variables as scripts/finetune_lora.sh, plus GRAD_ACC, WARMUP, VERSION (the template:
# mistral_instruct for LLaVA-NeXT-Mistral-7B, llava_llama_3 for the Llama-3 8B) and the anyres
# settings ASPECT, PINPOINTS, MERGE. LORA_ALPHA is not in Table 2: 2 x rank, upstream's habit.
# PROJECTOR_LR is accepted for symmetry; the projector is frozen, so it is unused.
# Rerunning with the same OUT resumes from its newest checkpoint-*.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-gpu}                # gpu, or tiny (CPU check of the whole command)
PYTHON=${PYTHON:-python}
if [ "$PROFILE" = "tiny" ]; then
    BASE=${BASE:-checkpoints/tiny_next_base}
    OUT=${OUT:-checkpoints/tiny_psg_llava}
    BF16=${BF16:-False}; TF32=${TF32:-False}; REPORT_TO=${REPORT_TO:-none}
    EPOCHS=${EPOCHS:-1}; GRAD_ACC=${GRAD_ACC:-1}; ZERO=${ZERO:-zero2}; NUM_GPUS=${NUM_GPUS:-1}
    LR=${LR:-2e-3}; CHECKPOINTING=${CHECKPOINTING:-False}
    VISION_TOWER=${VISION_TOWER:-$BASE/clip_vision_tower}
    if [ ! -f "$BASE/config.json" ]; then  # a tiny LLaVA-NeXT base, built from configs in seconds
        "$PYTHON" -m llava.model.tiny --out "$BASE" ${TINY_ARGS:---next --language-model mistral --clip-width 64}
    fi
elif [ "$PROFILE" != "gpu" ]; then
    echo "finetune_psg_llava.sh: error: PROFILE must be gpu or tiny, got '$PROFILE'" >&2
    exit 2
fi

BASE=${BASE:-your_checkpoints_path/llava-v1.6-mistral-7b}
OUT=${OUT:-./checkpoints/psg_llava}
DATA=${DATA:-sleep_data/eeg_ft.json}
IMAGES=${IMAGES:-sleep_data/eeg_images_ft}
VISION_TOWER=${VISION_TOWER:-openai/clip-vit-large-patch14-336}
ZERO=${ZERO:-zero3}                    # zero2, zero3 or zero3_offload (scripts/<name>.json)
NUM_GPUS=${NUM_GPUS:-}                 # empty: every visible GPU
MASTER_PORT=${MASTER_PORT:-}           # empty: DeepSpeed's default (29500)
LAUNCHER=${LAUNCHER:-deepspeed}        # deepspeed, or python (no DeepSpeed)
VERSION=${VERSION:-mistral_instruct}
LORA_R=${LORA_R:-16}
LORA_ALPHA=${LORA_ALPHA:-32}
EPOCHS=${EPOCHS:-3}
BATCH=${BATCH:-2}
GRAD_ACC=${GRAD_ACC:-8}
LR=${LR:-1e-4}
WARMUP=${WARMUP:-0.1}
PROJECTOR_LR=${PROJECTOR_LR:-$LR}
BF16=${BF16:-True}
TF32=${TF32:-True}
REPORT_TO=${REPORT_TO:-wandb}
CHECKPOINTING=${CHECKPOINTING:-True}
ASPECT=${ASPECT:-anyres}
PINPOINTS=${PINPOINTS:-[[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]}
MERGE=${MERGE:-spatial_unpad}

source scripts/train_launcher.sh  # -> launch=(deepspeed ... train_mem.py --deepspeed ...) or (python train_mem.py)

"${launch[@]}" \
    --lora_enable True --lora_vision_tower True --freeze_mm_mlp_adapter True \
    --lora_r "$LORA_R" --lora_alpha "$LORA_ALPHA" --mm_projector_lr "$PROJECTOR_LR" \
    --model_name_or_path "$BASE" \
    --version "$VERSION" \
    --data_path "$DATA" \
    --image_folder "$IMAGES" \
    --vision_tower "$VISION_TOWER" \
    --mm_projector_type mlp2x_gelu \
    --mm_vision_select_layer -2 \
    --mm_use_im_start_end False \
    --mm_use_im_patch_token False \
    --image_aspect_ratio "$ASPECT" \
    --image_grid_pinpoints "$PINPOINTS" \
    --mm_patch_merge_type "$MERGE" \
    --group_by_modality_length True \
    --bf16 "$BF16" \
    --output_dir "$OUT" \
    --num_train_epochs "$EPOCHS" \
    --per_device_train_batch_size "$BATCH" \
    --per_device_eval_batch_size 4 \
    --gradient_accumulation_steps "$GRAD_ACC" \
    --evaluation_strategy "no" \
    --save_strategy "steps" \
    --save_steps 50000 \
    --save_total_limit 1 \
    --learning_rate "$LR" \
    --weight_decay 0. \
    --warmup_ratio "$WARMUP" \
    --lr_scheduler_type "cosine" \
    --logging_steps 1 \
    --tf32 "$TF32" \
    --model_max_length 4096 \
    --gradient_checkpointing "$CHECKPOINTING" \
    --dataloader_num_workers 1 \
    --lazy_preprocess True \
    --report_to "$REPORT_TO" \
    "$@"
