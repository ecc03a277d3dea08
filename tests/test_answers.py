"""Reading stages out of free-text answers: final line first, then guarded free-text matching."""

from __future__ import annotations

import pytest

from eeg_vlm.evaluation.answers import parse_answer, stage_mentions
from eeg_vlm.stages import STAGES

STAGEWISE = (
    "Step 1 — W: relative alpha 0.04 of 0.5-30 Hz power; no posterior alpha, so wake is not favoured.\n"
    "Step 2 — N1: theta 0.21, no vertex waves.\n"
    "Step 3 — N2: 2 spindles (12.8 Hz, 0.9 s) and one K-complex.\n"
    "Step 4 — N3: slow waves >= 75 µV cover 6% of the epoch, below the 20% criterion.\n"
    "Step 5 — REM: no rapid eye movements; chin EMG tone at the night's median.\n"
    "Sleep stage: {}"
)

# (answer text, expected stage or None)
FINAL_LINE_CASES = [
    ("Sleep stage: N2", "N2"),
    ("Sleep stage: REM", "REM"),
    ("Final answer: REM", "REM"),
    ("Answer: stage 2", "N2"),
    ("Answer: Stage 3", "N3"),
    ("Answer: S4", "N3"),
    ("Sleep stage: R", "REM"),
    ("Sleep stage: W.", "W"),
    ("Sleep stage W", "W"),
    ("**Sleep stage:** N1", "N1"),
    ("N3", "N3"),
    ("REM.", "REM"),
    ("R", "REM"),
    ("w", "W"),
    ("Therefore, the final answer is N3.", "N3"),
    ("Delta dominates and spindles are absent.\nFinal answer: N3</s>", "N3"),
    ("Sleep stage: N2 (light sleep)", "N2"),
    ("Predicted stage = wake", "W"),
    # the final line decides even when the reasoning walks through every stage
    *((STAGEWISE.format(s), s) for s in STAGES),
]

FREE_TEXT_CASES = [
    ("The patient is awake with eyes closed.", "W"),
    ("Alpha rhythm over the occiput indicates wakefulness.", "W"),
    ("Spindles and K-complexes are typical of stage 2 sleep.", "N2"),
    ("This is slow-wave sleep.", "N3"),
    ("Deep sleep with high-amplitude delta.", "N3"),
    ("Sawtooth waves and rapid eye movement sleep.", "REM"),
    ("Stage 2 (N2).", "N2"),
    ("non-REM stage 2 with spindles.", "N2"),
    # negations and comparisons: the negated stage does not count
    ("This is not N3; spindles indicate N2.", "N2"),
    ("It is N2 rather than N3.", "N2"),
    ("More consistent with REM than N1.", "REM"),
    ("Neither N1 nor REM; K-complexes point to N2.", "N2"),
    ("Not REM, not N1, so N2.", "N2"),
    ("N3 is unlikely given few slow waves; I think it is N2.", "N2"),
    ("REM can be ruled out, leaving N1.", "N1"),
    ("light sleep, N1 (not N2)", "N1"),
    # questions are hypotheses, not answers
    ("Could this be REM? The spindles say N2.", "N2"),
]

ADVERSARIAL_CASES = [
    ("The Welch spectrum shows delta dominance; this is N3.", "N3"),  # W of Welch
    ("Relative power REMAINS low and the epoch is N2.", "N2"),  # REM inside REMAINS
    ("Stage 20 of the protocol was reached. Clearly N1.", "N1"),  # stage 2 inside stage 20
    ("Stage 2.5 is not a thing; the answer is N3", "N3"),
    ("W-F1 is a metric, not a stage. The epoch is N2.", "N2"),  # W of W-F1
    ("Scored with R&K rules: stage 4 delta, i.e. N3.", "N3"),  # R of R&K
    ("REMs are absent and chin tone is high; N1.", "N1"),  # REMs = eye movements
    ("Rapid eye movements are absent; N2.", "N2"),  # plural: events, not the stage
    ("Slow waves are absent, K-complexes present: N2", "N2"),  # slow waves != slow-wave sleep
    ("At this stage I would say Wake.", "W"),  # 'stage I' is not stage 1
    ("Non-REM sleep with spindles, N2.", "N2"),
    # unparseable: no stage, several stages, only negated ones
    ("non-REM sleep with spindles and K-complexes.", None),
    ("It could be N1 or REM.", None),
    ("Answer: N2 or N3", None),
    ("Sleep stage: N2. Note that N3 is also possible.", None),
    ("I cannot determine the sleep stage from this image.", None),
    ("Not N3.", None),
    ("Sleep stage: not N3", None),
    ("The epoch lies on the N2-N3 boundary.", None),
    ("Which stage (W, N1, N2, N3, REM) is this? Hard to say", None),
    ("", None),
    ("   \n</s>", None),
    ("NREM sleep.", None),
    ("Relative power REMAINS high in the Welch estimate.", None),
]


@pytest.mark.parametrize("text,expected", FINAL_LINE_CASES)
def test_final_line(text, expected):
    parsed = parse_answer(text)
    assert parsed.stage == expected, parsed
    assert parsed.source == "final-line"
    s, e = parsed.span
    assert text[s:e].strip() and s >= text.rstrip().rfind("\n")  # the span lies on the last line


@pytest.mark.parametrize("text,expected", FREE_TEXT_CASES + ADVERSARIAL_CASES)
def test_free_text_and_adversarial(text, expected):
    parsed = parse_answer(text)
    assert parsed.stage == expected, (text, parsed)
    assert parsed.ok is (expected is not None)
    if expected is None:
        assert parsed.span is None and parsed.reason
    else:
        s, e = parsed.span
        assert 0 <= s < e <= len(text)


def test_reasons_name_the_problem():
    assert parse_answer("It could be N1 or REM.").reason == "several stages named: N1, REM"
    assert parse_answer("Not N3.").reason == "only negated stages: N3"
    assert parse_answer("No idea.").reason == "no stage named"
    assert parse_answer("").reason == "empty answer"
    assert parse_answer("Is it REM?").reason.startswith("only negated or asked about")
    assert parse_answer("Sleep stage: N2").reason == "final line"


def test_span_points_at_the_stage_in_free_text():
    text = "This is not N3; spindles indicate stage 2."
    parsed = parse_answer(text)
    assert parsed.stage == "N2" and text[slice(*parsed.span)] == "stage 2"


def test_mentions_flag_negation_and_questions():
    ms = stage_mentions("Not N3. Could it be REM? It is N2 rather than N1.")
    got = [(m.stage, m.negated, m.question) for m in ms]
    assert got == [("N3", True, False), ("REM", False, True), ("N2", False, False), ("N1", True, False)]
    assert [m.counts for m in ms] == [False, False, True, False]


def test_overlapping_forms_count_once():
    ms = stage_mentions("sleep stage N2")
    assert len(ms) == 1 and ms[0].stage == "N2" and ms[0].span == (0, 14)


def test_final_line_format_of_the_training_answers_parses():
    """The chain-of-thought module's final-line constant must round-trip through the parser.

    Imported by name, so renaming or dropping ``FINAL_LINE`` fails here instead of skipping.
    """
    from eeg_vlm.reasoning.cot import FINAL_LINE, final_line

    assert "{stage}" in FINAL_LINE
    for stage in STAGES:
        line = FINAL_LINE.format(stage=stage)
        assert final_line(stage) == line
        assert parse_answer("Some reasoning about N2 and REM.\n" + line).stage == stage


@pytest.mark.parametrize("text,expected", [
    ("This epoch is not stage 2", None),  # a label inside a sentence is not a final line
    ("Spindles indicate stage 2.", "N2"),
    ("Therefore, the final answer is N3.", "N3"),
    ("Delta is high. Stage 3.", "N3"),
])
def test_final_line_label_must_start_a_sentence(text, expected):
    parsed = parse_answer(text)
    assert parsed.stage == expected, parsed
    if text.startswith(("This", "Spindles")):
        assert parsed.source != "final-line"


@pytest.mark.parametrize("text,expected", [
    ("Step 5 — REM: not assessed.\nConclusion: weighing all steps, the epoch is N2.", "N2"),
    ("Spindles are absent and delta dominates, so the epoch is most likely N3.", "N3"),
    ("Taken together the sleep stage is REM", "REM"),
    ("Alpha is absent, so the epoch is not W.", None),
    ("The epoch is N2 or N3.", None),
])
def test_concluding_clause_on_the_last_line(text, expected):
    parsed = parse_answer(text)
    assert parsed.stage == expected, parsed
    if expected is not None:
        assert parsed.source == "final-line"


def test_training_answers_parse_with_and_without_their_final_line():
    """Real rationales (eeg_vlm.reasoning.cot on measured epochs) read back as their stage."""
    import numpy as np

    from eeg_vlm.reasoning import cot, detectors

    data = np.random.default_rng(0).normal(0, 30, (4, 1, 3000)).astype(np.float32)
    descs = detectors.describe_epochs(data, ["EEG Fpz-Cz"], 100.0)
    for i, d in enumerate(descs):
        for stage in STAGES:
            for variant in cot.COT_VARIANTS:
                text = cot.rationale(d, stage, variant, key=str(i))
                assert parse_answer(text).stage == stage, (variant, text)
            body = cot.rationale(d, stage, "stagewise", key=str(i)).rsplit("\n", 1)[0]
            if " the epoch is " in body.splitlines()[-1]:  # "Conclusion: weighing all steps, the epoch is N2."
                assert parse_answer(body).stage == stage, body
