"""Settings of ``eeg-vlm convert`` (:class:`ConvertConfig`, recorded in ``convert.json``) and
what a conversion returns (:class:`ConvertResult`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from eeg_vlm.checks import check_option
from eeg_vlm.config import Config, minutes_or_none
from eeg_vlm.imaging.render import DEFAULT_SIZE, PNG_COMPRESS_LEVEL, STYLES, band_rows
from eeg_vlm.imaging.scaling import DEFAULT_UV_RANGE, SCALINGS, check_scaling
from eeg_vlm.io.discover import FORMATS
from eeg_vlm.signals.labels import EPOCH_RULES
from ondisk import CONVERT_JSON  # re-exported: the convert driver's file names live here
from eeg_vlm.signals.filters import DISPLAY_FILTERS
from eeg_vlm.signals.quality import BAD_EPOCHS, NONFINITE, QualityLimits

logger = logging.getLogger(__name__)

__all__ = ["ConvertConfig", "ConvertResult", "CONFIG_KEYS", "previous_value", "MANIFEST", "CONVERT_JSON", "PARTS"]

MANIFEST = "manifest.csv"
PARTS = ".parts"
#: convert.json keys that must match for a rerun to resume instead of starting afresh.
CONFIG_KEYS = ("channels", "style", "sfreq", "epoch_length", "trim_wake_min", "fmt", "size", "line_width",
               "signals", "png_compress_level", "channel_failure", "epoch_rule", "source_sfreq", "source_rates",
               "scaling", "uv_range", "nonfinite", "flat_uv", "clip_share", "bad_epochs", "display_filter")
#: Keys of CONFIG_KEYS that an older convert.json spelled otherwise (same meaning).
_RENAMED_KEYS = {"trim_wake_min": "trim_wake"}
#: Values of keys a convert.json of an older version lacks (it was made with these).
_ABSENT_KEYS = {"epoch_rule": "unanimous", "source_sfreq": None, "source_rates": {}, "scaling": "minmax",
                "uv_range": None, "nonfinite": "error", "flat_uv": 1.0, "clip_share": 0.05, "bad_epochs": "keep",
                "display_filter": "none"}


@dataclass(frozen=True)
class ConvertConfig(Config):
    """Settings of one conversion (all of them land in ``convert.json``).

    Attributes
    ----------
    channels : tuple of str
        Channel names or aliases, in image (band) and signal order.
    style : {'eeg-vlm', 'psg-llava'}
        One channel over the whole image, or channels stacked in bands.
    sfreq : float
        Target sampling rate in Hz.
    trim_wake_min : float or None
        Minutes of wake kept before the first and after the last sleep epoch; ``0`` keeps
        no wake outside the sleep period, ``None`` keeps every epoch. The same meaning on
        the command line (``--trim-wake-min 0`` / ``--trim-wake-min none``).
    fmt : str
        Dataset format for discovery (``'auto'``, ``'sleep-edf'``, ...).
    size, line_width : int
        Image side in pixels and stroke width.
    signals : bool
        Also write ``signals/<record_id>.npy``.
    fail_channel : str or None
        Channel that fails for a share of subjects (:mod:`eeg_vlm.imaging.robustness`).
    fail_fraction : float
        Share of subjects whose channel fails.
    fail_seed : int
        Seed of the failure plan.
    epoch_rule, source_sfreq, source_rates, strict, scaling, uv_range, nonfinite, flat_uv, clip_share,
    bad_epochs, display_filter :
        See the field help (:mod:`eeg_vlm.imaging.scaling` for the scalings, :mod:`eeg_vlm.signals.quality` for
        the epoch checks).
    """

    channels: tuple[str, ...] = field(default=("Fpz-Cz",), metadata={
        "help": "channel names or aliases, in band order", "metavar": "NAME"})
    style: str = field(default="eeg-vlm", metadata={
        "help": "eeg-vlm: one channel, full height; psg-llava: channels stacked in bands", "choices": STYLES})
    sfreq: float = field(default=100.0, metadata={"help": "target sampling rate in Hz"})
    trim_wake_min: float | None = field(default=30.0, metadata={
        "help": "minutes of wake kept before the first and after the last sleep epoch; 0 keeps no wake outside "
                "the sleep period, 'none' keeps every epoch", "type": minutes_or_none, "metavar": "MINUTES"})
    fmt: str = field(default="auto", metadata={"help": "dataset format", "choices": FORMATS})
    size: int = field(default=DEFAULT_SIZE, metadata={"help": "image side in pixels"})
    line_width: int = field(default=1, metadata={"help": "stroke width in pixels"})
    signals: bool = field(default=True, metadata={
        "help": "write signals/<record_id>.npy, the epochs in µV (the flag --no-signals leaves them out)"})
    fail_channel: str | None = field(default=None, metadata={
        "help": "robustness test: this channel fails for a share of subjects (white noise or zeros)"})
    fail_fraction: float = field(default=0.7, metadata={"help": "share of subjects whose channel fails"})
    fail_seed: int = field(default=0, metadata={"help": "seed of the failure plan"})
    epoch_length: float = field(default=30.0, repr=False, metadata={"cli": False})
    epoch_rule: str = field(default="unanimous", metadata={"choices": EPOCH_RULES, "help": (
        "how finer scoring (DREAMS 5-s, MASS 20-s) makes a 30-s epoch: 'unanimous' (all parts agree) or "
        "'majority' (AASM: the stage filling most of the epoch; a tie is dropped as ambiguous)")})
    source_sfreq: float | None = field(default=None, metadata={"help": (
        "sampling rate (Hz) of recordings whose files do not store it (DREAMS text files); default: the "
        "dataset's documented rate")})
    source_rates: tuple[tuple[str, float], ...] = field(default=(), metadata={"cli": False, "help": (
        "per-file sampling rates (file name or stem, Hz) for such recordings; they win over source_sfreq")})
    strict: bool = field(default=False, metadata={"help": (
        "refuse an EDF whose data holds more records than its header says (default: read them all, warning)")})
    scaling: str = field(default="minmax", metadata={"choices": SCALINGS, "help": (
        "µV to pixels: 'minmax' stretches each epoch of each channel to its band (the papers'); 'fixed' maps "
        "±uv_range µV to the band for every epoch, clipping beyond")})
    uv_range: float = field(default=DEFAULT_UV_RANGE, metadata={"help": (
        "half-range of the fixed gain in µV: the band spans -uv_range .. +uv_range (scaling 'fixed' only)")})
    nonfinite: str = field(default="error", metadata={"choices": NONFINITE, "help": (
        "epochs with NaN/infinite samples: 'error' (names the recording and epoch), 'drop' them, or 'interpolate' "
        "the samples linearly (counted in convert.json)")})
    flat_uv: float = field(default=1.0, metadata={"help": (
        "an epoch whose peak-to-peak is below this many µV on a voltage channel is flat (dead electrode)")})
    clip_share: float = field(default=0.05, metadata={"help": (
        "an epoch with at least this share of samples at the physical min/max is clipped (saturated)")})
    bad_epochs: str = field(default="drop", metadata={"choices": BAD_EPOCHS, "help": (
        "flat and clipped epochs: 'drop' them (counted in convert.json) or 'keep' them, flagged in convert.json "
        "so that build-data writes no signal-based rationale for them")})
    display_filter: str = field(default="none", metadata={"choices": DISPLAY_FILTERS, "help": (
        "filter the drawn traces: 'aasm' (EEG/EOG 0.3-35 Hz, EMG 10-100 Hz, per epoch, zero-phase; images only, "
        "signals/*.npy stay unfiltered) or 'none' (the papers' images)")})

    def __post_init__(self) -> None:
        channels = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
        object.__setattr__(self, "channels", channels)
        if not channels:
            raise ValueError("convert: at least one channel is needed")
        if len(set(channels)) != len(channels):
            raise ValueError(f"convert: channels repeat: {', '.join(channels)}")
        check_option("style", self.style, STYLES, where="convert")
        band_rows(len(channels), int(self.size), self.style)  # one channel for 'eeg-vlm', fits in size
        if not self.sfreq > 0:
            raise ValueError(f"convert: sfreq must be > 0 Hz, got {self.sfreq!r}")
        if self.trim_wake_min is not None and not self.trim_wake_min >= 0:
            raise ValueError(f"convert: trim_wake_min must be >= 0 minutes or None (keep every epoch), "
                             f"got {self.trim_wake_min!r}")
        if int(self.line_width) < 1:
            raise ValueError(f"convert: line_width must be >= 1, got {self.line_width!r}")
        if self.fail_channel is not None and self.fail_channel not in channels:
            raise ValueError(
                f"convert: fail channel {self.fail_channel!r} is not among the converted channels "
                f"({', '.join(channels)}); a failing channel that is not drawn changes nothing"
            )
        if not 0.0 <= self.fail_fraction <= 1.0:
            raise ValueError(f"convert: fail_fraction must be between 0 and 1, got {self.fail_fraction!r}")
        check_option("epoch_rule", self.epoch_rule, EPOCH_RULES, where="convert")
        self.quality()  # checks nonfinite, flat_uv, clip_share, bad_epochs
        check_option("display_filter", self.display_filter, DISPLAY_FILTERS, where="convert")
        if self.source_sfreq is not None and not self.source_sfreq > 0:
            raise ValueError(f"convert: source_sfreq must be > 0 Hz, got {self.source_sfreq!r}")
        rates = tuple(sorted(dict(self.source_rates).items()))
        object.__setattr__(self, "source_rates", tuple((str(k), float(v)) for k, v in rates))
        bad = [k for k, v in self.source_rates if not v > 0]
        if bad:
            raise ValueError(f"convert: source rates must be > 0 Hz; not for {', '.join(bad)}")
        check_scaling(self.scaling, self.uv_range, "convert")

    def quality(self) -> QualityLimits:
        """The epoch checks (:mod:`eeg_vlm.signals.quality`) these settings ask for."""
        return QualityLimits(flat_uv=float(self.flat_uv), clip_share=float(self.clip_share), nonfinite=self.nonfinite,
                             bad_epochs=self.bad_epochs)

    def settings(self) -> dict:
        """The values compared between runs (:data:`CONFIG_KEYS`), JSON-ready."""
        failure = None
        if self.fail_channel is not None:
            failure = {"channel": self.fail_channel, "fraction": float(self.fail_fraction), "seed": int(self.fail_seed)}
        return {
            "channels": list(self.channels), "style": self.style, "sfreq": float(self.sfreq),
            "epoch_length": float(self.epoch_length),
            "trim_wake_min": None if self.trim_wake_min is None else float(self.trim_wake_min), "fmt": self.fmt,
            "size": int(self.size), "line_width": int(self.line_width), "signals": bool(self.signals),
            "png_compress_level": PNG_COMPRESS_LEVEL, "channel_failure": failure, "epoch_rule": self.epoch_rule,
            "source_sfreq": None if self.source_sfreq is None else float(self.source_sfreq),
            "source_rates": dict(self.source_rates), "scaling": self.scaling,
            "uv_range": float(self.uv_range) if self.scaling == "fixed" else None, "nonfinite": self.nonfinite,
            "flat_uv": float(self.flat_uv), "clip_share": float(self.clip_share), "bad_epochs": self.bad_epochs,
            "display_filter": self.display_filter,
        }


@dataclass
class ConvertResult:
    """What :func:`convert` produced.

    Attributes
    ----------
    manifest : Path
        ``OUT_DIR/manifest.csv``.
    n_epochs : int
        Rows in the manifest.
    records : list of str
        Record ids in the manifest, in order.
    converted : list of str
        Record ids converted by this run (the others were finished by an earlier run).
    skipped : list of dict
        ``{"record_id", "files", "error"}`` per recording skipped with ``skip_bad``.
    """

    manifest: Path
    n_epochs: int
    records: list[str]
    converted: list[str]
    skipped: list[dict]


def previous_value(old: dict, key: str):
    """A setting as an earlier ``convert.json`` recorded it (older spellings and defaults)."""
    if key in old:
        return old[key]
    if key in _RENAMED_KEYS and _RENAMED_KEYS[key] in old:
        return old[_RENAMED_KEYS[key]]
    return _ABSENT_KEYS.get(key)
