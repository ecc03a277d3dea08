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
from pathlib import Path

from ondisk.records import read_jsonl
from eeg_vlm.checks import check_file, check_option
from eeg_vlm.reasoning.criteria import Evidence, assess
from eeg_vlm.reasoning.detectors import EpochDescription, channel_role
from eeg_vlm.reasoning.phrases import emg_text, eog_text, events_text, f2, pct
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
    powers = ", ".join(f"{b} {f2(rp[b])}" for b in ("delta", "theta", "alpha", "sigma", "beta"))
    opener = rng.choice(("Findings:", "Measured on the epoch:"))
    parts = [
        f"{opener} relative power {powers}; {events_text(d)}; "
        f"slow waves of at least 75 µV cover {pct(d.slow_wave_fraction)} of the epoch; "
        f"{eog_text(d)}; {emg_text(d)}."
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
