"""The five AASM sleep stages, in the class-index order used by every model here."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

__all__ = ["STAGES", "STAGE_INDEX", "parse_stage"]

#: Class index ``i`` of every classifier in this package is ``STAGES[i]``.
STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
STAGE_INDEX: dict[str, int] = {s: i for i, s in enumerate(STAGES)}


def parse_stage(value: str, where: str = "") -> int:
    """Class index of a stage name (``'W' 'N1' 'N2' 'N3' 'REM'``, case-insensitive).

    Raises ``ValueError`` naming ``where`` and the allowed names for anything else.
    """
    key = str(value).strip().upper()
    if key == "R":
        key = "REM"
    if key not in STAGE_INDEX:
        prefix = f"{where}: " if where else ""
        allowed = ", ".join(repr(s) for s in STAGES)
        raise ValueError(f"{prefix}stage {value!r} is not one of {allowed}")
    return STAGE_INDEX[key]
