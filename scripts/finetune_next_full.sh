#!/usr/bin/env bash
# Full fine-tuning of LLaVA-NeXT (--lora_enable False): every language-model weight and the
# projector train, the CLIP tower stays frozen. EEG-VLM's design trade-off compares LLaVA-1.5
# 13B with LoRA against LLaVA-NeXT 8B (Llama-3) fully fine-tuned.
#
#   BASE=/models/llama3-llava-next-8b OUT=checkpoints/next_full bash scripts/finetune_next_full.sh
#   VERSION=mistral_instruct BASE=/models/llava-v1.6-mistral-7b bash scripts/finetune_next_full.sh
#   PROFILE=tiny bash scripts/finetune_next_full.sh                   # CPU: a tiny base, a few steps
#   bash scripts/finetune_next_full.sh --eeg_fusion none              # extra flags go to train_mem.py
#
# Same variables as scripts/finetune_lora.sh (LORA_R and LORA_ALPHA are not used: no LoRA),
# plus GRAD_ACC, WARMUP, VERSION and the anyres settings ASPECT, PINPOINTS, MERGE. The
# papers give no hyperparameters for this run: LR 2e-5, warm-up 0.03 and ZeRO-3 are
# upstream LLaVA's full fine-tuning defaults; 2 epochs as the seed's LoRA command.
# The output folder is a full checkpoint: evaluate it with --model-path OUT (no --model-base).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-gpu}                # gpu, or tiny (CPU check of the whole command)
PYTHON=${PYTHON:-python}
if [ "$PROFILE" = "tiny" ]; then
    BASE=${BASE:-checkpoints/tiny_next_base}
    OUT=${OUT:-checkpoints/tiny_next_full}
    BF16=${BF16:-False}; TF32=${TF32:-False}; REPORT_TO=${REPORT_TO:-none}
    EPOCHS=${EPOCHS:-1}; BATCH=${BATCH:-2}; ZERO=${ZERO:-zero2}; NUM_GPUS=${NUM_GPUS:-1}
    LR=${LR:-1e-3}; CHECKPOINTING=${CHECKPOINTING:-False}
    VISION_TOWER=${VISION_TOWER:-$BASE/clip_vision_tower}
    if [ ! -f "$BASE/config.json" ]; then  # a tiny LLaVA-NeXT base, built from configs in seconds
        "$PYTHON" -m llava.model.tiny --out "$BASE" ${TINY_ARGS:---next --language-model llama3 --clip-width 64}
    fi
elif [ "$PROFILE" != "gpu" ]; then
    echo "finetune_next_full.sh: error: PROFILE must be gpu or tiny, got '$PROFILE'" >&2
    exit 2
fi

BASE=${BASE:-your_checkpoints_path/llama3-llava-next-8b}
OUT=${OUT:-./checkpoints/next_full}
DATA=${DATA:-sleep_data/eeg_ft.json}
IMAGES=${IMAGES:-sleep_data/eeg_images_ft}
VISION_TOWER=${VISION_TOWER:-openai/clip-vit-large-patch14-336}
ZERO=${ZERO:-zero3}                    # zero2, zero3 or zero3_offload (scripts/<name>.json)
NUM_GPUS=${NUM_GPUS:-}                 # empty: every visible GPU
MASTER_PORT=${MASTER_PORT:-}           # empty: DeepSpeed's default (29500)
LAUNCHER=${LAUNCHER:-deepspeed}        # deepspeed, or python (no DeepSpeed)
VERSION=${VERSION:-llava_llama_3}
EPOCHS=${EPOCHS:-2}
BATCH=${BATCH:-4}
GRAD_ACC=${GRAD_ACC:-4}
LR=${LR:-2e-5}
WARMUP=${WARMUP:-0.03}
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
    --lora_enable False --mm_projector_lr "$PROJECTOR_LR" \
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
