"""Sleep stages: the AASM classes and the mapping of every scoring vocabulary onto them.

R&K stages 3 and 4 merge into N3. Unscored epochs ("?"), movement time and artefacts map
to ``None``: they are dropped from training and scoring, and the caller counts them.
"""

from __future__ import annotations

import re

__all__ = ["STAGES", "STAGE_INDEX", "to_aasm", "UNSCORED"]

#: The five AASM classes, in the order used for class indices everywhere in the project.
STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
STAGE_INDEX: dict[str, int] = {s: i for i, s in enumerate(STAGES)}

#: Marker for labels that exist but carry no stage (unscored, movement, artefact).
UNSCORED = None

_ALIASES: dict[str, str | None] = {
    # AASM names and their usual spellings
    "w": "W", "wake": "W", "wakefulness": "W", "stage w": "W",
    "n1": "N1", "stage n1": "N1", "s1": "N1", "stage 1": "N1", "1": "N1",
    "n2": "N2", "stage n2": "N2", "s2": "N2", "stage 2": "N2", "2": "N2",
    "n3": "N3", "stage n3": "N3", "s3": "N3", "stage 3": "N3", "3": "N3",
    "s4": "N3", "stage 4": "N3", "4": "N3", "n4": "N3",
    "r": "REM", "rem": "REM", "stage r": "REM", "stage rem": "REM", "rem sleep": "REM",
    # Sleep-EDF EDF+ annotations
    "sleep stage w": "W", "sleep stage 1": "N1", "sleep stage 2": "N2",
    "sleep stage 3": "N3", "sleep stage 4": "N3", "sleep stage r": "REM",
    "sleep stage n1": "N1", "sleep stage n2": "N2", "sleep stage n3": "N3",
    "sleep stage ?": None, "movement time": None, "sleep stage m": None,
    # NSRR (SHHS) EventConcept names, before the '|code' suffix
    "stage 1 sleep": "N1", "stage 2 sleep": "N2", "stage 3 sleep": "N3",
    "stage 4 sleep": "N3",
    # other markers of no stage
    "?": None, "unscored": None, "unknown": None, "movement": None, "artefact": None,
    "artifact": None, "m": None, "mt": None,
}


def to_aasm(label: str) -> str | None:
    """Map one scoring label to an AASM stage.

    Parameters
    ----------
    label : str
        A stage as written by a scoring file: ``"Sleep stage 3"``, ``"Stage 2 sleep|2"``,
        ``"REM"``, ``"S4"``, ...

    Returns
    -------
    str or None
        One of :data:`STAGES`, or ``None`` for unscored/movement/artefact labels.

    Raises
    ------
    ValueError
        If the label is not a known stage name.
    """
    key = re.sub(r"\s+", " ", str(label).strip().lower())
    key = key.split("|", 1)[0].strip()  # NSRR 'Stage 2 sleep|2'
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(
        f"unknown sleep stage label {label!r}; expected an AASM or R&K stage "
        f"(W, N1, N2, N3, REM, Sleep stage 1..4/R/?, Movement time, ...)"
    )
