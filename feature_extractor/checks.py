"""Option checks with the project's one wording (feature_extractor does not import eeg_vlm).

``check_option`` raises ``ValueError("... invalid value for the 'p' parameter. Allowed
values are 'a', 'b', but got 'c' instead")``, as ``eeg_vlm.checks.check_option`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["check_option"]


def check_option(name: str, value: Any, allowed: Iterable[Any], where: str = "") -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``; return ``value``.

    >>> check_option("amp", "bf16", ("auto", "bf16", "none"))
    'bf16'
    """
    allowed = list(allowed)
    if value in allowed:
        return value
    prefix = f"{where}: " if where else ""
    listed = ", ".join(repr(a) for a in allowed)
    raise ValueError(f"{prefix}invalid value for the {name!r} parameter. Allowed values are {listed}, "
                     f"but got {value!r} instead")
