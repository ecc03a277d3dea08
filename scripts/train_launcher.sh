# Sourced by the finetune_*.sh scripts (from the repository root): sets the array `launch`,
# the command that runs llava/train/train_mem.py, from
#   LAUNCHER     deepspeed (default), or a Python executable (one process, no DeepSpeed)
#   ZERO         DeepSpeed config scripts/<ZERO>.json (zero2, zero3, zero3_offload)
#   NUM_GPUS     empty: every visible GPU;  MASTER_PORT  empty: DeepSpeed's default (29500)
#   DS_LOG_LEVEL the launcher's log level (default warning)
LAUNCHER=${LAUNCHER:-deepspeed}
MASTER_PORT=${MASTER_PORT:-}
if [ "$LAUNCHER" = "deepspeed" ]; then
    # without a GPU, name DeepSpeed's CPU accelerator: the same choice, without its notice per process
    command -v nvidia-smi > /dev/null 2>&1 || export DS_ACCELERATOR=${DS_ACCELERATOR:-cpu}
    launch=(deepspeed --log_level "${DS_LOG_LEVEL:-warning}" ${NUM_GPUS:+--num_gpus "$NUM_GPUS"}
            ${MASTER_PORT:+--master_port "$MASTER_PORT"}
            llava/train/train_mem.py --deepspeed "./scripts/${ZERO:?ZERO must name a scripts/<name>.json}.json")
else
    launch=("$LAUNCHER" llava/train/train_mem.py)
fi
