"""Per-stage AASM criteria as a table of named thresholds, and :func:`assess`, which weighs
one epoch's measures against them.

The thresholds apply to what :mod:`eeg_vlm.reasoning.detectors` measures on a single
30-s epoch: shares of 0.5–30 Hz power per band, detected events, the share of the epoch
covered by slow waves, rapid eye movements and chin EMG relative to the night's median
tone. Each :class:`Threshold` names its unit and the AASM rule (AASM Manual for the
Scoring of Sleep and Associated Events, v2.6, chapter IV) it stands for. ``met``
thresholds decide that a stage's criterion holds, ``partial`` ones that it partly holds,
``present``-style ones which measured facts are quoted as support.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from eeg_vlm.reasoning.detectors import EpochDescription
from eeg_vlm.reasoning.phrases import emg_text, eog_text, events_text, f2, few_slow_waves, pct, plural

logger = logging.getLogger(__name__)

__all__ = ["Threshold", "CRITERIA", "threshold", "Evidence", "assess"]

_POWER = "share of 0.5–30 Hz power"
_TONE = "x the night's median chin EMG tone"
_EPOCH = "share of the epoch"


@dataclass(frozen=True)
class Threshold:
    """One named threshold of a stage criterion.

    Attributes
    ----------
    value : float
        The threshold, in ``unit``.
    unit : str
        What the value measures.
    rule : str
        The AASM rule (or the reading of it) the threshold encodes.
    """

    value: float
    unit: str
    rule: str


#: stage -> threshold name -> Threshold. Comparisons are ``>=`` for lower bounds (names
#: ending in ``_met``, ``_partial``, ``_present``) and ``<`` for upper bounds (``_max``,
#: ``_low``, ``_absent``, ``_scarce``), as :func:`assess` spells out.
CRITERIA: dict[str, dict[str, Threshold]] = {
    "W": {
        "alpha_met": Threshold(0.20, _POWER, "W: alpha rhythm (8–13 Hz) over the occipital region for more than half the epoch"),
        "beta_met": Threshold(0.20, _POWER, "W: eyes open, low-amplitude fast (beta) activity instead of alpha"),
        "emg_met": Threshold(1.5, _TONE, "W: chin EMG of variable, usually higher amplitude than in sleep"),
        "alpha_partial": Threshold(0.10, _POWER, "W: some alpha rhythm, less than half the epoch"),
        "beta_partial": Threshold(0.10, _POWER, "W: some fast activity"),
        "emg_partial": Threshold(1.2, _TONE, "W: chin tone somewhat above the sleeping level"),
        "alpha_present": Threshold(0.08, _POWER, "W: alpha quoted as support for wake"),
        "beta_present": Threshold(0.08, _POWER, "W: fast activity quoted as support for wake"),
        "emg_present": Threshold(1.0, _TONE, "W: chin tone at or above the night's median quoted as support"),
        "movement_uv": Threshold(50.0, "µV RMS of the EEG", "W: high-amplitude movement or arousal activity (major body movement)"),
    },
    "N1": {
        "theta_met": Threshold(0.20, _POWER, "N1: low-amplitude mixed-frequency (4–7 Hz) activity replaces alpha in more than half the epoch"),
        "delta_max_met": Threshold(0.75, _POWER, "N1: the background is mixed frequency, not dominated by delta"),
        "theta_partial": Threshold(0.12, _POWER, "N1: some theta activity"),
        "delta_max_partial": Threshold(0.85, _POWER, "N1: delta not overwhelming"),
        "theta_present": Threshold(0.10, _POWER, "N1: theta quoted as support"),
        "alpha_low": Threshold(0.15, _POWER, "N1: alpha attenuated (replaced by mixed-frequency activity)"),
    },
    "N2": {
        "sigma_partial": Threshold(0.05, _POWER, "N2: sigma (12–15 Hz) activity without a detected spindle"),
        "sigma_present": Threshold(0.03, _POWER, "N2: sigma activity quoted as support"),
        "alpha_low": Threshold(0.10, _POWER, "N2: alpha low (no arousal)"),
    },
    "N3": {
        "slow_wave_met": Threshold(0.20, _EPOCH, "N3: slow waves (0.5–2 Hz, over 75 µV peak to peak) in at least 20% of the epoch"),
        "slow_wave_partial": Threshold(0.05, _EPOCH, "N3: some slow waves, below the 20% rule"),
        "delta_partial": Threshold(0.80, _POWER, "N3: delta-dominated EEG below the amplitude criterion"),
        "delta_dominant": Threshold(0.70, _POWER, "N3: delta quoted as support"),
        "alpha_absent": Threshold(0.05, _POWER, "N3: neither spindles nor alpha"),
        "large_wave_uv": Threshold(50.0, "µV peak to peak", "N3: a large slow wave quoted as support"),
    },
    "REM": {
        "emg_low": Threshold(1.0, _TONE, "REM: chin EMG low, at or below the lowest of the night (here: the median)"),
        "theta_partial": Threshold(0.15, _POWER, "REM: low-amplitude mixed-frequency EEG with low tone, without eye movements"),
        "theta_present": Threshold(0.12, _POWER, "REM: theta quoted as support"),
        "slow_wave_scarce": Threshold(0.05, _EPOCH, "REM: slow waves scarce"),
    },
}


def threshold(stage: str, name: str) -> float:
    """The value of one named threshold of :data:`CRITERIA`."""
    return CRITERIA[stage][name].value


@dataclass
class Evidence:
    """What one epoch shows about one stage.

    Attributes
    ----------
    stage : str
        The stage assessed.
    status : str
        ``'met'`` (its criterion holds), ``'partial'``, ``'absent'`` or ``'unknown'``
        (the channels needed are missing).
    criterion : str
        The AASM criterion in words, as asked in the step.
    finding : str
        What was measured, one sentence without final period.
    support : list of str
        Measured facts compatible with this stage (used to weigh when it is the label).
    short : str
        The features that point to this stage, for weighing sentences.
    shortfall : str
        How the measures fall short of the criterion (empty when met).
    gloss : str
        Why the scored stage stands when its criterion is not met as measured (empty:
        the stage's general reason).
    n_criterion : int
        How many leading ``support`` facts restate the criterion's own features (left
        out after ``short`` when the criterion is met).
    """

    stage: str
    status: str
    criterion: str
    finding: str
    support: list[str] = field(default_factory=list)
    short: str = ""
    shortfall: str = ""
    gloss: str = ""
    n_criterion: int = 0


@dataclass(frozen=True)
class _Measures:
    """The measures every stage's assessment reads."""

    delta: float
    theta: float
    alpha: float
    sigma: float
    beta: float
    n2_events: int  # spindles + K-complexes
    rems: int | None  # rapid eye movements (None: no EOG)
    emg: float | None  # chin tone over the night's median (None: no EMG or no reference)


def _measures(d: EpochDescription) -> _Measures:
    rp = d.relative_power
    return _Measures(rp["delta"], rp["theta"], rp["alpha"], rp["sigma"], rp["beta"],
                     d.n_spindles + d.n_k_complexes, d.n_eye_movements, d.emg_relative)


def _assess_w(d: EpochDescription, m: _Measures) -> Evidence:
    t = CRITERIA["W"]
    alpha, beta, emg, rems = m.alpha, m.beta, m.emg, m.rems
    finding = f"relative alpha power is {f2(alpha)} and beta {f2(beta)} of 0.5–30 Hz power; {emg_text(d)}"
    if rems:
        finding += f"; {eog_text(d)}"
    alpha_met, beta_met = alpha >= t["alpha_met"].value, beta >= t["beta_met"].value
    emg_met = emg is not None and emg >= t["emg_met"].value
    if alpha_met or beta_met or emg_met:
        status = "met"
    elif (alpha >= t["alpha_partial"].value or beta >= t["beta_partial"].value
          or (emg is not None and emg >= t["emg_partial"].value)):
        status = "partial"
    else:
        status = "absent"
    short = []
    if alpha_met:
        short.append(f"alpha {f2(alpha)}")
    if beta_met:
        short.append(f"beta {f2(beta)}")
    if emg_met:
        short.append(f"chin tone {emg:.1f}× the median")
    support = []
    if alpha >= t["alpha_present"].value:
        support.append(f"alpha is present ({f2(alpha)})")
    if beta >= t["beta_present"].value:
        support.append(f"fast activity is present (beta {f2(beta)})")
    if emg is not None and emg >= t["emg_present"].value:
        support.append(f"chin tone is at {emg:.1f}× the night's median")
    n_criterion = len(support)
    if rems:
        support.append(f"the EOG shows {plural(rems, 'eye movement')}")
    if d.amplitude_uv >= t["movement_uv"].value:
        support.append(f"the EEG carries high-amplitude, movement-like activity ({d.amplitude_uv:.0f} µV RMS)")
    if m.n2_events == 0 and d.slow_wave_fraction == 0:
        support.append("no spindles, K-complexes or slow waves are present")
    elif m.n2_events == 0:
        support.append("no spindles or K-complexes are present")
    shortfall = f"alpha ({f2(alpha)}) and beta ({f2(beta)}) stay below {f2(t['alpha_met'].value)} of the power"
    if emg is not None:
        shortfall += f" and chin tone is not raised ({emg:.1f}× the median)"
    return Evidence("W", status, "alpha rhythm, fast activity or high chin tone", finding, support, ", ".join(short),
                    shortfall, n_criterion=n_criterion)


def _assess_n1(d: EpochDescription, m: _Measures) -> Evidence:
    t = CRITERIA["N1"]
    theta, alpha, delta = m.theta, m.alpha, m.delta
    finding = (f"theta carries {f2(theta)} of the power, alpha {f2(alpha)} and delta {f2(delta)}; "
               f"the EEG amplitude is {d.amplitude_uv:.0f} µV RMS")
    if theta >= t["theta_met"].value and theta > alpha and delta < t["delta_max_met"].value:
        status = "met"
    elif theta >= t["theta_partial"].value and delta < t["delta_max_partial"].value:
        status = "partial"
    else:
        status = "absent"
    support = []
    if theta >= t["theta_present"].value:
        support.append(f"theta activity is present ({f2(theta)})")
    n_criterion = len(support)
    if alpha < t["alpha_low"].value:
        support.append(f"alpha is attenuated ({f2(alpha)})")
    if m.n2_events == 0:
        support.append("no spindles or K-complexes are present")
    if d.slow_wave_fraction < threshold("N3", "slow_wave_met"):
        support.append(few_slow_waves(d))
    return Evidence(
        "N1", status, "low-amplitude mixed-frequency (4–7 Hz) activity replacing alpha", finding, support,
        f"mixed-frequency activity with theta {f2(theta)}",
        f"theta ({f2(theta)}) does not dominate a mixed-frequency background (delta {f2(delta)}, alpha {f2(alpha)})",
        n_criterion=n_criterion,
    )


def _assess_n2(d: EpochDescription, m: _Measures) -> Evidence:
    t = CRITERIA["N2"]
    n2_events, sigma = m.n2_events, m.sigma
    n3_met = d.slow_wave_fraction >= threshold("N3", "slow_wave_met")  # AASM: N3 takes precedence over N2
    finding = events_text(d)
    finding = finding[0].upper() + finding[1:]
    if n2_events and not n3_met:
        status = "met"
    elif n2_events:
        status = "partial"
        finding += ", but slow waves exceed the N3 criterion, which takes precedence"
    elif sigma >= t["sigma_partial"].value:
        status = "partial"
        finding += f"; sigma activity carries {f2(sigma)} of the power"
    else:
        status = "absent"
    support = []
    if n2_events and n3_met:
        support.append(events_text(d).replace(" detected", "") + " are present")
    if sigma >= t["sigma_present"].value and not n2_events:
        support.append(f"sigma activity is present ({f2(sigma)})")
    n_criterion = len(support)
    if not n3_met:
        support.append(few_slow_waves(d) if d.slow_wave_fraction == 0 else f"{few_slow_waves(d)}, below the 20% of N3")
    if m.alpha < t["alpha_low"].value:
        support.append(f"alpha is low ({f2(m.alpha)})")
    if m.rems == 0:
        support.append("no rapid eye movements are seen")
    return Evidence(
        "N2", status, "sleep spindles or K-complexes", finding, support,
        events_text(d).replace(" detected", ""),
        (f"slow waves cover {pct(d.slow_wave_fraction)} of the epoch, which meets the N3 criterion"
         if n2_events else "no spindle or K-complex is detected in this epoch"),
        ("the slow-wave share is measured on one channel with a fixed filter, and the scored N2 is "
         "consistent with the spindles and K-complexes" if n2_events else ""),
        n_criterion=n_criterion,
    )


def _assess_n3(d: EpochDescription, m: _Measures) -> Evidence:
    t = CRITERIA["N3"]
    delta = m.delta
    finding = (
        f"slow waves of at least 75 µV cover {pct(d.slow_wave_fraction)} of the epoch "
        f"(largest 0.5–2 Hz wave {d.max_slow_wave_uv:.0f} µV peak to peak); delta carries {f2(delta)} of the power"
    )
    finding = finding[0].upper() + finding[1:]
    if d.slow_wave_fraction >= t["slow_wave_met"].value:
        status = "met"
    elif d.slow_wave_fraction >= t["slow_wave_partial"].value or delta >= t["delta_partial"].value:
        status = "partial"
    else:
        status = "absent"
    support = []
    if delta >= t["delta_dominant"].value:
        support.append(f"delta dominates ({f2(delta)} of the power)")
    if d.n_spindles == 0 and m.alpha < t["alpha_absent"].value:
        support.append("no spindles or alpha are present")
    elif d.n_spindles == 0:
        support.append("no spindles are present")
    if d.max_slow_wave_uv >= t["large_wave_uv"].value:
        support.append(f"the largest slow wave reaches {d.max_slow_wave_uv:.0f} µV")
    return Evidence(
        "N3", status, "slow waves (0.5–2 Hz, at least 75 µV) over at least 20% of the epoch", finding, support,
        f"slow waves over {pct(d.slow_wave_fraction)} of the epoch",
        f"slow waves reach 75 µV in only {pct(d.slow_wave_fraction)} of the epoch, below the 20% criterion",
    )


def _assess_rem(d: EpochDescription, m: _Measures) -> Evidence:
    t = CRITERIA["REM"]
    rems, emg, theta, n2_events = m.rems, m.emg, m.theta, m.n2_events
    finding = f"{eog_text(d)}; {emg_text(d)}; theta {f2(theta)}, alpha {f2(m.alpha)}"
    finding = finding[0].upper() + finding[1:]
    low_tone = emg is not None and emg <= t["emg_low"].value
    if rems is None and emg is None:
        status = "unknown"
    elif rems and (emg is None or low_tone) and n2_events == 0:
        status = "met"
    elif rems or (low_tone and n2_events == 0 and theta >= t["theta_partial"].value):
        status = "partial"
    else:
        status = "absent"
    support = []
    if rems:
        support.append(f"the EOG shows {plural(rems, 'rapid eye movement')}")
    if low_tone:
        support.append(f"chin tone is low ({emg:.1f}× the night's median)")
    n_criterion = len(support)
    if n2_events == 0:
        support.append("no spindles or K-complexes are present")
    if theta >= t["theta_present"].value:
        support.append(f"theta activity is present ({f2(theta)})")
    if d.slow_wave_fraction < t["slow_wave_scarce"].value:
        support.append("slow waves are scarce")
    if status == "unknown":
        shortfall = "eye movements and chin tone cannot be checked (no EOG or EMG channel)"
    elif not rems:
        shortfall = "no rapid eye movements are detected" if rems == 0 else "eye movements cannot be checked (no EOG channel)"
    elif emg is not None and not low_tone:
        shortfall = f"chin tone is not low ({emg:.1f}× the median)"
    else:
        shortfall = "spindles or K-complexes are present"
    return Evidence(
        "REM", status, "rapid eye movements with low chin tone and low-amplitude mixed-frequency EEG", finding,
        support, f"{plural(rems or 0, 'rapid eye movement')} with low chin tone", shortfall, n_criterion=n_criterion,
    )


_ASSESS = {"W": _assess_w, "N1": _assess_n1, "N2": _assess_n2, "N3": _assess_n3, "REM": _assess_rem}


def assess(d: EpochDescription) -> dict[str, Evidence]:
    """Weigh the measures of one epoch against each stage's criterion (:data:`CRITERIA`).

    Parameters
    ----------
    d : EpochDescription
        The epoch's measures.

    Returns
    -------
    dict of str to Evidence
        One per stage of :data:`eeg_vlm.stages.STAGES`, in that order.
    """
    m = _measures(d)
    return {stage: fn(d, m) for stage, fn in _ASSESS.items()}
