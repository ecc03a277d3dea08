"""Measured facts of one epoch in words: the phrases the criteria and the rationales share.

Numbers are formatted the same way everywhere (band power shares with two decimals,
epoch shares in whole percent), so an answer quotes exactly what was measured.
"""

from __future__ import annotations

from eeg_vlm.reasoning.detectors import EpochDescription

__all__ = ["f2", "pct", "plural", "events_text", "emg_text", "eog_text", "few_slow_waves"]


def f2(x: float) -> str:
    return f"{x:.2f}"


def pct(x: float) -> str:
    return f"{100.0 * x:.0f}%"


def plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def events_text(d: EpochDescription) -> str:
    parts = []
    if d.spindles:
        shown = "; ".join(f"{s.frequency_hz:.1f} Hz at {s.start_s:.1f} s" for s in d.spindles[:3])
        more = "; ..." if len(d.spindles) > 3 else ""
        parts.append(f"{plural(d.n_spindles, 'spindle')} ({shown}{more})")
    if d.k_complexes:
        shown = "; ".join(f"{k.ptp_uv:.0f} µV at {k.start_s:.1f} s" for k in d.k_complexes[:3])
        more = "; ..." if len(d.k_complexes) > 3 else ""
        parts.append(f"{plural(d.n_k_complexes, 'K-complex', 'K-complexes')} ({shown}{more})")
    if not parts:
        return "no spindle (12–15 Hz, 0.5–2 s) and no K-complex was detected"
    return " and ".join(parts) + " detected"


def emg_text(d: EpochDescription) -> str:
    if d.emg_rms_uv is None:
        return "chin EMG not recorded"
    if d.emg_relative is None:
        return f"chin EMG {d.emg_rms_uv:.1f} µV RMS (no night reference)"
    return f"chin EMG at {d.emg_relative:.1f}× the night's median tone"


def eog_text(d: EpochDescription) -> str:
    if d.n_eye_movements is None:
        return "no EOG channel"
    return f"{plural(d.n_eye_movements, 'rapid eye movement')} on the EOG" if d.n_eye_movements else "no rapid eye movements on the EOG"


def few_slow_waves(d: EpochDescription) -> str:
    if d.slow_wave_fraction == 0:
        return "no slow waves reach 75 µV"
    return f"slow waves of at least 75 µV cover only {pct(d.slow_wave_fraction)} of the epoch"
