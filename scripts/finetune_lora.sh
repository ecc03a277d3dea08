#!/usr/bin/env bash
# Step 3 of the seed: LoRA fine-tuning of LLaVA-1.5 with the EEG feature slot.
#
#   bash scripts/finetune_lora.sh                                   # the seed's paths, GPUs
#   BASE=/models/llava-v1.5-13b OUT=checkpoints/run1 bash scripts/finetune_lora.sh
#   NUM_GPUS=2 ZERO=zero2 bash scripts/finetune_lora.sh
#   LAUNCHER=python BF16=False TF32=False bash scripts/finetune_lora.sh   # one process, no DeepSpeed (CPU)
#   bash scripts/finetune_lora.sh --eeg_fusion none                 # extra flags go to train_mem.py
#
# Features: sleep_data/train_high_level_features.npy beside DATA (override with
# --high_level_features_path). Rerunning with the same OUT resumes from its newest checkpoint-*.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BASE:-your_checkpoints_path/LLaVA-v1.5-13b}
OUT=${OUT:-./checkpoints/your_checkpoints_save_path}
DATA=${DATA:-sleep_data/eeg_ft.json}
IMAGES=${IMAGES:-sleep_data/eeg_images_ft}
VISION_TOWER=${VISION_TOWER:-openai/clip-vit-large-patch14-336}
ZERO=${ZERO:-zero3}                    # zero2, zero3 or zero3_offload (scripts/<name>.json)
NUM_GPUS=${NUM_GPUS:-}                 # empty: every visible GPU
LAUNCHER=${LAUNCHER:-deepspeed}        # deepspeed, or python (no DeepSpeed)
LORA_R=${LORA_R:-128}
LORA_ALPHA=${LORA_ALPHA:-256}
EPOCHS=${EPOCHS:-2}
BATCH=${BATCH:-16}
LR=${LR:-3e-4}
PROJECTOR_LR=${PROJECTOR_LR:-2e-5}
BF16=${BF16:-True}
TF32=${TF32:-True}
REPORT_TO=${REPORT_TO:-wandb}

source scripts/train_launcher.sh  # -> launch=(deepspeed ... train_mem.py --deepspeed ...) or (python train_mem.py)

"${launch[@]}" \
    --lora_enable True --lora_r "$LORA_R" --lora_alpha "$LORA_ALPHA" --mm_projector_lr "$PROJECTOR_LR" \
    --model_name_or_path "$BASE" \
    --version v1 \
    --data_path "$DATA" \
    --image_folder "$IMAGES" \
    --vision_tower "$VISION_TOWER" \
    --mm_projector_type mlp2x_gelu \
    --mm_vision_select_layer -2 \
    --mm_use_im_start_end False \
    --mm_use_im_patch_token False \
    --image_aspect_ratio pad \
    --group_by_modality_length True \
    --bf16 "$BF16" \
    --output_dir "$OUT" \
    --num_train_epochs "$EPOCHS" \
    --per_device_train_batch_size "$BATCH" \
    --per_device_eval_batch_size 4 \
    --gradient_accumulation_steps 1 \
    --evaluation_strategy "no" \
    --save_strategy "steps" \
    --save_steps 50000 \
    --save_total_limit 1 \
    --learning_rate "$LR" \
    --weight_decay 0. \
    --warmup_ratio 0.03 \
    --lr_scheduler_type "cosine" \
    --logging_steps 1 \
    --tf32 "$TF32" \
    --model_max_length 4096 \
    --gradient_checkpointing True \
    --dataloader_num_workers 1 \
    --lazy_preprocess True \
    --report_to "$REPORT_TO" \
    "$@"
