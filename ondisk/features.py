"""The features file: float32 ``(N, 1, D)`` in ``.npy``, with a sidecar of sample ids.

Row ``i`` belongs to sample ``i`` of the json/jsonl/csv it was made for, in file order. The
sidecar ``<name>.ids.json`` = ``{"count": N, "sample_ids": [...]}`` travels with it, so a
features file and a data file that disagree are an error, never a silent misalignment. The
array is opened memory-mapped (a training process never holds the whole file) and never
unpickled. Non-finite rows are refused at load, naming the file and the first bad row.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ondisk.atomic import write_text_atomic
from ondisk.neighbours import gather_context, neighbour_index
from ondisk.records import read_text

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_DIR",
    "TRAIN_FEATURES_NAME",
    "EVAL_FEATURES_NAME",
    "FEATURES_DTYPE",
    "default_features_path",
    "sibling_path",
    "sidecar_path",
    "write_ids_file",
    "write_sidecar",
    "read_sidecar",
    "non_finite_rows",
    "load_features",
    "check_alignment",
    "FeatureStore",
]

#: The seed commands' data folder.
DATA_DIR = "sleep_data"
TRAIN_FEATURES_NAME = "train_high_level_features.npy"
EVAL_FEATURES_NAME = "eval_high_level_features.npy"
FEATURES_DTYPE = np.dtype(np.float32)
_CHUNK_ROWS = 4096


def default_features_path(data_path: str | Path, kind: str) -> Path:
    """The default features file beside a data file; ``kind`` is ``'train'`` or ``'eval'``."""
    if kind not in ("train", "eval"):
        raise ValueError(f"default_features_path: invalid value for the 'kind' parameter. Allowed values are "
                         f"'train', 'eval', but got {kind!r} instead")
    name = TRAIN_FEATURES_NAME if kind == "train" else EVAL_FEATURES_NAME
    return Path(data_path).resolve().parent / name


def sibling_path(features_path: str | Path, suffix: str) -> Path:
    """``x/name.npy`` -> ``x/name<suffix>`` (the sidecar, a partial file, a progress file)."""
    p = Path(features_path)
    stem = p.name[: -len(".npy")] if p.name.endswith(".npy") else p.name
    return p.with_name(stem + suffix)


def sidecar_path(features_path: str | Path) -> Path:
    """``x/name.npy`` -> ``x/name.ids.json``."""
    return sibling_path(features_path, ".ids.json")


def write_ids_file(path: str | Path, sample_ids: Sequence[str]) -> Path:
    """Write ``{"count": N, "sample_ids": [...]}`` to ``path`` atomically; return ``path``.

    One line, ASCII, no trailing newline: the bytes every earlier writer of this format made.
    """
    ids = [str(s) for s in sample_ids]
    write_text_atomic(path, json.dumps({"count": len(ids), "sample_ids": ids}))
    return Path(path)


def write_sidecar(features_path: str | Path, sample_ids: Sequence[str]) -> Path:
    """Write the ids sidecar beside ``features_path`` (:func:`write_ids_file`); return its path."""
    return write_ids_file(sidecar_path(features_path), sample_ids)


def read_sidecar(features_path: str | Path) -> list[str] | None:
    """The sample ids listed beside ``features_path``, or ``None`` when it has no sidecar.

    Raises
    ------
    ValueError
        One line naming the sidecar: not JSON, not ``{"count", "sample_ids"}``, or a count
        that disagrees with the list.
    """
    side = sidecar_path(features_path)
    if not side.is_file():
        return None
    where = f"sidecar {str(side)!r}"
    try:
        meta = json.loads(read_text(side, "sidecar"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                         "rewrite it with `eeg-vlm extract`") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("sample_ids"), list):
        raise ValueError(f"{where}: expected an object {{\"count\": N, \"sample_ids\": [...]}}, "
                         f"got {type(meta).__name__}{' without a sample_ids list' if isinstance(meta, dict) else ''}")
    ids = [str(s) for s in meta["sample_ids"]]
    count = meta.get("count", len(ids))
    if not isinstance(count, int) or count != len(ids):
        raise ValueError(f"{where}: count {count!r} but {len(ids)} sample ids listed")
    return ids


def non_finite_rows(array: np.ndarray, rows: Sequence[int] | None = None, first_only: bool = False) -> list[int]:
    """Indices of the rows (all, or those of ``rows``) holding NaN or infinity, ascending.

    Read in blocks, so a memory-mapped file is never loaded whole.
    """
    index = np.arange(array.shape[0]) if rows is None else np.asarray(sorted(rows), dtype=np.int64)
    out: list[int] = []
    for start in range(0, len(index), _CHUNK_ROWS):
        block = index[start : start + _CHUNK_ROWS]
        values = np.asarray(array[block[0] : block[-1] + 1] if rows is None else array[block])
        bad = ~np.isfinite(values.reshape(len(block), -1)).all(axis=1)
        out.extend(int(r) for r in block[bad])
        if first_only and out:
            return out[:1]
    return out


def load_features(path: str | Path, check_finite: bool = True) -> np.ndarray:
    """Open a features file memory-mapped, after checking it is float32 ``(N, 1, D)``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Naming the file: pickled or object arrays, not a ``.npy``, wrong shape or dtype, or
        (with ``check_finite``) a row holding NaN or infinity (named by its index).
    """
    path = Path(path)
    where = f"features file {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: not found")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{where}: not a plain .npy array (pickled Python objects are refused; {exc})") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{where}: not a readable .npy file ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{where}: not a plain .npy array (an .npz archive?)")
    if array.ndim != 3 or array.shape[1] != 1:
        raise ValueError(f"{where}: shape must be (N, 1, D), got {tuple(array.shape)}")
    if array.dtype != FEATURES_DTYPE:
        raise ValueError(f"{where}: dtype must be float32, got {array.dtype}")
    if check_finite:
        bad = non_finite_rows(array, first_only=True)
        if bad:
            raise ValueError(f"{where}: row {bad[0]} holds NaN or infinite values; re-extract the features")
    return array


def check_alignment(path: str | Path, n_rows: int, sidecar_ids: Sequence[str] | None,
                    sample_ids: Sequence[str], data_file: str | None = None) -> None:
    """Raise ``ValueError`` unless ``n_rows`` rows with ``sidecar_ids`` line up with ``sample_ids``.

    Without a sidecar only the row count is checked (with a warning).
    """
    where = f"features file {str(path)!r}"
    other = f"data file {data_file!r}" if data_file else "the data file"
    if len(sample_ids) != n_rows:
        raise ValueError(f"{where}: {n_rows} rows, but {other} has {len(sample_ids)} samples")
    if sidecar_ids is None:
        logger.warning("%s has no sidecar %s; only the row count was checked", where, sidecar_path(path).name)
        return
    for i, (a, b) in enumerate(zip(sidecar_ids, sample_ids)):
        if a != str(b):
            raise ValueError(f"{where}: row {i} belongs to sample {a!r}, but {other} has {str(b)!r} at that position")


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
    check_finite : bool
        Refuse a file with a non-finite row at load (default). A caller that lists every
        bad row itself (:func:`non_finite_rows`) passes ``False``.

    Raises
    ------
    FileNotFoundError, ValueError
        See :func:`load_features`, :func:`read_sidecar` and :func:`check_alignment`.
    """

    def __init__(self, path: str | Path, sample_ids: Sequence[str] | None = None, data_file: str | None = None,
                 check_finite: bool = True):
        self.path = Path(path)
        self.array = load_features(self.path, check_finite=check_finite)
        self.sidecar_ids = read_sidecar(self.path)
        if self.sidecar_ids is not None and len(self.sidecar_ids) != len(self):
            raise ValueError(f"features file {str(self.path)!r}: {len(self)} rows but its sidecar "
                             f"{str(sidecar_path(self.path))!r} lists {len(self.sidecar_ids)} sample ids")
        #: The samples' ids in row order (the data file's when given, else the sidecar's).
        self.sample_ids: list[str] | None = None if self.sidecar_ids is None else list(self.sidecar_ids)
        self._context: dict[int, np.ndarray] = {}
        if sample_ids is not None:
            self.verify(sample_ids, data_file)
            self.sample_ids = [str(s) for s in sample_ids]

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def dim(self) -> int:
        """Feature width ``D``."""
        return int(self.array.shape[2])

    def verify(self, sample_ids: Sequence[str], data_file: str | None = None) -> None:
        """Raise ``ValueError`` unless the rows line up with ``sample_ids``."""
        check_alignment(self.path, len(self), self.sidecar_ids, sample_ids, data_file)

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
            return self[index].reshape(1, -1)
        if self.sample_ids is None:
            raise ValueError(f"features file {str(self.path)!r}: eeg_context {k} needs the samples' ids (a sidecar "
                             f"or the data file's) to find each sample's neighbours")
        if not 0 <= index < len(self):
            raise IndexError(f"features file {str(self.path)!r}: row {index} out of range 0..{len(self) - 1}")
        if k not in self._context:
            self._context[k] = neighbour_index(self.sample_ids, k)
        return gather_context(self.array, self._context[k][index]).reshape(2 * k + 1, -1)  # (2k + 1, D)
