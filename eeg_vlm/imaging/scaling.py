"""How µV become image rows: per-epoch min-max (the papers') or a fixed gain.

Min-max scaling stretches every epoch of every channel to the full band, so a 20-µV wake
epoch and a 150-µV N3 epoch fill the same height: the amplitude that defines N3 (slow
waves of 75 µV and more) and separates wake from sleep is gone from the picture. A
technician reads a PSG at a fixed gain instead; ``'fixed'`` does the same: each epoch's
channel mean is removed (a DC offset says nothing about sleep) and ``±uv_range`` µV map to
the band's edges, the same scale for every epoch and every recording. Samples beyond
``±uv_range`` are clipped, and the share of clipped samples is returned so that
``convert.json`` can record it (a large share means the range is too small for the data).
"""

from __future__ import annotations

import logging

import numpy as np

from eeg_vlm.checks import check_option

logger = logging.getLogger(__name__)

__all__ = ["SCALINGS", "DEFAULT_UV_RANGE", "scale_epochs", "check_scaling"]

#: ``--scaling`` choices.
SCALINGS: tuple[str, ...] = ("minmax", "fixed")
#: Default half-range of the fixed gain in µV: the band spans -150 .. +150 µV.
DEFAULT_UV_RANGE = 150.0


def check_scaling(scaling: str, uv_range: float | None, where: str) -> None:
    """Raise ``ValueError`` for an unknown scaling or a fixed gain without a positive range."""
    check_option("scaling", scaling, SCALINGS, where)
    if scaling == "fixed" and not (uv_range is not None and np.isfinite(uv_range) and uv_range > 0):
        raise ValueError(f"{where}: uv_range must be > 0 µV for --scaling fixed, got {uv_range!r}")


def scale_epochs(data: np.ndarray, scaling: str = "minmax", uv_range: float | None = DEFAULT_UV_RANGE
                 ) -> tuple[np.ndarray, int]:
    """Scale epochs to [-1, 1] for drawing.

    Parameters
    ----------
    data : np.ndarray, shape (..., n_times)
        Signals in µV; the last axis is time (one epoch of one channel per row).
    scaling : {'minmax', 'fixed'}
        ``'minmax'``: :func:`eeg_vlm.signals.epochs.minmax_scale`. ``'fixed'``:
        ``clip((x - mean) / uv_range, -1, 1)`` with the mean over each row.
    uv_range : float
        Half-range of the fixed gain in µV (ignored for ``'minmax'``).

    Returns
    -------
    scaled : np.ndarray, same shape, float32
    n_clipped : int
        Samples outside ``±uv_range`` (0 for ``'minmax'``).
    """
    from eeg_vlm.signals.epochs import minmax_scale

    check_scaling(scaling, uv_range, "scale_epochs")
    if scaling == "minmax":
        return minmax_scale(data), 0
    x = np.asarray(data, dtype=np.float32)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"scale_epochs: data needs a non-empty last (time) axis, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("scale_epochs: data holds NaN or infinite values")
    out = (x - x.mean(axis=-1, keepdims=True)) / np.float32(uv_range)
    n_clipped = int(np.count_nonzero(np.abs(out) > 1.0))
    np.clip(out, -1.0, 1.0, out=out)
    return out, n_clipped
