"""Reading a sleep stage out of a model's free-text answer.

An answer is read in two steps:

1. **Final line.** Training answers end with one structured line (``"Sleep stage: N2"``);
   close variants are accepted too (``"Final answer: REM"``, ``"Answer: stage 2"``,
   ``"... so the final answer is N3."``, ``"Conclusion: ..., the epoch is N2."``, or a line
   that is nothing but a stage). When the
   last non-empty line states exactly one stage this way, that stage is the answer, whatever
   the reasoning above it discussed.
2. **Free text.** Otherwise every stage name or synonym in the text is located (with word
   boundaries: the ``W`` of "Welch", ``REM`` inside "REMAIN" or "REMs", ``stage 2`` inside
   "stage 20", "non-REM" and "slow waves" are not stage names). Mentions that are negated
   ("not N3", "rather than N1", "REM is unlikely") or asked about ("Could this be REM?") do
   not count. Exactly one remaining stage is the answer; none or several make the answer
   UNPARSEABLE: it is reported, never mapped to a stage by guesswork.

A bare ``R`` counts as REM only where it cannot be an ordinary letter: as the whole answer,
as the value of the final line, or after "stage".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["ParsedAnswer", "parse_answer", "stage_mentions", "Mention", "FINAL_LINE_LABELS"]

#: Words that introduce a structured final answer, e.g. ``"Sleep stage: N2"``.
FINAL_LINE_LABELS: tuple[str, ...] = (
    "final answer", "final stage", "final sleep stage", "final classification", "final prediction",
    "predicted sleep stage", "predicted stage", "prediction", "classification", "conclusion",
    "answer", "sleep stage", "stage", "label",
)

# Values the final line may carry, after lower-casing and collapsing spaces.
_VALUE_TABLE: dict[str, str] = {}
for _stage, _words in {
    "W": ("w", "wake", "awake", "wakefulness", "stage w", "stage wake"),
    "N1": ("n1", "s1", "1", "nrem1", "nrem 1", "nrem stage 1", "stage 1", "stage n1", "stage s1"),
    "N2": ("n2", "s2", "2", "nrem2", "nrem 2", "nrem stage 2", "stage 2", "stage n2", "stage s2"),
    "N3": ("n3", "s3", "3", "s4", "4", "n4", "nrem3", "nrem 3", "nrem stage 3", "stage 3", "stage 4",
           "stage n3", "stage s3", "stage s4", "sws", "slow wave sleep", "slow-wave sleep", "deep sleep"),
    "REM": ("r", "rem", "rem sleep", "stage r", "stage rem", "rapid eye movement",
            "rapid eye movement sleep", "rapid eye movement (rem) sleep", "rem (rapid eye movement)"),
}.items():
    for _w in _words:
        _VALUE_TABLE[_w] = _stage

_LABEL_RE = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in FINAL_LINE_LABELS)
# At the start of the line, of a sentence, or after "Therefore,"/"So": a label, then ':' '='
# a dash or 'is', then the value up to the end of the line. "sleep stage"/"stage" may also be
# followed directly by the value ("Sleep stage 2", Sleep-EDF style).
_FINAL_RE = re.compile(
    rf"(?:^[\W_]*|[.;!?]\s+|\b(?:therefore|thus|hence|so|overall|finally|in\s+(?:conclusion|summary))\b[\s,:]*)"
    rf"(?:(?:the|my|our)\s+)?(?P<label>{_LABEL_RE})\s*"
    rf"(?:[:=]|[-\u2013\u2014]|\bis\b|\bwas\b|(?<=stage)(?=\s))\s*(?P<value>[^\n]*?)\s*$",
    re.IGNORECASE,
)

# A concluding clause at the end of the last line: "..., so the epoch is N2."
_CONCLUSION_RE = re.compile(
    r"\b(?:the|this)\s+(?:epoch|sleep\s+stage|stage|answer)\s+(?:is|was)\s+"
    r"(?:(?:most\s+)?likely\s+|probably\s+|therefore\s+|best\s+scored\s+as\s+)?(?P<value>[^\n]*?)\s*$",
    re.IGNORECASE,
)

_N = {1: "N1", 2: "N2", 3: "N3", 4: "N3"}
_L, _R = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9]|\.[0-9])"


def _numbered(k: int) -> str:
    return (rf"{_L}(?:N|S|NREM\s?|NREM\s+stage\s+|non-?REM\s+(?:stage\s+)?|(?:sleep\s+)?stage\s+(?:N|S)?)"
            rf"{k}{_R}")


# (stage, pattern, case-sensitive?) — longer forms first so they win overlaps.
_PATTERNS: tuple[tuple[str, str, bool], ...] = (
    ("W", r"\b(?:wake|awake|wakefulness)\b", False),
    ("W", rf"{_L}stage\s+W{_R}", False),
    ("W", r"(?<![A-Za-z0-9&/'\-])W(?![A-Za-z0-9&'\-])", True),
    *((_N[k], _numbered(k), False) for k in (1, 2, 3, 4)),
    ("N3", r"\bslow[-\s]?wave\s+sleep\b", False),
    ("N3", r"\bSWS\b", True),
    ("N3", r"\bdeep\s+sleep\b", False),
    ("REM", rf"{_L}stage\s+(?:R|REM){_R}", False),
    ("REM", r"\brem\s+sleep\b", False),
    ("REM", rf"{_L}REM{_R}", True),
    ("REM", r"\brapid[-\s]eye[-\s]movement(?![A-Za-z])(?!\s+(?:activity|density|bursts?|events?))", False),
)
_COMPILED = tuple((s, re.compile(p, 0 if cs else re.IGNORECASE)) for s, p, cs in _PATTERNS)

# Clause boundaries for negation scope.
_BOUNDARY = re.compile(
    r"[.;:!?\n,()\[\]]|\b(?:but|however|whereas|while|although|though|so|therefore|thus|hence|"
    r"because|since|and\s+thus)\b",
    re.IGNORECASE,
)
_NEG_BEFORE = re.compile(
    r"(?:\b(?:not|no|never|neither|nor|without|than|unlike|excluding|except|against|"
    r"rather\s+than|instead\s+of|absence\s+of|lack\s+of|rules?\s+out|ruled\s+out|excludes?|excluded)\b"
    r"|n't\b)(?:\W+\w+){0,3}?\W*$",
    re.IGNORECASE,
)
_NEG_AFTER = re.compile(
    r"\s*(?:\([^)]*\)\s*)?(?:(?:is|are|was|were|seems|appears|looks|can\s+be|could\s+be|should\s+be|"
    r"would\s+be|must\s+be|has\s+been|therefore|thus|clearly|also)\s+)*"
    r"(?:not\b|unlikely|excluded|ruled\s+out|less\s+likely|improbable|doubtful)",
    re.IGNORECASE,
)
_TERMINATOR = re.compile(r"[.!](?![0-9])|\?|\n")


@dataclass(frozen=True)
class Mention:
    """One stage name found in an answer.

    Attributes
    ----------
    stage : str
        The AASM stage it names.
    span : tuple of int
        ``(start, end)`` character offsets in the answer text.
    negated : bool
        Named in a negated clause ("not N3", "N3 is unlikely").
    question : bool
        Named in a sentence that ends with ``?`` (a hypothesis, not a statement).
    """

    stage: str
    span: tuple[int, int]
    negated: bool = False
    question: bool = False

    @property
    def counts(self) -> bool:
        """Whether this mention states the stage (neither negated nor asked about)."""
        return not (self.negated or self.question)


@dataclass(frozen=True)
class ParsedAnswer:
    """The stage read from one answer, or why none could be read.

    Attributes
    ----------
    stage : str or None
        One of ``W N1 N2 N3 REM``, or ``None`` when the answer is unparseable.
    reason : str
        How the stage was found (``"final line"``, ``"one stage named"``) or why not
        (``"no stage named"``, ``"several stages named: N1, REM"``, ...).
    span : tuple of int or None
        Character span of the deciding match in the answer text.
    source : str
        ``"final-line"``, ``"text"`` or ``"none"``.
    named : tuple of str
        Distinct stages stated in the text (not negated, not asked about), in STAGES order.
    """

    stage: str | None
    reason: str
    span: tuple[int, int] | None = None
    source: str = "none"
    named: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when a stage was read."""
        return self.stage is not None


def _lookup_value(value: str) -> str | None:
    """Stage named by a final-line value such as ``"N2."``, ``"**stage 2**"``, ``"REM (R)"``."""
    v = re.sub(r"[*_`\"']", "", value).strip()
    v = re.sub(r"[\s.!;,]+$", "", v).strip()
    key = re.sub(r"\s+", " ", v.lower())
    if key in _VALUE_TABLE:
        return _VALUE_TABLE[key]
    # a trailing parenthetical that names the same stage or none ("N2 (light sleep)")
    m = re.fullmatch(r"(.+?)\s*\(([^()]*)\)", key)
    if m and m.group(1) in _VALUE_TABLE:
        inner = _VALUE_TABLE.get(m.group(2).strip())
        main = _VALUE_TABLE[m.group(1)]
        if inner is None and not any(x.counts for x in stage_mentions(m.group(2))):
            return main
        if inner == main:
            return main
    return None


def _final_line(text: str) -> tuple[str, tuple[int, int]] | None:
    """Stage stated by the last non-empty line, with its span in ``text``."""
    end = len(text)
    while True:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        if line.strip() and line.strip() != "</s>":
            break
        if start == 0:
            return None
        end = start - 1
    line = re.sub(r"</s>\s*$", "", line)
    # the whole line is a stage ("N2", "REM.", "**R**")
    whole = _lookup_value(line)
    if whole is not None:
        lead = len(line) - len(line.lstrip())
        return whole, (start + lead, start + len(line.rstrip()))
    for m in reversed(list(_FINAL_RE.finditer(line))):
        stage = _lookup_value(m.group("value"))
        if stage is not None:
            return stage, (start + m.start("label"), start + m.end("value"))
    # Markdown bold labels: "**Sleep stage:** N2"
    plain = line.replace("*", " ")
    if plain != line:
        for m in reversed(list(_FINAL_RE.finditer(plain))):
            stage = _lookup_value(m.group("value"))
            if stage is not None:
                return stage, (start + m.start("label"), start + m.end("value"))
    m = _CONCLUSION_RE.search(plain)
    if m:
        stage = _lookup_value(m.group("value"))
        if stage is not None:
            return stage, (start + m.start(), start + m.end("value"))
    return None


def _clause_before(text: str, pos: int) -> str:
    starts = [m.end() for m in _BOUNDARY.finditer(text, 0, pos)]
    return text[starts[-1] if starts else 0:pos]


def _clause_after(text: str, pos: int) -> str:
    m = _BOUNDARY.search(text, pos)
    return text[pos:m.start() if m else len(text)]


def stage_mentions(text: str) -> list[Mention]:
    """Every stage name or synonym in ``text``, in order, with negation and question flags.

    Overlapping matches keep the longest (``"stage N2"`` over ``"N2"``); "non-REM" and
    "non-rapid eye movement" are not REM.
    """
    found: list[tuple[int, int, str]] = []
    for stage, rx in _COMPILED:
        for m in rx.finditer(text):
            s, e = m.span()
            if text[max(0, s - 4):s].lower() in ("non-", "non ") or text[max(0, s - 3):s].lower() == "non":
                continue
            found.append((s, e, stage))
    # keep the longest of overlapping matches
    found.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    kept: list[tuple[int, int, str]] = []
    for s, e, stage in found:
        if kept and s < kept[-1][1]:
            continue
        kept.append((s, e, stage))
    out = []
    for s, e, stage in kept:
        negated = bool(_NEG_BEFORE.search(_clause_before(text, s))) or bool(
            _NEG_AFTER.match(_clause_after(text, e)))
        term = _TERMINATOR.search(text, e)
        question = bool(term and term.group() == "?")
        out.append(Mention(stage, (s, e), negated, question))
    return out


def parse_answer(text: str) -> ParsedAnswer:
    """Read the sleep stage an answer states.

    Parameters
    ----------
    text : str
        The model's answer (``answers.jsonl`` ``"text"``), possibly a multi-line
        chain-of-thought.

    Returns
    -------
    ParsedAnswer
        ``stage`` is one of ``W N1 N2 N3 REM`` or ``None`` (unparseable, with ``reason``).

    Examples
    --------
    >>> parse_answer("Spindles present, no slow waves.\\nSleep stage: N2").stage
    'N2'
    >>> parse_answer("It could be N1 or REM.").reason
    'several stages named: N1, REM'
    """
    if not isinstance(text, str) or not text.strip():
        return ParsedAnswer(None, "empty answer")
    final = _final_line(text)
    if final is not None:
        stage, span = final
        return ParsedAnswer(stage, "final line", span, "final-line", (stage,))
    mentions = stage_mentions(text)
    stated = [m for m in mentions if m.counts]
    named = tuple(s for s in STAGES if any(m.stage == s for m in stated))
    if len(named) == 1:
        first = next(m for m in stated if m.stage == named[0])
        return ParsedAnswer(named[0], "one stage named", first.span, "text", named)
    if len(named) > 1:
        return ParsedAnswer(None, f"several stages named: {', '.join(named)}", None, "none", named)
    if mentions:
        only = tuple(s for s in STAGES if any(m.stage == s for m in mentions))
        kind = "negated" if all(m.negated for m in mentions) else "negated or asked about"
        return ParsedAnswer(None, f"only {kind} stages: {', '.join(only)}")
    return ParsedAnswer(None, "no stage named")
