"""Settings of ``eeg-vlm stage`` (:class:`StageConfig`): the models, the image settings for
checkpoints that record none, the span of the night, LLaVA label scoring and night context.

The command line is built from the fields (:meth:`eeg_vlm.config.Config.add_arguments`) and
the resolved settings are saved in the night's ``summary.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from eeg_vlm.checks import check_option
from eeg_vlm.config import Config
from eeg_vlm.imaging.render import DEFAULT_SIZE, STYLES
from eeg_vlm.imaging.scaling import DEFAULT_UV_RANGE, SCALINGS

logger = logging.getLogger(__name__)

__all__ = ["STAGE_CONTEXTS", "StageConfig"]

STAGE_CONTEXTS: tuple[str, ...] = ("none", "hmm", "neighbours", "neighbours+hmm")
_COT_VARIANTS = ("none", "single", "stagewise")  # eeg_vlm.reasoning.cot.COT_VARIANTS (scipy-free import here)


@dataclass(frozen=True)
class StageConfig(Config):
    """How one night is staged (see :func:`eeg_vlm.apps.staging.stage_night`)."""

    vision_model: str = field(metadata={
        "help": "feature_extractor checkpoint (folder with model.safetensors + config.json, or a training output "
                "folder: its best/ is used)"})
    llava: str | None = field(default=None, metadata={
        "help": "LLaVA checkpoint: stage by label scoring on the vision features"})
    llava_base: str | None = field(default=None, metadata={
        "help": "base model a LoRA --llava checkpoint was trained from"})
    hypnogram: str | None = field(default=None, metadata={
        "help": "expert EDF+ hypnogram: also score accuracy and kappa against it"})
    channels: tuple[str, ...] | None = field(default=None, metadata={
        "help": "image settings of a checkpoint that records none: channel names or aliases, in band order "
                "(Fpz-Cz)", "metavar": "NAME"})
    style: str | None = field(default=None, metadata={"help": "eeg-vlm or psg-llava (eeg-vlm)", "choices": STYLES})
    sfreq: float | None = field(default=None, metadata={"help": "sampling rate of the drawn signal in Hz (100)"})
    size: int | None = field(default=None, metadata={"help": f"image side in pixels ({DEFAULT_SIZE})"})
    line_width: int | None = field(default=None, metadata={"help": "stroke width in pixels (1)"})
    scaling: str | None = field(default=None, metadata={
        "help": "µV to pixels: minmax per epoch (the papers') or fixed gain (minmax)", "choices": SCALINGS})
    uv_range: float | None = field(default=None, metadata={
        "help": f"fixed gain: ±this many µV fill the image ({DEFAULT_UV_RANGE:g})"})
    input_channels: tuple[str, ...] | None = field(default=None, metadata={
        "help": "the recording's channels drawn in place of the trained ones, same order (e.g. C3-A1 for a model "
                "trained on Fpz-Cz)", "metavar": "NAME"})
    source_sfreq: float | None = field(default=None, metadata={
        "help": "sampling rate in Hz of files that do not store it (DREAMS text excerpts)"})
    start: float = field(default=0.0, metadata={"help": "seconds from the file start where staging begins"})
    duration: float | None = field(default=None, metadata={
        "help": "seconds to stage; none: to the end of the file"})
    batch_size: int = field(default=32, metadata={"help": "images or questions per forward pass"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda' or 'cuda:N'"})
    cot: str = field(default="none", metadata={
        "help": "LLaVA label scoring: the question variant the LLaVA checkpoint was trained with",
        "choices": _COT_VARIANTS})
    score_template: str = field(default="Sleep stage: {label}", metadata={
        "help": "LLaVA label scoring: the answer text scored per stage"})
    conv_mode: str = field(default="llava_v1", metadata={"help": "LLaVA label scoring: the chat template"})
    context: str = field(default="none", metadata={
        "help": "none: each epoch's most probable stage; hmm: Viterbi path through stage-transition probabilities "
                "of expert hypnograms; neighbours: the ±k head on each epoch's neighbours; neighbours+hmm: both",
        "choices": STAGE_CONTEXTS})
    neighbour_head: str | None = field(default=None, metadata={
        "help": "±k head JSON for --context neighbours (fit with eeg-vlm neighbour-head)"})
    transitions: str | None = field(default=None, metadata={
        "help": "transitions file for --context hmm (none: the shipped Sleep-EDF-197 matrix; build one with "
                "eeg-vlm transitions)"})
    explain: bool = field(default=False, metadata={
        "help": "also write feature-ablation heatmaps of every epoch into OUT/explain (eeg-vlm explain)"})

    def __post_init__(self) -> None:
        for name in ("channels", "input_channels"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        for name in ("vision_model", "llava", "llava_base", "hypnogram", "neighbour_head", "transitions"):
            value = getattr(self, name)
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
        if int(self.batch_size) < 1:
            raise ValueError(f"stage: batch_size must be >= 1, got {self.batch_size!r}")
        if self.start < 0 or (self.duration is not None and self.duration <= 0):
            raise ValueError(f"stage: --start must be >= 0 and --duration > 0 s, got {self.start} and {self.duration}")
        check_option("context", self.context, STAGE_CONTEXTS, "stage")
        check_option("cot", self.cot, _COT_VARIANTS, "stage")
        if self.llava_base and not self.llava:
            raise ValueError("stage: --llava-base needs --llava")
        if self.context.startswith("neighbours") and self.neighbour_head is None:
            raise ValueError(f"stage: --context {self.context} needs --neighbour-head (fit one with eeg-vlm "
                             f"neighbour-head)")
