"""Constants shared with upstream LLaVA v1.5 (same names, same values)."""

CONTROLLER_HEART_BEAT_EXPIRATION = 30
WORKER_HEART_BEAT_INTERVAL = 15
LOGDIR = "."

#: Label value ignored by the loss.
IGNORE_INDEX = -100
#: Placeholder id spliced into input_ids where an ``<image>`` tag stood.
IMAGE_TOKEN_INDEX = -200
DEFAULT_IMAGE_TOKEN = "<image>"
DEFAULT_IMAGE_PATCH_TOKEN = "<im_patch>"
DEFAULT_IM_START_TOKEN = "<im_start>"
DEFAULT_IM_END_TOKEN = "<im_end>"
IMAGE_PLACEHOLDER = "<image-placeholder>"

#: EEG-VLM: the values the fusion switch takes (see llava/model/llava_arch.py).
EEG_FUSION_MODES = ("none", "raw", "add")

__all__ = [
    "CONTROLLER_HEART_BEAT_EXPIRATION", "WORKER_HEART_BEAT_INTERVAL", "LOGDIR", "IGNORE_INDEX",
    "IMAGE_TOKEN_INDEX", "DEFAULT_IMAGE_TOKEN", "DEFAULT_IMAGE_PATCH_TOKEN",
    "DEFAULT_IM_START_TOKEN", "DEFAULT_IM_END_TOKEN", "IMAGE_PLACEHOLDER", "EEG_FUSION_MODES",
]
