"""Chain-of-thought answers reasoned from each epoch's own signal against AASM criteria.

Every training answer ends with one parseable final line, :data:`FINAL_LINE`
(``"Sleep stage: N2"``), and its conclusion is always the expert's label. The reasoning
reports what was measured on the epoch (:mod:`eeg_vlm.reasoning.detectors`), including evidence that
points to another stage; such evidence is always weighed in a sentence that starts with
:data:`WEIGHING`, so an answer never argues for one stage and concludes another.

Variants (the paper's ablation):

- ``'none'``: the final line only;
- ``'single'``: one paragraph of evidence, then the final line (single-prompt CoT);
- ``'stagewise'`` (default): one step per candidate stage, W, N1, N2, N3, REM, each with
  its criterion, the measured evidence and a verdict, then a conclusion and the final line.

Wording is deterministic: the phrasing variety is drawn from a generator seeded by the
sample's key, so the same inputs always give the same text.
"""

from __future__ import annotations

import logging
import random
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ondisk.records import read_jsonl
from eeg_vlm.checks import check_file, check_option
from eeg_vlm.reasoning.detectors import EpochDescription, channel_role
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = [
    "COT_VARIANTS",
    "FINAL_LINE",
    "FINAL_LINE_RE",
    "WEIGHING",
    "QUESTION",
    "INSTRUCTIONS",
    "Evidence",
    "final_line",
    "parse_final_line",
    "question",
    "assess",
    "rationale",
    "check_rationale",
    "load_rationales",
]

COT_VARIANTS: tuple[str, ...] = ("none", "single", "stagewise")

#: The last line of every answer; ``FINAL_LINE.format(stage="N2")`` -> ``"Sleep stage: N2"``.
FINAL_LINE = "Sleep stage: {stage}"
#: Matches a final line exactly (one stage of :data:`eeg_vlm.stages.STAGES`).
FINAL_LINE_RE = re.compile(r"^Sleep stage: (W|N1|N2|N3|REM)$")
#: Opens every sentence that weighs evidence pointing away from the scored stage.
WEIGHING = "Weighing:"

#: The question; ``{signal}`` is "EEG" or "PSG", ``{channels}`` the channel names.
QUESTION = (
    "This is a 30-second {signal} epoch ({channels}) drawn as a waveform image. "
    "Which sleep stage (W, N1, N2, N3, REM) does it show? {instruction}"
)
#: The reasoning instruction per variant.
INSTRUCTIONS: dict[str, str] = {
    "none": "Answer with one line: 'Sleep stage: <stage>'.",
    "single": "Describe the evidence in one paragraph, then answer on a last line 'Sleep stage: <stage>'.",
    "stagewise": (
        "Check the stages one by one (W, N1, N2, N3, REM) against the AASM criteria, "
        "then answer on a last line 'Sleep stage: <stage>'."
    ),
}

# criteria (fractions of 0.5-30 Hz power, shares of the epoch, ratios to the night's tone)
_ALPHA_W, _BETA_W, _EMG_W = 0.20, 0.20, 1.5
_THETA_N1 = 0.20
_SW_N3 = 0.20
_EMG_REM = 1.0


def final_line(stage: str) -> str:
    """The final line for ``stage`` (``'Sleep stage: N2'``)."""
    check_option("stage", stage, STAGES, where="final_line")
    return FINAL_LINE.format(stage=stage)


def parse_final_line(text: str) -> str | None:
    """The stage named by the last non-empty line of ``text``, or ``None``."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    if not lines:
        return None
    m = FINAL_LINE_RE.match(lines[-1])
    return m.group(1) if m else None


def question(variant: str, channels: Sequence[str]) -> str:
    """The question asked for one epoch (without ``<image>`` tags).

    Parameters
    ----------
    variant : str
        One of :data:`COT_VARIANTS`; sets the reasoning instruction.
    channels : sequence of str
        The channels drawn in the image, in order. Empty: "EEG".
    """
    check_option("cot", variant, COT_VARIANTS, where="question")
    names = [str(c) for c in channels] or ["EEG"]
    signal_kind = "EEG" if all(channel_role(c) == "eeg" for c in names) and len(names) <= 2 else "PSG"
    return QUESTION.format(signal=signal_kind, channels=", ".join(names), instruction=INSTRUCTIONS[variant])


# ----------------------------------------------------------------------------- evidence


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


def _f2(x: float) -> str:
    return f"{x:.2f}"


def _pct(x: float) -> str:
    return f"{100.0 * x:.0f}%"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _events_text(d: EpochDescription) -> str:
    parts = []
    if d.spindles:
        shown = "; ".join(f"{s.frequency_hz:.1f} Hz at {s.start_s:.1f} s" for s in d.spindles[:3])
        more = "; ..." if len(d.spindles) > 3 else ""
        parts.append(f"{_plural(d.n_spindles, 'spindle')} ({shown}{more})")
    if d.k_complexes:
        shown = "; ".join(f"{k.ptp_uv:.0f} µV at {k.start_s:.1f} s" for k in d.k_complexes[:3])
        more = "; ..." if len(d.k_complexes) > 3 else ""
        parts.append(f"{_plural(d.n_k_complexes, 'K-complex', 'K-complexes')} ({shown}{more})")
    if not parts:
        return "no spindle (12–15 Hz, 0.5–2 s) and no K-complex was detected"
    return " and ".join(parts) + " detected"


def _emg_text(d: EpochDescription) -> str:
    if d.emg_rms_uv is None:
        return "chin EMG not recorded"
    if d.emg_relative is None:
        return f"chin EMG {d.emg_rms_uv:.1f} µV RMS (no night reference)"
    return f"chin EMG at {d.emg_relative:.1f}× the night's median tone"


def _eog_text(d: EpochDescription) -> str:
    if d.n_eye_movements is None:
        return "no EOG channel"
    return f"{_plural(d.n_eye_movements, 'rapid eye movement')} on the EOG" if d.n_eye_movements else "no rapid eye movements on the EOG"


def _few_slow_waves(d: EpochDescription) -> str:
    if d.slow_wave_fraction == 0:
        return "no slow waves reach 75 µV"
    return f"slow waves of at least 75 µV cover only {_pct(d.slow_wave_fraction)} of the epoch"


def assess(d: EpochDescription) -> dict[str, Evidence]:
    """Weigh the measures of one epoch against each stage's criterion.

    Parameters
    ----------
    d : EpochDescription
        The epoch's measures.

    Returns
    -------
    dict of str to Evidence
        One per stage of :data:`eeg_vlm.stages.STAGES`, in that order.
    """
    rp = d.relative_power
    delta, theta, alpha, sigma, beta = (rp["delta"], rp["theta"], rp["alpha"], rp["sigma"], rp["beta"])
    n2_events = d.n_spindles + d.n_k_complexes
    rems = d.n_eye_movements
    emg = d.emg_relative
    out: dict[str, Evidence] = {}

    # W -----------------------------------------------------------------------------
    finding = f"relative alpha power is {_f2(alpha)} and beta {_f2(beta)} of 0.5–30 Hz power; {_emg_text(d)}"
    if rems:
        finding += f"; {_eog_text(d)}"
    if alpha >= _ALPHA_W or beta >= _BETA_W or (emg is not None and emg >= _EMG_W):
        status = "met"
    elif alpha >= 0.10 or beta >= 0.10 or (emg is not None and emg >= 1.2):
        status = "partial"
    else:
        status = "absent"
    short = []
    if alpha >= _ALPHA_W:
        short.append(f"alpha {_f2(alpha)}")
    if beta >= _BETA_W:
        short.append(f"beta {_f2(beta)}")
    if emg is not None and emg >= _EMG_W:
        short.append(f"chin tone {emg:.1f}× the median")
    support = []
    if alpha >= 0.08:
        support.append(f"alpha is present ({_f2(alpha)})")
    if beta >= 0.08:
        support.append(f"fast activity is present (beta {_f2(beta)})")
    if emg is not None and emg >= 1.0:
        support.append(f"chin tone is at {emg:.1f}× the night's median")
    n_criterion = len(support)
    if rems:
        support.append(f"the EOG shows {_plural(rems, 'eye movement')}")
    if d.amplitude_uv >= 50.0:
        support.append(f"the EEG carries high-amplitude, movement-like activity ({d.amplitude_uv:.0f} µV RMS)")
    if n2_events == 0 and d.slow_wave_fraction == 0:
        support.append("no spindles, K-complexes or slow waves are present")
    elif n2_events == 0:
        support.append("no spindles or K-complexes are present")
    shortfall = f"alpha ({_f2(alpha)}) and beta ({_f2(beta)}) stay below {_f2(_ALPHA_W)} of the power"
    if emg is not None:
        shortfall += f" and chin tone is not raised ({emg:.1f}× the median)"
    out["W"] = Evidence(
        "W", status, "alpha rhythm, fast activity or high chin tone", finding, support, ", ".join(short), shortfall,
        n_criterion=n_criterion,
    )

    # N1 ----------------------------------------------------------------------------
    finding = f"theta carries {_f2(theta)} of the power, alpha {_f2(alpha)} and delta {_f2(delta)}; the EEG amplitude is {d.amplitude_uv:.0f} µV RMS"
    if theta >= _THETA_N1 and theta > alpha and delta < 0.75:
        status = "met"
    elif theta >= 0.12 and delta < 0.85:
        status = "partial"
    else:
        status = "absent"
    support = []
    if theta >= 0.10:
        support.append(f"theta activity is present ({_f2(theta)})")
    n_criterion = len(support)
    if alpha < 0.15:
        support.append(f"alpha is attenuated ({_f2(alpha)})")
    if n2_events == 0:
        support.append("no spindles or K-complexes are present")
    if d.slow_wave_fraction < _SW_N3:
        support.append(_few_slow_waves(d))
    out["N1"] = Evidence(
        "N1", status, "low-amplitude mixed-frequency (4–7 Hz) activity replacing alpha", finding, support,
        f"mixed-frequency activity with theta {_f2(theta)}",
        f"theta ({_f2(theta)}) does not dominate a mixed-frequency background (delta {_f2(delta)}, alpha {_f2(alpha)})",
        n_criterion=n_criterion,
    )

    # N2 ----------------------------------------------------------------------------
    finding = _events_text(d)
    finding = finding[0].upper() + finding[1:]
    if n2_events and d.slow_wave_fraction < _SW_N3:
        status = "met"
    elif n2_events:  # AASM: N2 only when the N3 criterion is not met
        status = "partial"
        finding += ", but slow waves exceed the N3 criterion, which takes precedence"
    elif sigma >= 0.05:
        status = "partial"
        finding += f"; sigma activity carries {_f2(sigma)} of the power"
    else:
        status = "absent"
    support = []
    if n2_events and d.slow_wave_fraction >= _SW_N3:
        support.append(_events_text(d).replace(" detected", "") + " are present")
    if sigma >= 0.03 and not n2_events:
        support.append(f"sigma activity is present ({_f2(sigma)})")
    n_criterion = len(support)
    if d.slow_wave_fraction < _SW_N3:
        support.append(_few_slow_waves(d) if d.slow_wave_fraction == 0 else f"{_few_slow_waves(d)}, below the 20% of N3")
    if alpha < 0.10:
        support.append(f"alpha is low ({_f2(alpha)})")
    if rems == 0:
        support.append("no rapid eye movements are seen")
    out["N2"] = Evidence(
        "N2", status, "sleep spindles or K-complexes", finding, support,
        _events_text(d).replace(" detected", ""),
        (f"slow waves cover {_pct(d.slow_wave_fraction)} of the epoch, which meets the N3 criterion"
         if n2_events else "no spindle or K-complex is detected in this epoch"),
        ("the slow-wave share is measured on one channel with a fixed filter, and the scored N2 is "
         "consistent with the spindles and K-complexes" if n2_events else ""),
        n_criterion=n_criterion,
    )

    # N3 ----------------------------------------------------------------------------
    finding = (
        f"slow waves of at least 75 µV cover {_pct(d.slow_wave_fraction)} of the epoch "
        f"(largest 0.5–2 Hz wave {d.max_slow_wave_uv:.0f} µV peak to peak); delta carries {_f2(delta)} of the power"
    )
    finding = finding[0].upper() + finding[1:]
    if d.slow_wave_fraction >= _SW_N3:
        status = "met"
    elif d.slow_wave_fraction >= 0.05 or delta >= 0.80:
        status = "partial"
    else:
        status = "absent"
    support = []
    if delta >= 0.70:
        support.append(f"delta dominates ({_f2(delta)} of the power)")
    if d.n_spindles == 0 and alpha < 0.05:
        support.append("no spindles or alpha are present")
    elif d.n_spindles == 0:
        support.append("no spindles are present")
    if d.max_slow_wave_uv >= 50:
        support.append(f"the largest slow wave reaches {d.max_slow_wave_uv:.0f} µV")
    out["N3"] = Evidence(
        "N3", status, "slow waves (0.5–2 Hz, at least 75 µV) over at least 20% of the epoch", finding, support,
        f"slow waves over {_pct(d.slow_wave_fraction)} of the epoch",
        f"slow waves reach 75 µV in only {_pct(d.slow_wave_fraction)} of the epoch, below the 20% criterion",
    )

    # REM ---------------------------------------------------------------------------
    finding = f"{_eog_text(d)}; {_emg_text(d)}; theta {_f2(theta)}, alpha {_f2(alpha)}"
    finding = finding[0].upper() + finding[1:]
    low_tone = emg is not None and emg <= _EMG_REM
    if rems is None and emg is None:
        status = "unknown"
    elif rems and (emg is None or low_tone) and n2_events == 0:
        status = "met"
    elif rems or (low_tone and n2_events == 0 and theta >= 0.15):
        status = "partial"
    else:
        status = "absent"
    support = []
    if rems:
        support.append(f"the EOG shows {_plural(rems, 'rapid eye movement')}")
    if low_tone:
        support.append(f"chin tone is low ({emg:.1f}× the night's median)")
    n_criterion = len(support)
    if n2_events == 0:
        support.append("no spindles or K-complexes are present")
    if theta >= 0.12:
        support.append(f"theta activity is present ({_f2(theta)})")
    if d.slow_wave_fraction < 0.05:
        support.append("slow waves are scarce")
    if status == "unknown":
        shortfall = "eye movements and chin tone cannot be checked (no EOG or EMG channel)"
    elif not rems:
        shortfall = "no rapid eye movements are detected" if rems == 0 else "eye movements cannot be checked (no EOG channel)"
    elif emg is not None and not low_tone:
        shortfall = f"chin tone is not low ({emg:.1f}× the median)"
    else:
        shortfall = "spindles or K-complexes are present"
    out["REM"] = Evidence(
        "REM", status, "rapid eye movements with low chin tone and low-amplitude mixed-frequency EEG", finding,
        support, f"{_plural(rems or 0, 'rapid eye movement')} with low chin tone", shortfall, n_criterion=n_criterion,
    )
    return out


# ----------------------------------------------------------------------------- wording

_ASK = {
    "W": ("signs of wakefulness — {c}?", "is there {c}?"),
    "N1": ("is there {c}?", "{c}?"),
    "N2": ("are there {c}?", "{c}?"),
    "N3": ("do {c}?", "{c}?"),
    "REM": ("are there {c}?", "{c}?"),
}
_N3_ASK = ("do slow waves (0.5–2 Hz, at least 75 µV) cover at least 20% of the epoch?",
           "slow waves (0.5–2 Hz, at least 75 µV) over at least 20% of the epoch?")

_GLOSS = {
    "W": "wake with eyes open often lacks an alpha rhythm, and the scored W is consistent with the rest of the epoch",
    "N1": "N1 is a transitional stage with few defining features, and the scored N1 is consistent with them",
    "N2": "by the AASM continuation rule N2 is kept between spindles and K-complexes, so the scored N2 is consistent",
    "N3": "the scored N3 is consistent with deep sleep of lower amplitude than the criterion (amplitude depends on montage and age)",
    "REM": "REM is scored together with the surrounding epochs, and the scored REM is consistent with this EEG",
}
_CONTEXT = (
    "this single epoch gives little for {label}; the scored stage rests on what the scorer "
    "saw beyond it (neighbouring epochs, all channels), and the epoch is taken as {label}"
)


def _join(facts: Sequence[str]) -> str:
    facts = list(facts)
    if not facts:
        return ""
    if len(facts) == 1:
        return facts[0]
    return ", ".join(facts[:-1]) + " and " + facts[-1]


def _weigh_other(other: Evidence, label_ev: Evidence, label: str) -> str:
    """A weighing sentence for evidence pointing to ``other.stage`` instead of ``label``."""
    if label_ev.status == "met":
        facts = _join([label_ev.short, *label_ev.support[label_ev.n_criterion :][:2]])
        return f"{WEIGHING} {facts} argue for {label}, which outweighs this; not {other.stage}."
    facts = _join(label_ev.support[:3])
    if facts:
        return f"{WEIGHING} {facts} fit {label}, and the scorer's {label} rests on them; not {other.stage}."
    return f"{WEIGHING} the scorer, who saw the neighbouring epochs and all channels, scored {label}; not {other.stage}."


def _weigh_label(ev: Evidence, label: str) -> str:
    """A weighing sentence for a scored stage whose criterion is not met as measured."""
    if len(ev.support) >= 2:
        return f"{WEIGHING} {_join(ev.support[:4])}; {ev.gloss or _GLOSS[label]}."
    if ev.support:
        return f"{WEIGHING} {ev.support[0]}, but {_CONTEXT.format(label=label)}."
    return f"{WEIGHING} {_CONTEXT.format(label=label)}."


def _verdict(ev: Evidence, evidence: Mapping[str, Evidence], label: str) -> str:
    if ev.stage == label:
        if ev.status == "met":
            return f"Verdict: consistent with {label}."
        return f"Verdict: {ev.shortfall}. {_weigh_label(ev, label)}"
    if ev.status == "met":
        return f"Verdict: points towards {ev.stage}. {_weigh_other(ev, evidence[label], label)}"
    if ev.status == "unknown":
        return f"Verdict: {ev.stage} cannot be assessed."
    if ev.status == "partial":
        return f"Verdict: only partly present; not enough for {ev.stage}."
    return f"Verdict: {ev.stage} not supported."


def _stagewise(evidence: Mapping[str, Evidence], label: str, rng: random.Random) -> str:
    lines = []
    for i, stage in enumerate(STAGES, start=1):
        ev = evidence[stage]
        if stage == "N3":
            ask = rng.choice(_N3_ASK)
        else:
            ask = rng.choice(_ASK[stage]).format(c=ev.criterion)
        finding = ev.finding[0].upper() + ev.finding[1:]
        lines.append(f"Step {i} — {stage}: {ask} {finding}. {_verdict(ev, evidence, label)}")
    others = [s for s in STAGES if s != label and evidence[s].status == "met"]
    if evidence[label].status == "met" and not others:
        lines.append(f"Conclusion: only the {label} criterion is met.")
    elif evidence[label].status == "met":
        lines.append(f"Conclusion: the {label} criterion is met and outweighs the features of {_join(others)}.")
    else:
        lines.append(f"Conclusion: weighing all steps, the epoch is {label}.")
    lines.append(final_line(label))
    return "\n".join(lines)


def _single(d: EpochDescription, evidence: Mapping[str, Evidence], label: str, rng: random.Random) -> str:
    rp = d.relative_power
    powers = ", ".join(f"{b} {_f2(rp[b])}" for b in ("delta", "theta", "alpha", "sigma", "beta"))
    opener = rng.choice(("Findings:", "Measured on the epoch:"))
    parts = [
        f"{opener} relative power {powers}; {_events_text(d)}; "
        f"slow waves of at least 75 µV cover {_pct(d.slow_wave_fraction)} of the epoch; "
        f"{_eog_text(d)}; {_emg_text(d)}."
    ]
    ev = evidence[label]
    if ev.status == "met":
        parts.append(f"The {label} criterion ({ev.criterion}) is met, consistent with {label}.")
    else:
        parts.append(f"The {label} criterion is not met as measured: {ev.shortfall}. {_weigh_label(ev, label)}")
    for stage in STAGES:
        other = evidence[stage]
        if stage != label and other.status == "met":
            short = other.short[0].upper() + other.short[1:]
            parts.append(f"{short}: points towards {stage}. {_weigh_other(other, ev, label)}")
    return " ".join(parts) + "\n" + final_line(label)


def rationale(d: EpochDescription | None, stage: str, variant: str = "stagewise", key: str = "") -> str:
    """The answer text for one epoch scored ``stage``.

    Parameters
    ----------
    d : EpochDescription or None
        The epoch's measures (not needed for ``variant='none'``).
    stage : str
        The expert's stage; the answer always concludes it.
    variant : str
        ``'none'``, ``'single'`` or ``'stagewise'`` (:data:`COT_VARIANTS`).
    key : str
        Seeds the phrasing variety (the sample id): same key, same text.

    Returns
    -------
    str
        Lines joined by ``\\n``; the last line is :func:`final_line` of ``stage``.
    """
    check_option("cot", variant, COT_VARIANTS, where="rationale")
    check_option("stage", stage, STAGES, where="rationale")
    if variant == "none":
        return final_line(stage)
    if d is None:
        raise ValueError(f"rationale: the {variant!r} variant needs the epoch's measures, got None")
    rng = random.Random(zlib.crc32(f"{variant}|{key}".encode()))
    evidence = assess(d)
    if variant == "single":
        return _single(d, evidence, stage, rng)
    return _stagewise(evidence, stage, rng)


# ----------------------------------------------------------------------------- external


def check_rationale(text: str, stage: str, where: str) -> None:
    """Raise ``ValueError`` unless ``text`` ends with the final line naming ``stage``."""
    got = parse_final_line(text)
    if got is None:
        lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
        last = lines[-1] if lines else ""
        raise ValueError(
            f"{where}: the text does not end with a final line {FINAL_LINE.format(stage='<W|N1|N2|N3|REM>')!r}; "
            f"its last line is {last[:80]!r}"
        )
    if got != stage:
        raise ValueError(f"{where}: the final line names {got} but the sample is labelled {stage}")


def load_rationales(path: str | Path, labels: Mapping[str, str]) -> dict[str, str]:
    """Read external rationales (JSON lines ``{"sample_id": ..., "text": ...}``).

    Parameters
    ----------
    path : str or Path
        The ``.jsonl`` file.
    labels : mapping of str to str
        sample_id -> expert stage, for every sample the data may use. Lines for other ids
        are checked for form, then skipped (counted in the log).

    Returns
    -------
    dict of str to str
        sample_id -> text, for ids in ``labels``.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file; a line that is not a JSON object with string ``sample_id`` and
        ``text``; a duplicate id; a text whose last line is not a final line naming the
        labelled stage. Messages name the file and line.
    """
    p = check_file(path, "rationales file")
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    skipped = 0
    for n, obj in read_jsonl(p, "rationales file"):
        where = f"rationales file {str(p)!r}, line {n}"
        if not isinstance(obj.get("sample_id"), str) or not isinstance(obj.get("text"), str):
            raise ValueError(f"{where}: expected an object with string fields 'sample_id' and 'text'")
        sid, text = obj["sample_id"], obj["text"]
        if sid in first_line:
            raise ValueError(f"{where}: sample_id {sid!r} already given on line {first_line[sid]}")
        first_line[sid] = n
        if parse_final_line(text) is None:
            check_rationale(text, "W", f"{where} (sample_id {sid!r})")
        if sid not in labels:
            skipped += 1
            continue
        check_rationale(text, labels[sid], f"{where} (sample_id {sid!r})")
        out[sid] = text
    if skipped:
        logger.warning("rationales file %s: %d sample ids are not in the manifest; skipped", p, skipped)
    return out
