"""Settings of ``eeg-vlm report`` (:class:`ReportConfig`): the runs to score, how to score
them and what to draw. The command line is built from the fields."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from eeg_vlm.checks import check_option
from eeg_vlm.config import Config
from eeg_vlm.evaluation import published as pub
from eeg_vlm.evaluation.metrics import UNPARSEABLE_POLICIES

logger = logging.getLogger(__name__)

__all__ = ["PROTOCOLS", "REPORT_CONTEXTS", "ReportConfig"]

PROTOCOLS: tuple[str, ...] = (pub.PROTOCOL_SUBJECT, pub.PROTOCOL_EPOCH)
REPORT_CONTEXTS: tuple[str, ...] = ("none", "hmm")


@dataclass(frozen=True)
class ReportConfig(Config):
    """What one report scores and writes (see :func:`eeg_vlm.evaluation.report.run_report`)."""

    out: str = field(metadata={"help": "output folder"})
    answers: tuple[str, ...] = field(default=(), metadata={
        "help": "answers.jsonl, one run each (several after one flag, or the flag repeated)", "action": "extend",
        "metavar": "A.jsonl"})
    predictions: tuple[str, ...] = field(default=(), metadata={
        "help": "classifier predictions CSV: sample_id, stage, pred[, prob_W ...] (repeatable)", "action": "append",
        "metavar": "P.csv"})
    baseline: tuple[str, ...] = field(default=(), metadata={
        "help": "'eeg-vlm baseline' output folder: a PSG-LLaVA Table 1 row, labelled with its group (repeatable)",
        "action": "append", "metavar": "DIR"})
    questions: str | None = field(default=None, metadata={"help": "eeg_eval.jsonl: ground truth joined on question_id"})
    manifest: str | None = field(default=None, metadata={
        "help": "manifest.csv: subject and night of each sample; protocol check"})
    names: tuple[str, ...] | None = field(default=None, metadata={
        "help": "one name per run: answers files first, then predictions, baselines, then YASA"})
    ablation: tuple[str, ...] = field(default=(), metadata={
        "help": "settings per run, in run order (repeat once per run; '-' for none); default: read from run names "
                "of that form", "action": "append", "metavar": "fusion=add,cot=stagewise"})
    protocol: str | None = field(default=None, metadata={
        "help": "how the test set was split; none: inferred from --manifest splits, else 'not stated'",
        "choices": PROTOCOLS})
    dataset: str | None = field(default=None, metadata={
        "help": "dataset name for the tables; none: the manifest's, else 'this dataset'"})
    unparseable: str = field(default="wrong", metadata={
        "help": "score unparseable answers as wrong or leave them out", "choices": UNPARSEABLE_POLICIES})
    n_boot: int = field(default=1000, metadata={"help": "bootstrap replicates over subjects"})
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})
    yasa: bool = field(default=False, metadata={
        "help": "add YASA's classifier as a run (needs --manifest and the optional yasa package)"})
    max_nights: int = field(default=10, metadata={"help": "hypnograms per run"})
    plots: bool = field(default=True, metadata={"help": "draw figures (the flag --no-plots: tables only)"})
    context: str = field(default="none", metadata={
        "help": "hmm: decode each night of every run by Viterbi through stage-transition probabilities (needs "
                "per-epoch probabilities: label scoring answers or prob_* columns)", "choices": REPORT_CONTEXTS})
    transitions: str | None = field(default=None, metadata={
        "help": "transitions file for --context hmm; none: the shipped Sleep-EDF-197 matrix"})

    def __post_init__(self) -> None:
        for name in ("answers", "predictions", "baseline", "ablation"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        if self.names is not None:
            object.__setattr__(self, "names", tuple(self.names))
        if self.protocol is not None:
            check_option("protocol", self.protocol, PROTOCOLS, "report")
        check_option("unparseable", self.unparseable, UNPARSEABLE_POLICIES, "report")
        check_option("context", self.context, REPORT_CONTEXTS, "report")
        if int(self.n_boot) < 1 or int(self.max_nights) < 0:
            raise ValueError(f"report: n_boot must be >= 1 and max_nights >= 0, got {self.n_boot} and "
                             f"{self.max_nights}")
        if not (self.answers or self.predictions or self.baseline or self.yasa):
            raise ValueError("report: give at least one --answers or --predictions file, --baseline folder or --yasa")
