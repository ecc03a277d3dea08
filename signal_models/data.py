"""The converted dataset as raw signal: manifest rows, their 30-s epochs, nights in order.

``eeg-vlm convert`` writes, beside ``manifest.csv`` and ``convert.json``,
``signals/<record_id>.npy``: float32 ``(n_epochs, C, T)`` in µV, one row per manifest row
of that record in the converted manifest's order, channels in ``convert.json``'s
``channels`` order at its ``sfreq``. A manifest given here may be a subset of the
converted one (a split, a balanced sample) as long as it lives in the same folder: its
rows are located in the signal files through the folder's ``manifest.csv``. Rows, splits
and stages are those of the manifest, so a signal model's predictions line up, sample id
for sample id, with an image model's on the same manifest.

Sequence models see each night (record) of a split in epoch order, cut into windows that
never cross a night; nothing of one night or split reaches another.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ondisk import CONVERT_JSON, read_convert_json, read_manifest_rows

logger = logging.getLogger(__name__)

__all__ = ["STAGES", "SignalSet", "read_rows", "load_split", "resample", "select_channels", "night_windows"]

STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")


@dataclass
class SignalSet:
    """Epochs of one split: ``x`` (N, C, T) float32, labels, ids, and their nights."""

    x: np.ndarray
    labels: np.ndarray  # (N,) int64 stage index, -1 when unscored
    sample_ids: list[str]
    records: list[str]  # record id of each row
    epochs: np.ndarray  # (N,) epoch number within its record
    subjects: list[str]
    channels: list[str]
    sfreq: float

    def __len__(self) -> int:
        return len(self.sample_ids)


def read_rows(manifest: str | Path) -> list[dict[str, str]]:
    """Rows of a ``manifest.csv`` (:func:`ondisk.read_manifest_rows`: header, ids and image paths checked)."""
    return [row for _, row in read_manifest_rows(manifest)]


def _convert_info(folder: Path) -> dict:
    path = folder / CONVERT_JSON
    info = read_convert_json(folder)
    if info is None:
        raise FileNotFoundError(f"convert settings {str(path)!r}: not found; signal models read a folder "
                                "written by 'eeg-vlm convert' (with signals)")
    if not info.get("signals", False):
        raise ValueError(f"convert settings {str(path)!r}: converted with --no-signals; convert again with signals")
    return info


def select_channels(available: Sequence[str], wanted: Sequence[str] | None, where: str) -> list[int]:
    """Indices of ``wanted`` among ``available`` (all when ``wanted`` is empty)."""
    if not wanted:
        return list(range(len(available)))
    out = []
    for name in wanted:
        if name not in available:
            close = difflib.get_close_matches(name, list(available), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: channel {name!r} not found; present: "
                             f"{', '.join(repr(a) for a in available)}{hint}")
        out.append(list(available).index(name))
    return out


def resample(x: np.ndarray, sfreq_in: float, sfreq_out: float) -> np.ndarray:
    """Fourier resampling of whole epochs along the last axis: (..., T) -> (..., T * out / in)."""
    if sfreq_in == sfreq_out:
        return x
    n_in = x.shape[-1]
    n_out = int(round(n_in * sfreq_out / sfreq_in))
    spec = np.fft.rfft(x, axis=-1)
    keep = min(spec.shape[-1], n_out // 2 + 1)
    out_spec = np.zeros(x.shape[:-1] + (n_out // 2 + 1,), dtype=spec.dtype)
    out_spec[..., :keep] = spec[..., :keep]
    return (np.fft.irfft(out_spec, n=n_out, axis=-1) * (n_out / n_in)).astype(np.float32)


def _row_index(folder: Path) -> dict[str, tuple[str, int]]:
    """sample_id -> (record id, row in its signal file), from the folder's converted manifest."""
    index: dict[str, tuple[str, int]] = {}
    counts: dict[str, int] = {}
    for line, row in enumerate(read_rows(folder / "manifest.csv"), start=2):
        rid = row["sample_id"].rsplit("/", 1)[0]
        if Path(rid).name != rid or rid in ("", ".", ".."):  # names signals/<rid>.npy: never a path
            raise ValueError(f"manifest {str(folder / 'manifest.csv')!r} line {line}: sample_id {row['sample_id']!r} "
                             "does not start with a plain record id; expected '<record_id>/<epoch:06d>'")
        index[row["sample_id"]] = (rid, counts.get(rid, 0))
        counts[rid] = counts.get(rid, 0) + 1
    return index


def load_split(manifest: str | Path, split: str, channels: Sequence[str] | None = None,
               sfreq: float | None = None) -> SignalSet:
    """Every row of ``split`` with its epoch signal, in manifest order.

    Parameters
    ----------
    manifest : path
        A manifest in a folder written by ``eeg-vlm convert``.
    split : str
        Split value of the rows to load.
    channels : sequence of str, optional
        Converted channels to keep, in this order (default: all).
    sfreq : float, optional
        Sampling rate in Hz the epochs are resampled to (default: as converted).

    Returns
    -------
    SignalSet
        ``x`` (N, C, T) µV float32.
    """
    manifest = Path(manifest)
    folder = manifest.parent
    info = _convert_info(folder)
    picks = select_channels(info["channels"], channels, f"signals of {str(folder)!r}")
    rows = [r for r in read_rows(manifest) if r["split"] == split]
    index = _row_index(folder)
    located = []
    for r in rows:
        if r["sample_id"] not in index:
            raise ValueError(f"manifest {str(manifest)!r}: sample {r['sample_id']!r} is not in "
                             f"{str(folder / 'manifest.csv')!r}, the manifest its signals were written for")
        located.append(index[r["sample_id"]])
    cache: dict[str, np.ndarray] = {}
    x = []
    for rid, pos in located:
        if rid not in cache:
            path = folder / "signals" / f"{rid}.npy"
            if not path.is_file():
                raise FileNotFoundError(f"signals {str(path)!r}: not found (record {rid!r} of {str(manifest)!r})")
            cache[rid] = np.load(path, mmap_mode="r", allow_pickle=False)
        arr = cache[rid]
        if pos >= arr.shape[0]:
            raise ValueError(f"signals {str(folder / 'signals' / (rid + '.npy'))!r}: {arr.shape[0]} epochs, but the "
                             f"manifest has more rows for record {rid!r}; the signals and the manifest disagree")
        x.append(np.asarray(arr[pos, picks], dtype=np.float32))
    data = np.stack(x) if x else np.zeros((0, len(picks), 0), np.float32)
    rate = float(info["sfreq"])
    if sfreq is not None and data.size:
        if sfreq > rate:
            logger.warning("signals of %s: converted at %g Hz, upsampled to %g Hz; nothing above %g Hz is in them "
                           "(convert with --sfreq %g to keep it)", folder, rate, sfreq, rate / 2, sfreq)
        data = resample(data, rate, float(sfreq))
    labels = np.array([STAGES.index(r["stage"]) if r["stage"] in STAGES else -1 for r in rows], dtype=np.int64)
    logger.info("split %r of %s: %d epochs, channels %s, %.0f Hz", split, manifest, len(rows),
                [info["channels"][i] for i in picks], sfreq or rate)
    return SignalSet(data, labels, [r["sample_id"] for r in rows], [rid for rid, _ in located],
                     np.array([int(r["epoch"]) for r in rows], dtype=np.int64), [r["subject"] for r in rows],
                     [info["channels"][i] for i in picks], float(sfreq or rate))


def night_windows(data: SignalSet, length: int | None) -> list[np.ndarray]:
    """Row indices of consecutive epochs, night by night, cut into windows of ``length``.

    Rows of a record are ordered by epoch; a window never spans two records. ``None``
    gives one window per night (evaluation: the whole night in order).
    """
    by_record: dict[str, list[int]] = {}
    for i, rid in enumerate(data.records):
        by_record.setdefault(rid, []).append(i)
    out = []
    for rid in sorted(by_record):
        rows = sorted(by_record[rid], key=lambda i: data.epochs[i])
        step = len(rows) if length is None else int(length)
        out += [np.array(rows[s:s + step]) for s in range(0, len(rows), step)]
    return out
