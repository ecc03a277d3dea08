"""EEG-VLM feature slot: the high-level features file and its alignment to a data file.

A features file is a float32 ``.npy`` of shape ``(N, 1, D)`` (``D = 1024`` for the paper's
modified ResNet-18). Row ``i`` belongs to sample ``i`` of the json/jsonl it was made for, in
file order. A sidecar ``<name>.ids.json`` (``{"count": N, "sample_ids": [...]}``) lists the
samples' ids so a mismatch is an error, never a silent misalignment. The array is opened
memory-mapped: a training process never holds the whole file.

Rows are looked up by a sample's position in its data file, which is what makes the slot
correct under shuffling, several GPUs, gradient accumulation and resume (the authors'
release used a global batch counter instead).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "TRAIN_FEATURES_NAME",
    "EVAL_FEATURES_NAME",
    "FeatureStore",
    "sidecar_path",
    "default_features_path",
    "write_sidecar",
]

TRAIN_FEATURES_NAME = "train_high_level_features.npy"
EVAL_FEATURES_NAME = "eval_high_level_features.npy"


def sidecar_path(features_path: str | Path) -> Path:
    """``x/train_high_level_features.npy`` -> ``x/train_high_level_features.ids.json``."""
    p = Path(features_path)
    stem = p.name[: -len(".npy")] if p.name.endswith(".npy") else p.name
    return p.with_name(stem + ".ids.json")


def default_features_path(data_path: str | Path, kind: str) -> Path:
    """The seed's default file beside a data file: ``kind`` is ``'train'`` or ``'eval'``."""
    if kind not in ("train", "eval"):
        raise ValueError(f"invalid value for the 'kind' parameter. Allowed values are 'train', 'eval', but got {kind!r} instead")
    name = TRAIN_FEATURES_NAME if kind == "train" else EVAL_FEATURES_NAME
    return Path(data_path).resolve().parent / name


def write_sidecar(features_path: str | Path, sample_ids: Sequence[str]) -> Path:
    """Write the ids sidecar for ``features_path`` (atomically) and return its path."""
    out = sidecar_path(features_path)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps({"count": len(sample_ids), "sample_ids": [str(s) for s in sample_ids]}))
    tmp.replace(out)
    return out


class FeatureStore:
    """Memory-mapped ``(N, 1, D)`` features, checked against the data file's sample ids.

    Parameters
    ----------
    path : str or Path
        The ``.npy`` file.
    sample_ids : sequence of str, optional
        The ids of the data file's samples, in file order. When given, the row count must
        equal ``len(sample_ids)`` and, if a sidecar exists, its ids must match one for one.
    data_file : str, optional
        Named in error messages.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, wrong dtype/shape, count or id mismatch; the message names both files.
    """

    def __init__(self, path: str | Path, sample_ids: Sequence[str] | None = None, data_file: str | None = None):
        self.path = Path(path)
        where = f"features file {str(self.path)!r}"
        if not self.path.is_file():
            raise FileNotFoundError(f"{where}: not found")
        try:
            self.array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{where}: not a plain .npy array ({exc})") from None
        if self.array.ndim == 2:  # (N, D) is accepted and viewed as (N, 1, D)
            self.array = self.array[:, None, :]
        if self.array.ndim != 3 or self.array.shape[1] != 1:
            raise ValueError(f"{where}: shape must be (N, 1, D), got {tuple(self.array.shape)}")
        if not np.issubdtype(self.array.dtype, np.floating):
            raise ValueError(f"{where}: dtype must be floating point, got {self.array.dtype}")
        self.sidecar_ids: list[str] | None = None
        side = sidecar_path(self.path)
        if side.is_file():
            meta = json.loads(side.read_text())
            self.sidecar_ids = [str(s) for s in meta.get("sample_ids", [])]
            if len(self.sidecar_ids) != len(self):
                raise ValueError(
                    f"{where}: {len(self)} rows but its sidecar {str(side)!r} lists {len(self.sidecar_ids)} sample ids"
                )
        self.sample_ids: list[str] | None = None if self.sidecar_ids is None else list(self.sidecar_ids)
        self._context: dict[int, np.ndarray] = {}
        if sample_ids is not None:
            self.verify(sample_ids, data_file)
            self.sample_ids = [str(s) for s in sample_ids]

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def dim(self) -> int:
        return int(self.array.shape[2])

    def verify(self, sample_ids: Sequence[str], data_file: str | None = None) -> None:
        """Raise ``ValueError`` unless the rows line up with ``sample_ids``."""
        where = f"features file {str(self.path)!r}"
        other = f"data file {data_file!r}" if data_file else "the data file"
        if len(sample_ids) != len(self):
            raise ValueError(f"{where}: {len(self)} rows, but {other} has {len(sample_ids)} samples")
        if self.sidecar_ids is None:
            logger.warning("%s has no sidecar %s; only the row count was checked", where, sidecar_path(self.path).name)
            return
        for i, (a, b) in enumerate(zip(self.sidecar_ids, sample_ids)):
            if a != str(b):
                raise ValueError(f"{where}: row {i} belongs to sample {a!r}, but {other} has {str(b)!r} at that position")

    def __getitem__(self, index: int) -> np.ndarray:
        """Row ``index`` as a float32 ``(1, D)`` array (a copy, safe to hand to torch)."""
        if not 0 <= index < len(self):
            raise IndexError(f"features file {str(self.path)!r}: row {index} out of range 0..{len(self) - 1}")
        return np.array(self.array[index], dtype=np.float32)

    def context_rows(self, index: int, k: int) -> np.ndarray:
        """Rows of sample ``index`` and its ``±k`` neighbours, float32 ``(2k + 1, D)``.

        Neighbours are the samples of the same night (record id) at epochs ``t-k .. t+k``
        in this file (:func:`ondisk.neighbours.neighbour_index`); a missing one is a row of
        zeros, never a row of another night. ``k = 0`` gives ``self[index]``.
        """
        if k == 0:
            return self[index][:1].reshape(1, -1)
        if self.sample_ids is None:
            raise ValueError(f"features file {str(self.path)!r}: eeg_context {k} needs the samples' ids (a sidecar "
                             f"or the data file's) to find each sample's neighbours")
        if k not in self._context:
            from ondisk.neighbours import neighbour_index

            self._context[k] = neighbour_index(self.sample_ids, k)
        if not 0 <= index < len(self):
            raise IndexError(f"features file {str(self.path)!r}: row {index} out of range 0..{len(self) - 1}")
        from ondisk.neighbours import gather_context

        return gather_context(self.array, self._context[k][index]).reshape(2 * k + 1, -1)  # (2k + 1, D)
