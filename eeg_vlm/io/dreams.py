"""DREAMS databases: text signal files and 5-s R&K hypnogram lists.

Signal file: a header line naming the channel (``[C3-A1]``), then one value per line in
µV. The sampling rate is not in the file: it comes from the caller (``sfreq``; ``eeg-vlm
convert --source-sfreq`` or a per-file table) or, for the excerpts of the DREAMS Sleep
Spindles database, from the rates its documentation states (:data:`DREAMS_RATES`). It is
never derived from the file lengths: a hypnogram shorter or longer by whole blocks would
silently give a wrong rate. The hypnogram length is checked against the rate instead:
samples past the last 5-s stage are accepted when they are fewer than one stage (real
excerpts hold 0.7 s more), with a warning; a larger difference is an error that names
both durations. Hypnogram: header ``[Hypnogram]`` then one R&K stage per 5 s: 5=W, 4=REM,
3=S1, 2=S2, 1=S3, 0=S4 (S3 and S4 -> N3); negative values (movement, unknown) -> ``None``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file
from eeg_vlm.io.record import Channel, Recording, Scoring

logger = logging.getLogger(__name__)

__all__ = ["read_dreams", "read_dreams_hypnogram", "dreams_rate", "read_rate_table", "DREAMS_CODES", "DREAMS_RATES", "DREAMS_STEP"]

#: DREAMS R&K codes -> AASM.
DREAMS_CODES: dict[int, str] = {5: "W", 4: "REM", 3: "N1", 2: "N2", 1: "N3", 0: "N3"}
#: Seconds per hypnogram value.
DREAMS_STEP = 5.0
#: Sampling rates (Hz) of the DREAMS Sleep Spindles excerpts, as the database documents them.
DREAMS_RATES: dict[str, float] = {"excerpt1": 100.0, "excerpt2": 200.0, "excerpt3": 50.0, "excerpt4": 200.0,
                                  "excerpt5": 200.0}


def dreams_rate(signal_txt: str | Path, rates: dict[str, float] | None = None) -> float | None:
    """The sampling rate of a DREAMS signal file from a table, or ``None`` when unknown.

    Parameters
    ----------
    signal_txt : str or Path
        The signal file; looked up by file name, then by stem.
    rates : dict of str to float, optional
        The caller's table (file name or stem -> Hz); :data:`DREAMS_RATES` is used when the
        file is not in it.
    """
    path = Path(signal_txt)
    for table in (rates or {}, DREAMS_RATES):
        for key in (path.name, path.stem):
            if key in table:
                return float(table[key])
    return None


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
        Sampling rate in Hz; default: the documented rate (:data:`DREAMS_RATES`). The
        hypnogram, when given, must cover the signal to within one 5-s stage.

    Returns
    -------
    Recording
        ``dataset='dreams'``, ``record_id`` and ``subject`` = the signal file stem.

    Raises
    ------
    ValueError
        If the rate is unknown (no ``sfreq``, not a documented excerpt), or the signal and
        the hypnogram differ in length by one 5-s stage or more at that rate.
    """
    path = check_file(signal_txt, "DREAMS signal file")
    name, lines = _bracket_header(path)
    try:
        values = np.array([float(v) for v in lines if v.strip()], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"file {str(path)!r}: signal values must be numbers, one per line ({exc})") from None
    if sfreq is None:
        sfreq = dreams_rate(path)
    if sfreq is None:
        raise ValueError(f"file {str(path)!r}: the sampling rate is not in DREAMS text files and {path.stem!r} is "
                         "not a documented excerpt; pass sfreq (eeg-vlm convert --source-sfreq)")
    if not (np.isfinite(sfreq) and sfreq > 0):
        raise ValueError(f"file {str(path)!r}: sfreq must be > 0 Hz, got {sfreq!r}")
    scoring = read_dreams_hypnogram(hypnogram_txt) if hypnogram_txt is not None else None
    if scoring is not None:
        _check_length(path, Path(hypnogram_txt), len(values), len(scoring.stages), float(sfreq))
    channel = Channel(name, values.astype(np.float32), float(sfreq), "uV")
    return Recording(subject=path.stem, night="", dataset="dreams", channels={name: channel},
                     scoring=scoring, source=path, record_id=path.stem,
                     meta={"hypnogram": Path(hypnogram_txt) if hypnogram_txt is not None else None})


def _check_length(path: Path, hypnogram: Path, n_values: int, n_stages: int, sfreq: float) -> None:
    """The hypnogram must cover the signal to within one 5-s stage at ``sfreq``."""
    per_stage = DREAMS_STEP * sfreq
    surplus = n_values - n_stages * per_stage  # samples past the last stage (negative: missing)
    if 0 <= surplus < per_stage:
        if surplus > 0:
            logger.warning("file %r: %d samples (%.2f s) after the last 5-s stage of %r are ignored",
                           str(path), round(surplus), surplus / sfreq, hypnogram.name)
        return
    if -per_stage < surplus < 0:
        logger.warning("file %r: the last 5-s stage of %r runs %.2f s past the end of the signal",
                       str(path), hypnogram.name, -surplus / sfreq)
        return
    hint = n_values / (n_stages * DREAMS_STEP)
    raise ValueError(
        f"file {str(path)!r}: {n_values} values at {sfreq:g} Hz last {n_values / sfreq:g} s, but "
        f"{hypnogram.name!r} scores {n_stages} x {DREAMS_STEP:g} s = {n_stages * DREAMS_STEP:g} s; check the "
        f"sampling rate (the lengths would agree at {hint:g} Hz) or the files"
    )


def read_rate_table(path: str | Path) -> dict[str, float]:
    """Read a per-file sampling-rate table: CSV ``file,sfreq`` rows or a JSON object.

    Parameters
    ----------
    path : str or Path
        ``.json``: ``{"excerpt1": 100, ...}``; otherwise CSV lines ``name,Hz`` (a first line
        ``file,sfreq`` is a header). Names are file names or stems.

    Returns
    -------
    dict of str to float
        Name -> rate in Hz.
    """
    path = check_file(path, "sampling-rate table")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"file {str(path)!r}: not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"file {str(path)!r}: expected an object of file name -> Hz, got {type(raw).__name__}")
        rows = [(str(k), v, n) for n, (k, v) in enumerate(raw.items(), 1)]
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            cells = [c.strip() for c in line.split(",")]
            if not line.strip() or (n == 1 and cells[-1].lower() in ("sfreq", "hz", "rate")):
                continue
            if len(cells) != 2:
                raise ValueError(f"file {str(path)!r}: line {n} must be 'file,sfreq', got {line[:60]!r}")
            rows.append((cells[0], cells[1], n))
    table: dict[str, float] = {}
    for name, value, n in rows:
        try:
            rate = float(value)
        except (TypeError, ValueError):
            rate = float("nan")
        if not (np.isfinite(rate) and rate > 0):
            raise ValueError(f"file {str(path)!r}: entry {n} ({name!r}): rate must be a number > 0 Hz, got {value!r}")
        table[name] = rate
    return table
