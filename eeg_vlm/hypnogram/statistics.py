"""Sleep statistics of a hypnogram: time in bed, total sleep time, efficiency, latencies, WASO.

The one implementation: ``eeg-vlm stage`` prints and saves them, and anything else that
summarises a night (reports, experiments) calls :func:`sleep_statistics`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["SLEEP_STAGES", "SleepStatistics", "sleep_statistics", "format_statistics"]

#: The stages that count as asleep.
SLEEP_STAGES: tuple[str, ...] = ("N1", "N2", "N3", "REM")
_SLEEP = SLEEP_STAGES


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
        From the first epoch to the first sleep epoch; ``None`` without sleep.
    waso : float
        Wake after sleep onset: epochs that are not sleep between the first and the last
        sleep epoch.
    rem_latency : float or None
        From sleep onset to the first REM epoch; ``None`` without REM.
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
    percent = {s: (100.0 * minutes[s] / tst if tst > 0 else float("nan")) for s in _SLEEP}
    tib = n * per_min
    return SleepStatistics(
        time_in_bed=tib, total_sleep_time=tst, sleep_efficiency=100.0 * tst / tib if n else float("nan"),
        sleep_onset_latency=sol, waso=waso, rem_latency=rem_lat, stage_minutes=minutes, stage_percent=percent,
    )


def format_statistics(stats: SleepStatistics) -> str:
    """The statistics as a few lines of text (what the command prints)."""
    def minutes(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1f} min"

    lines = [f"time in bed {minutes(stats.time_in_bed)}, total sleep time {minutes(stats.total_sleep_time)}, "
             f"sleep efficiency {stats.sleep_efficiency:.1f} %",
             f"sleep onset latency {minutes(stats.sleep_onset_latency)}, WASO {minutes(stats.waso)}, "
             f"REM latency {minutes(stats.rem_latency)}"]
    parts = []
    for s in STAGES:
        pct = stats.stage_percent.get(s)
        parts.append(f"{s} {stats.stage_minutes[s]:.1f} min" + (f" ({pct:.1f} % of TST)" if pct is not None and
                                                                 np.isfinite(pct) else ""))
    lines.append("; ".join(parts))
    return "\n".join(lines)
