#!/usr/bin/env bash
# Step 4 of the seed: answer the evaluation questions with a fine-tuned checkpoint.
#
#   bash scripts/eval.sh                                  # the seed's paths
#   CKPT=checkpoints/run1 BASE=/models/llava-v1.5-13b bash scripts/eval.sh
#   NUM_CHUNKS=4 bash scripts/eval.sh                     # one process per GPU, then merged
#   bash scripts/eval.sh --score-labels W,N1,N2,N3,REM    # extra flags go to model_vqa.py
#
# Answers are resumable: rerunning skips questions already in the answers file.
set -euo pipefail
cd "$(dirname "$0")/.."

CKPT=${CKPT:-checkpoints/your_checkpoints_save_path/}
BASE=${BASE:-your_checkpoints_path/LLaVA-v1.5-13b/}
QUESTIONS=${QUESTIONS:-sleep_data/eeg_eval.jsonl}
IMAGES=${IMAGES:-sleep_data/eeg_images_eval}
ANSWERS=${ANSWERS:-sleep_data/answers/eeg_answers.jsonl}
NUM_CHUNKS=${NUM_CHUNKS:-1}
PYTHON=${PYTHON:-python}

run_chunk() {  # $1 = chunk index, $2 = answers file; the rest: extra flags
    local idx=$1 out=$2
    shift 2
    "$PYTHON" llava/eval/model_vqa.py \
        --model-path "$CKPT" \
        --model-base "$BASE" \
        --question-file "$QUESTIONS" \
        --image-folder "$IMAGES" \
        --answers-file "$out" \
        --num-chunks "$NUM_CHUNKS" \
        --chunk-idx "$idx" \
        "$@"
}

if [ "$NUM_CHUNKS" -eq 1 ]; then
    run_chunk 0 "$ANSWERS" "$@"
    exit 0
fi

# Several GPUs: one chunk per GPU (CUDA_VISIBLE_DEVICES), then the chunk files are merged.
GPUS=${GPUS:-$(seq -s, 0 $((NUM_CHUNKS - 1)))}
IFS=, read -r -a GPU_LIST <<< "$GPUS"
pids=()
for idx in $(seq 0 $((NUM_CHUNKS - 1))); do
    CUDA_VISIBLE_DEVICES=${GPU_LIST[$((idx % ${#GPU_LIST[@]}))]} \
        run_chunk "$idx" "${ANSWERS%.jsonl}.${NUM_CHUNKS}_${idx}.jsonl" "$@" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
if [ "$failed" -ne 0 ]; then
    echo "eval.sh: a chunk failed; rerun the same command to resume the unfinished chunks" >&2
    exit 1
fi

mkdir -p "$(dirname "$ANSWERS")"
: > "$ANSWERS"
for idx in $(seq 0 $((NUM_CHUNKS - 1))); do
    cat "${ANSWERS%.jsonl}.${NUM_CHUNKS}_${idx}.jsonl" >> "$ANSWERS"
done
echo "merged $NUM_CHUNKS chunks -> $ANSWERS"
