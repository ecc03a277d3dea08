"""manifest.csv: one row per epoch, the single source of truth of a converted dataset.

Columns, in this order: ``sample_id,dataset,subject,night,epoch,onset_s,stage,image,split``.
``sample_id`` is ``f"{record_id}/{epoch:06d}"`` and unique; ``stage`` is an AASM stage (empty
only for epochs of unscored recordings); ``image`` is a path relative to the manifest's
folder; ``split`` is empty, ``train``/``val``/``test``, or a fold number.

Reading validates every row and names the file, line and field of the first problem;
writing is atomic (a killed job never leaves half a manifest).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from eeg_vlm.stages import STAGES
from ondisk.paths import check_relative
from ondisk.records import MANIFEST_COLUMNS, manifest_csv_text, read_manifest_rows, write_manifest_rows

logger = logging.getLogger(__name__)

__all__ = ["COLUMNS", "SPLITS", "Row", "sample_id", "read_manifest", "write_manifest", "manifest_text"]

COLUMNS: tuple[str, ...] = MANIFEST_COLUMNS
#: Named split values; a fold number ("0", "1", ...) is also valid.
SPLITS: tuple[str, ...] = ("train", "val", "test")


def sample_id(record_id: str, epoch: int) -> str:
    """The project-wide id of an epoch: ``'SC4001E0/000123'``."""
    return f"{record_id}/{int(epoch):06d}"


@dataclass
class Row:
    """One epoch of a manifest.

    Attributes
    ----------
    sample_id : str
        ``f"{record_id}/{epoch:06d}"``.
    dataset, subject, night : str
        Identity of the recording; splits group by ``subject``.
    epoch : int
        Index of the 30-s epoch counted from the scoring start.
    onset_s : float
        Epoch start in seconds from the start of the signal file.
    stage : str
        ``W N1 N2 N3 REM``, or ``""`` for an unscored recording.
    image : str
        Path of the epoch image relative to the manifest's folder (``/`` separators).
    split : str
        ``""``, ``train``, ``val``, ``test`` or a fold number.
    """

    sample_id: str
    dataset: str
    subject: str
    night: str
    epoch: int
    onset_s: float
    stage: str
    image: str
    split: str = ""

    @property
    def record_id(self) -> str:
        """The recording part of ``sample_id``."""
        return self.sample_id.rsplit("/", 1)[0]


def _is_split(value: str) -> bool:
    return value == "" or value in SPLITS or value.isdigit()


def _parse_row(values: dict[str, str], where: str) -> Row:
    def bad(field: str, problem: str) -> ValueError:
        return ValueError(f"{where}: field {field!r} {problem}")

    sid = values["sample_id"]
    if not sid or "/" not in sid:
        raise bad("sample_id", f"is {sid!r}; expected '<record_id>/<epoch:06d>'")
    try:
        epoch = int(values["epoch"])
    except ValueError:
        raise bad("epoch", f"is {values['epoch']!r}; expected an integer") from None
    if epoch < 0:
        raise bad("epoch", f"is {epoch}; expected >= 0")
    try:
        onset = float(values["onset_s"])
    except ValueError:
        raise bad("onset_s", f"is {values['onset_s']!r}; expected seconds") from None
    if not math.isfinite(onset):
        raise bad("onset_s", f"is {values['onset_s']!r}; expected a finite number of seconds")
    stage = values["stage"]
    if stage and stage not in STAGES:
        raise bad("stage", f"is {stage!r}; expected one of {', '.join(STAGES)} (or empty for unscored)")
    image = check_relative(values["image"], where, "field 'image'")
    split = values["split"]
    if not _is_split(split):
        raise bad("split", f"is {split!r}; expected empty, {', '.join(SPLITS)} or a fold number")
    return Row(sid, values["dataset"], values["subject"], values["night"], epoch, onset, stage, image, split)


def read_manifest(path: str | Path) -> list[Row]:
    """Read and validate a manifest.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file, the line and the field of the first problem: wrong header,
        missing values, a bad stage, epoch, onset, image path or split, a duplicate
        ``sample_id``.
    """
    return [_parse_row(values, f"manifest {str(path)!r}, line {line}") for line, values in read_manifest_rows(path)]


def _format(value: object) -> str:
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def manifest_text(rows: Iterable[Row]) -> str:
    """The CSV text of ``rows`` with the header (``\\n`` line ends)."""
    return manifest_csv_text([_format(getattr(row, n)) for n in COLUMNS] for row in rows)


def write_manifest(path: str | Path, rows: Iterable[Row]) -> Path:
    """Write ``rows`` to ``path`` atomically, after checking them as :func:`read_manifest` would.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    rows = list(rows)
    seen: set[str] = set()
    for i, row in enumerate(rows):
        where = f"file {str(path)!r}, row {i + 1}"
        _parse_row({n: _format(getattr(row, n)) for n in COLUMNS}, where)
        if row.sample_id in seen:
            raise ValueError(f"{where}: field 'sample_id' {row.sample_id!r} is not unique")
        seen.add(row.sample_id)
    return write_manifest_rows(path, ([_format(getattr(row, n)) for n in COLUMNS] for row in rows))
