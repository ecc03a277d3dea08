"""Sleep statistics of a hypnogram: time in bed, total sleep time, efficiency, latencies, WASO.

The one implementation: ``eeg-vlm stage`` prints and saves them, and anything else that
summarises a night (reports, experiments) calls :func:`sleep_statistics`.

Definitions (AASM Scoring Manual, with the staged recording taken as lights off to lights on):
sleep onset is the start of the first epoch scored as any stage other than W, sleep latency
runs from lights off to it, and REM latency from sleep onset to the first REM epoch. One
stray sleep epoch at lights off — common in a model's hypnogram — puts sleep onset there,
so the latency to *persistent* sleep (the first of 10 minutes of uninterrupted sleep, the
convention of clinical trials) and REM latency from that onset are given beside them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["SLEEP_STAGES", "PERSISTENT_SLEEP_MIN", "SleepStatistics", "sleep_statistics", "format_statistics"]

#: The stages that count as asleep.
SLEEP_STAGES: tuple[str, ...] = ("N1", "N2", "N3", "REM")
_SLEEP = SLEEP_STAGES
#: Minutes of uninterrupted sleep that make persistent sleep.
PERSISTENT_SLEEP_MIN = 10.0


@dataclass(frozen=True)
class SleepStatistics:
    """Standard sleep statistics of one hypnogram (times in minutes).

    Attributes
    ----------
    time_in_bed : float
        All epochs (the staged recording period, taken as lights off to lights on).
    total_sleep_time : float
        Epochs of N1, N2, N3 or REM.
    sleep_efficiency : float
        ``100 * total_sleep_time / time_in_bed`` in percent (``nan`` without epochs).
    sleep_onset_latency : float or None
        AASM sleep latency: from the first epoch (lights off) to the first epoch of any
        sleep stage; ``None`` without sleep.
    waso : float
        Wake after sleep onset: epochs that are not sleep between the first and the last
        sleep epoch.
    rem_latency : float or None
        AASM REM latency: from sleep onset to the first REM epoch; ``None`` without REM.
    persistent_sleep_latency : float or None
        From the first epoch to the first of :data:`PERSISTENT_SLEEP_MIN` minutes of
        uninterrupted sleep; ``None`` when the night holds no such run.
    rem_latency_persistent : float or None
        From persistent sleep onset to the first REM epoch at or after it.
    stage_minutes : dict
        Stage -> minutes.
    stage_percent : dict
        Sleep stage -> percent of the total sleep time (``nan`` without sleep).
    """

    time_in_bed: float
    total_sleep_time: float
    sleep_efficiency: float
    sleep_onset_latency: float | None
    waso: float
    rem_latency: float | None
    persistent_sleep_latency: float | None
    rem_latency_persistent: float | None
    stage_minutes: dict[str, float]
    stage_percent: dict[str, float]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def sleep_statistics(stages: Sequence[str | None], epoch_length: float = 30.0) -> SleepStatistics:
    """Sleep statistics of consecutive epochs.

    Parameters
    ----------
    stages : sequence of (str or None)
        Stage per consecutive epoch (:data:`eeg_vlm.stages.STAGES`); ``None`` (unscored)
        counts as time in bed and as not asleep.
    epoch_length : float
        Seconds per epoch.

    Returns
    -------
    SleepStatistics
    """
    bad = [s for s in stages if s is not None and s not in STAGES]
    if bad:
        raise ValueError(f"sleep_statistics: stage {bad[0]!r} is not one of {', '.join(STAGES)}")
    per_min = epoch_length / 60.0
    n = len(stages)
    minutes = {s: per_min * sum(1 for x in stages if x == s) for s in STAGES}
    tst = sum(minutes[s] for s in _SLEEP)
    asleep = [i for i, s in enumerate(stages) if s in _SLEEP]
    sol = rem_lat = None
    waso = 0.0
    if asleep:
        first, last = asleep[0], asleep[-1]
        sol = first * per_min
        waso = per_min * sum(1 for s in stages[first:last + 1] if s not in _SLEEP)
        rem = next((i for i in range(first, n) if stages[i] == "REM"), None)
        rem_lat = None if rem is None else (rem - first) * per_min
    lps, rem_lps = _persistent(stages, per_min)
    percent = {s: (100.0 * minutes[s] / tst if tst > 0 else float("nan")) for s in _SLEEP}
    tib = n * per_min
    return SleepStatistics(
        time_in_bed=tib, total_sleep_time=tst, sleep_efficiency=100.0 * tst / tib if n else float("nan"),
        sleep_onset_latency=sol, waso=waso, rem_latency=rem_lat, persistent_sleep_latency=lps,
        rem_latency_persistent=rem_lps, stage_minutes=minutes, stage_percent=percent,
    )


def _persistent(stages: Sequence[str | None], per_min: float) -> tuple[float | None, float | None]:
    """Latency to persistent sleep and REM latency from it (minutes), or ``None``."""
    need = max(1, int(np.ceil(PERSISTENT_SLEEP_MIN / per_min - 1e-9)))
    run = 0
    for i, s in enumerate(stages):
        run = run + 1 if s in _SLEEP else 0
        if run == need:
            onset = i - need + 1
            rem = next((j for j in range(onset, len(stages)) if stages[j] == "REM"), None)
            return onset * per_min, None if rem is None else (rem - onset) * per_min
    return None, None


def format_statistics(stats: SleepStatistics, expert: SleepStatistics | None = None) -> str:
    """The statistics as text (what ``eeg-vlm stage`` prints), the expert's beside them."""
    def minutes(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1f} min"

    rows = [("time in bed", "time_in_bed", minutes), ("total sleep time", "total_sleep_time", minutes),
            ("sleep efficiency", "sleep_efficiency", lambda v: f"{v:.1f} %"),
            ("sleep latency (AASM: to the first sleep epoch)", "sleep_onset_latency", minutes),
            (f"latency to persistent sleep ({PERSISTENT_SLEEP_MIN:g} min uninterrupted)",
             "persistent_sleep_latency", minutes),
            ("REM latency (AASM: from sleep onset)", "rem_latency", minutes),
            ("REM latency from persistent sleep", "rem_latency_persistent", minutes),
            ("WASO", "waso", minutes)]
    rows += [(f"{s}", None, s) for s in STAGES]
    width = max(len(r[0]) for r in rows)
    head = f"{'':<{width}}  {'model':>22}" + (f"  {'expert':>22}" if expert is not None else "")
    lines = [head]
    for label, key, fmt in rows:
        cells = []
        for st in (stats, expert) if expert is not None else (stats,):
            if key is None:  # stage row: minutes and share of TST
                pct = st.stage_percent.get(fmt)
                cell = f"{st.stage_minutes[fmt]:.1f} min" + (f" ({pct:.1f} % TST)" if pct is not None and
                                                              np.isfinite(pct) else "")
            else:
                cell = fmt(getattr(st, key))
            cells.append(f"{cell:>22}")
        lines.append(f"{label:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
