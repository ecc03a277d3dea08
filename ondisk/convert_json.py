"""``convert.json``: the settings ``eeg-vlm convert`` records beside its ``manifest.csv``.

Written by :mod:`eeg_vlm.imaging.convert`; read here, once, by everything that needs the
images' channels, rate or drawing settings (CoT data, the vision module's checkpoint
metadata, explanation bands, the YASA baseline, signal models).
"""

from __future__ import annotations

import json
from pathlib import Path

from ondisk.records import read_text

__all__ = ["CONVERT_JSON", "read_convert_json"]

CONVERT_JSON = "convert.json"


def read_convert_json(folder: str | Path) -> dict | None:
    """The JSON object in ``folder/convert.json``; ``None`` when there is none.

    A file that is binary, not JSON or not an object is a one-line ``ValueError`` naming it.
    """
    path = Path(folder) / CONVERT_JSON
    if not path.is_file():
        return None
    try:
        meta = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"file {str(path)!r}: not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"file {str(path)!r}: expected a JSON object")
    return meta
