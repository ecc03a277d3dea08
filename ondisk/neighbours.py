"""Neighbouring epochs of a sample, by sample id, never across nights or files.

A sample id names its night and epoch: ``"<record_id>/<epoch:06d>"`` (e.g.
``SC4001E0/000123``). The neighbours of sample ``i`` at offset ``o`` is the sample of the
same list with the same record id and epoch ``epoch_i + o``. Only the list given is
searched, so a context never reaches into another split's file, and only the same record
id matches, so it never reaches into another night. A neighbour that is not there (the
first and last epochs of a night, an epoch dropped as unscored, an id of another form) is
padding: index ``-1``, a row of zeros when gathered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["PAD", "split_sample_id", "neighbour_index", "gather_context"]

#: Index of a padded neighbour.
PAD = -1


def split_sample_id(sample_id: str) -> tuple[str, int] | None:
    """``"SC4001E0/000123"`` -> ``("SC4001E0", 123)``; ``None`` for ids of another form."""
    head, sep, tail = str(sample_id).rpartition("/")
    if sep and head and tail.isdigit():
        return head, int(tail)
    return None


def neighbour_index(sample_ids: Sequence[str], k: int) -> np.ndarray:
    """Row indices of each sample's ``±k`` neighbours in ``sample_ids``.

    Parameters
    ----------
    sample_ids : sequence of str
        The samples of one data file, in file order.
    k : int
        Epochs on each side (``0``: the sample alone).

    Returns
    -------
    np.ndarray, shape (N, 2k + 1), int64
        Column ``k + o`` holds the row of the sample at offset ``o`` (column ``k`` is the
        sample itself), :data:`PAD` where there is none. A sample id that appears twice
        (several questions about one epoch) is found at its first row.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"neighbour_index: k must be an integer >= 0, got {k!r}")
    n = len(sample_ids)
    out = np.full((n, 2 * k + 1), PAD, dtype=np.int64)
    out[:, k] = np.arange(n)
    if k == 0 or n == 0:
        return out
    where: dict[tuple[str, int], int] = {}
    parsed = [split_sample_id(s) for s in sample_ids]
    for i, key in enumerate(parsed):
        if key is not None:
            where.setdefault(key, i)
    odd = sum(p is None for p in parsed)
    if odd:
        logger.warning("%d of %d sample ids are not '<record>/<epoch>': their neighbours are padding", odd, n)
    for i, key in enumerate(parsed):
        if key is None:
            continue
        record, epoch = key
        for o in range(-k, k + 1):
            if o:
                out[i, k + o] = where.get((record, epoch + o), PAD)
    return out


def gather_context(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The ``(2k + 1, ...)`` rows of one sample's context; padding is zeros.

    Parameters
    ----------
    rows : array-like, shape (N, ...)
        Per-sample rows (e.g. a memory-mapped ``(N, 1, D)`` features file).
    index : np.ndarray, shape (2k + 1,)
        One row of :func:`neighbour_index`.
    """
    idx = np.asarray(index, dtype=np.int64)
    first = np.asarray(rows[int(idx[len(idx) // 2])])
    out = np.zeros((len(idx), *first.shape), dtype=np.float32)
    for j, r in enumerate(idx):
        if r != PAD:
            out[j] = rows[int(r)]
    return out
