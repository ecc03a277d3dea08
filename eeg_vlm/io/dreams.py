"""DREAMS databases: text signal files and 5-s R&K hypnogram lists.

Signal file: a header line naming the channel (``[C3-A1]``), then one value per line in
µV. The sampling rate is not in the file: pass ``sfreq``, or give the hypnogram and it
is derived from the length (values / (stages x 5 s)). Hypnogram: header ``[Hypnogram]``
then one R&K stage per 5 s: 5=W, 4=REM, 3=S1, 2=S2, 1=S3, 0=S4 (S3 and S4 -> N3);
negative values (movement, unknown) -> ``None``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from eeg_vlm.io.record import Channel, Recording, Scoring

logger = logging.getLogger(__name__)

__all__ = ["read_dreams", "read_dreams_hypnogram", "DREAMS_CODES", "DREAMS_STEP"]

#: DREAMS R&K codes -> AASM.
DREAMS_CODES: dict[int, str] = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}
#: Seconds per hypnogram value.
DREAMS_STEP = 5.0


def _bracket_header(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or not (lines[0].strip().startswith("[") and lines[0].strip().endswith("]")):
        first = lines[0][:40] if lines else ""
        raise ValueError(f"file {str(path)!r}: first line must be a header like '[C3-A1]', got {first!r}")
    return lines[0].strip()[1:-1].strip(), lines[1:]


def read_dreams_hypnogram(path: str | Path) -> Scoring:
    """Read a DREAMS ``Hypnogram_*.txt``: one 5-s segment per value, from time 0.

    Returns
    -------
    Scoring
        ``epoch_length=5``; raw labels are the codes as written (``'5'``, ``'-1'``).
    """
    path = check_file(path, "DREAMS hypnogram file")
    _, lines = _bracket_header(path)
    codes: list[int] = []
    for n, line in enumerate(lines, 2):
        text = line.strip()
        if not text:
            continue
        try:
            codes.append(int(float(text)))
        except ValueError:
            raise ValueError(f"file {str(path)!r}: line {n} is not a stage code: {text!r}") from None
    if not codes:
        raise ValueError(f"file {str(path)!r}: no stage values")
    unknown = sorted({c for c in codes if c >= 0 and c not in DREAMS_CODES})
    if unknown:
        raise ValueError(f"file {str(path)!r}: unknown stage code(s) {unknown}; expected 0-5 or negative")
    k = np.arange(len(codes), dtype=float)
    return Scoring(
        onsets=k * DREAMS_STEP,
        durations=np.full(len(codes), DREAMS_STEP),
        stages=[DREAMS_CODES.get(c) for c in codes],
        raw_labels=[str(c) for c in codes],
        epoch_length=DREAMS_STEP,
    )


def read_dreams(
    signal_txt: str | Path, hypnogram_txt: str | Path | None = None, sfreq: float | None = None
) -> Recording:
    """Read a DREAMS excerpt.

    Parameters
    ----------
    signal_txt : str or Path
        ``excerptN.txt``: ``[channel]`` header, one µV value per line.
    hypnogram_txt : str or Path, optional
        ``Hypnogram_excerptN.txt``; ``None`` gives an unscored recording.
    sfreq : float, optional
        Sampling rate in Hz. Without it the rate is derived from the hypnogram length;
        with both, they must agree.

    Returns
    -------
    Recording
        ``dataset='dreams'``, ``record_id`` and ``subject`` = the signal file stem.

    Raises
    ------
    ValueError
        If the rate cannot be known (no ``sfreq`` and no hypnogram), is not a whole number
        of samples per 5 s, or disagrees with ``sfreq``.
    """
    path = check_file(signal_txt, "DREAMS signal file")
    name, lines = _bracket_header(path)
    try:
        values = np.array([float(v) for v in lines if v.strip()], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"file {str(path)!r}: signal values must be numbers, one per line ({exc})") from None
    scoring = read_dreams_hypnogram(hypnogram_txt) if hypnogram_txt is not None else None
    if scoring is not None:
        derived = len(values) / (len(scoring.stages) * DREAMS_STEP)
        if sfreq is None:
            if abs(derived - round(derived)) > 1e-6 or round(derived) <= 0:
                raise ValueError(
                    f"file {str(path)!r}: {len(values)} values over {len(scoring.stages)} hypnogram values "
                    f"give {derived:g} Hz, not a whole rate; pass sfreq"
                )
            sfreq = float(round(derived))
        elif abs(derived - sfreq) > 0.01 * sfreq:
            raise ValueError(
                f"file {str(path)!r}: sfreq {sfreq:g} Hz disagrees with the hypnogram length "
                f"({len(values)} values / {len(scoring.stages)} x {DREAMS_STEP:g} s = {derived:g} Hz)"
            )
    if sfreq is None:
        raise ValueError(f"file {str(path)!r}: the sampling rate is not in DREAMS text files; pass sfreq "
                         "or a hypnogram to derive it")
    channel = Channel(name, values.astype(np.float32), float(sfreq), "uV")
    return Recording(subject=path.stem, night="", dataset="dreams", channels={name: channel},
                     scoring=scoring, source=path, record_id=path.stem,
                     meta={"hypnogram": Path(hypnogram_txt) if hypnogram_txt is not None else None})
