"""What ``eeg-vlm stage`` reads before any model runs: the image settings the vision model
was trained with, the night's signal cut to the staged span, and the expert's stage per
epoch when a hypnogram is given.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.imaging.render import DEFAULT_SIZE, STYLES
from eeg_vlm.imaging.scaling import DEFAULT_UV_RANGE, check_scaling

logger = logging.getLogger(__name__)

__all__ = ["RenderSettings", "render_settings", "read_night", "truth_for_epochs"]

_DEFAULTS = {"channels": ("Fpz-Cz",), "style": "eeg-vlm", "sfreq": 100.0, "size": DEFAULT_SIZE, "line_width": 1,
             "scaling": "minmax", "uv_range": None, "display_filter": "none"}

@dataclass(frozen=True)
class RenderSettings:
    """How epochs are drawn (must match the images the vision model was trained on).

    Attributes
    ----------
    channels : tuple of str
        Channel names or aliases, in band order.
    style : str
        ``'eeg-vlm'`` or ``'psg-llava'``.
    sfreq : float
        Sampling rate of the drawn signal in Hz.
    size, line_width : int
        Image side and stroke width in pixels.
    scaling : str
        ``'minmax'`` or ``'fixed'`` (:mod:`eeg_vlm.imaging.scaling`).
    uv_range : float or None
        Half-range of the fixed gain in µV (``None`` with min-max).
    display_filter : str
        ``'none'`` or ``'aasm'`` (:mod:`eeg_vlm.signals.filters`), as recorded.
    source : str
        Where the values come from: a ``convert.json`` path, or ``'flags'``.
    """

    channels: tuple[str, ...]
    style: str
    sfreq: float
    size: int
    line_width: int
    scaling: str = "minmax"
    uv_range: float | None = None
    display_filter: str = "none"
    source: str = "flags"


#: The image flags of ``eeg-vlm stage``, for the message to owners of old checkpoints.
_FLAGS = "--channels, --style, --sfreq, --size, --line-width (and --scaling/--uv-range for fixed-gain images)"


def _recorded(vision_meta: dict, vision_model: Path) -> dict | None:
    """The image settings the checkpoint's ``config.json`` records (``image_settings``), parsed."""
    meta = vision_meta.get("image_settings")
    if meta is None:
        return None
    where = f"vision model {str(vision_model)!r}: config.json 'image_settings'"
    try:
        return {"channels": tuple(meta["channels"]), "style": str(meta["style"]), "sfreq": float(meta["sfreq"]),
                "size": int(meta["size"]), "line_width": int(meta.get("line_width", 1)),
                "scaling": str(meta.get("scaling", "minmax")),
                "uv_range": None if meta.get("uv_range") is None else float(meta["uv_range"]),
                "display_filter": str(meta.get("display_filter", "none"))}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: unreadable ({exc!r}); expected channels, style, sfreq, size") from None


def render_settings(vision_meta: dict, vision_model: str | Path, channels: Sequence[str] | None = None,
                    style: str | None = None, sfreq: float | None = None, size: int | None = None,
                    line_width: int | None = None, scaling: str | None = None,
                    uv_range: float | None = None) -> RenderSettings:
    """Image settings: the training images', as the checkpoint records them, else flags.

    ``feature_extractor.train`` copies them from the training dataset's ``convert.json``
    into the checkpoint's ``config.json`` (``image_settings``). A checkpoint without them
    (trained before they were recorded, or from a labels CSV) needs the settings as flags;
    with no image flag at all it is an error that says which to pass.

    Parameters
    ----------
    vision_meta : dict
        The vision checkpoint's ``config.json``.
    vision_model : path
        The checkpoint folder (named in messages).
    channels, style, sfreq, size, line_width, scaling, uv_range : optional
        Values given on the command line (``None``: not given). A model trained before
        scaling was recorded was trained on min-max images.

    Raises
    ------
    ValueError
        A given value contradicts the recorded one (the model would see other pictures
        than it learned from), e.g. ``scaling='fixed'`` for a model trained on min-max images.
    """
    given = {"channels": tuple(channels) if channels else None, "style": style,
             "sfreq": None if sfreq is None else float(sfreq), "size": size, "line_width": line_width,
             "scaling": scaling, "uv_range": None if uv_range is None else float(uv_range), "display_filter": None}
    if scaling == "fixed" and uv_range is None:
        given["uv_range"] = DEFAULT_UV_RANGE
    if scaling == "minmax" and uv_range is not None:
        raise ValueError(f"stage: --uv-range {uv_range:g} needs --scaling fixed")
    recorded = _recorded(vision_meta, Path(vision_model)) or {}
    path = Path(vision_model) / "config.json" if recorded else None
    if not recorded and all(v is None for k, v in given.items() if k != "display_filter"):
        raise ValueError(f"vision model {str(vision_model)!r}: its config.json records no image settings (a "
                         f"checkpoint trained before they were recorded, or from a labels CSV); pass the settings "
                         f"its training images were made with: {_FLAGS} (see the training dataset's convert.json)")
    if recorded:
        if given["uv_range"] is not None and given["scaling"] is None:
            given["scaling"] = "fixed"
        def show(v) -> str:
            return (" ".join(v) if isinstance(v, tuple) else f"{v:g}" if isinstance(v, float) else
                    "none" if v is None else str(v))

        clash = [f"--{k.replace('_', '-')} {show(given[k])} (trained on {show(recorded[k])})"
                 for k in recorded if given[k] is not None and given[k] != recorded[k]]
        if clash:
            raise ValueError(f"vision model {str(vision_model)!r}: was trained on images made with other settings "
                             f"({str(path)!r}): {'; '.join(clash)}; leave these flags out to use the recorded ones")
    values = {k: recorded.get(k, given[k] if given[k] is not None else _DEFAULTS[k]) for k in _DEFAULTS}
    if values["style"] not in STYLES:
        raise ValueError(f"stage: style {values['style']!r} is not one of {', '.join(STYLES)}")
    check_scaling(values["scaling"], values["uv_range"], "stage")
    return RenderSettings(source=str(path) if path is not None else "flags", **values)


def _read_any(path: Path, channels: list[str], source_sfreq: float | None):
    """EDF/BDF directly; any other format the readers know through its folder's discovery."""
    from eeg_vlm.io import find_recordings, read_edf

    if path.suffix.lower() in (".edf", ".bdf"):
        return read_edf(path, channels=channels)
    try:
        sources = [s for s in find_recordings(path.parent) if s.paths[0].resolve() == path.resolve()]
    except ValueError as exc:
        raise ValueError(f"file {str(path)!r}: not readable as a recording ({exc})") from None
    if not sources:
        raise ValueError(f"file {str(path)!r}: not a recording the readers know (EDF/BDF, ISRUC .rec, DREAMS "
                         f"excerpt .txt beside its Hypnogram_ file, SHHS/MASS pairs)")
    return sources[0].load(channels=channels, source_sfreq=source_sfreq)


def read_night(edf: Path, channels: Sequence[str], start: float, duration: float | None,
               input_channels: Sequence[str] | None = None, source_sfreq: float | None = None):
    """The recording with only ``channels``, no scoring, cut to ``[start, start + duration)``.

    Parameters
    ----------
    edf : path
        Any signal file the readers know (EDF/EDF+/BDF, ISRUC ``.rec``, a DREAMS excerpt, ...).
    channels : sequence of str
        The channels the model was trained on, in band order.
    input_channels : sequence of str, optional
        The recording's channels drawn in their place (same count and order), e.g.
        ``C3-A1`` for a model trained on ``Fpz-Cz``; they are renamed to ``channels``.
    source_sfreq : float, optional
        Sampling rate of formats that do not store it (DREAMS text files).
    """
    from eeg_vlm.io import Channel

    if input_channels and len(input_channels) != len(channels):
        raise ValueError(f"file {str(edf)!r}: {len(input_channels)} --input-channels for the {len(channels)} "
                         f"channels the model was trained on ({', '.join(channels)})")
    wanted = list(input_channels or channels)
    rec = _read_any(Path(edf), wanted, source_sfreq)
    if input_channels:
        picked = {new: rec.resolve_channel(old) for old, new in zip(input_channels, channels)}
        rec = dataclasses.replace(rec, channels={new: Channel(new, rec.channels[name].data, rec.channels[name].sfreq,
                                                              rec.channels[name].unit)
                                                 for new, name in picked.items()})
    if start < 0 or (duration is not None and duration <= 0):
        raise ValueError(f"file {str(edf)!r}: --start must be >= 0 and --duration > 0 s, got {start} and {duration}")
    cut = {}
    for name, ch in rec.channels.items():
        a = int(round(start * ch.sfreq))
        b = None if duration is None else a + int(round(duration * ch.sfreq))
        if a >= len(ch.data):
            raise ValueError(f"file {str(edf)!r}: --start {start:g} s is past the end of channel {name!r} "
                             f"({ch.duration:.0f} s)")
        cut[name] = Channel(ch.name, ch.data[a:b], ch.sfreq, ch.unit)
    return dataclasses.replace(rec, channels=cut, scoring=None)


def truth_for_epochs(hypnogram: str | Path, onset_s: np.ndarray, reference_start=None,
                     epoch_length: float = 30.0) -> list[str | None]:
    """The expert stage of each epoch (the scored epoch holding its midpoint), ``None`` if unscored.

    Parameters
    ----------
    hypnogram : path
        EDF+ hypnogram (Sleep-EDF ``*-Hypnogram.edf`` or a file from this command).
    onset_s : np.ndarray
        Epoch onsets in seconds from the signal file start.
    reference_start : datetime, optional
        Signal file start; hypnograms starting at another time are shifted.
    """
    from eeg_vlm.signals.epochs import label_epochs
    from eeg_vlm.io import read_edf_scoring

    grid = label_epochs(read_edf_scoring(hypnogram, reference_start=reference_start), epoch_length)
    mid = np.asarray(onset_s, dtype=float) + epoch_length / 2
    idx = np.searchsorted(grid.onset_s, mid, side="right") - 1
    out: list[str | None] = []
    for m, i in zip(mid, idx):
        inside = i >= 0 and m < grid.onset_s[i] + epoch_length
        out.append(grid.stages[i] if inside else None)
    return out
