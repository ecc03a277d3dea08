"""Baseline runs (``eeg-vlm baseline`` output folders) as rows of the PSG-LLaVA Table 1 layout.

A folder holds ``baseline.json`` (Table 1 row, group, preset, strategy, tiny, the split
scored) beside the predictions CSV of that split; :func:`read_baseline` returns what the
report needs to score it and to label its row, "(tiny)" for a tiny configuration.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ondisk import join_inside

logger = logging.getLogger(__name__)

__all__ = ["BaselineRow", "read_baseline"]


@dataclass(frozen=True)
class BaselineRow:
    """A baseline folder as a report run: name, Table 1 group, predictions file, a note."""

    name: str
    group: str
    predictions: Path
    note: str


def read_baseline(folder: str | Path) -> BaselineRow:
    """Read ``folder/baseline.json``; the predictions file it names must be inside ``folder``."""
    folder = Path(folder)
    path = folder / "baseline.json"
    if not path.is_file():
        raise FileNotFoundError(f"baseline {str(folder)!r}: no baseline.json; write it with 'eeg-vlm baseline'")
    info = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in ("row", "group", "predictions", "preset", "strategy", "tiny") if k not in info]
    if missing:
        raise ValueError(f"baseline file {str(path)!r}: field(s) {', '.join(missing)} missing")
    predictions = join_inside(folder, info["predictions"], f"baseline file {str(path)!r}", "predictions path")
    tiny = " (tiny)" if info["tiny"] else ""
    changed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(info.get("overrides", {}).items()))
    note = (f"{info['row']}{tiny}: Table 3 preset '{info['preset']}'" + (f" with {changed}" if changed else "")
            + f", {info['strategy']}" + ("; tiny CPU configuration, not the published size" if info["tiny"] else ""))
    return BaselineRow(f"{info['row']}{tiny}", str(info["group"]), predictions, note)
