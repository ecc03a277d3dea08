"""Runs to score: answers and predictions joined to their ground truth, and their scores.

A run is one set of predictions (a model's ``answers.jsonl``, a classifier's predictions
CSV, YASA) as :class:`EpochResult` rows keyed on ``sample_id``; :func:`evaluate` scores it
pooled over epochs, per night and with a subject bootstrap.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from eeg_vlm.checks import check_file, check_option
from eeg_vlm.dataset.manifest import Row as ManifestRow
from eeg_vlm.dataset.manifest import read_manifest
from eeg_vlm.evaluation.answers import parse_answer
from eeg_vlm.evaluation.metrics import NightSummary, Scores, bootstrap_ci, per_night, read_predictions_csv, score
from ondisk import read_answers, read_eval_questions
from eeg_vlm.stages import STAGES, to_aasm
from llava.constants import EEG_FUSION_MODES

logger = logging.getLogger(__name__)

__all__ = ["EpochResult", "Run", "RunResult", "load_questions", "load_answers", "load_predictions",
           "parse_settings", "apply_context", "evaluate", "manifest_index", "place", "truth_stage"]

# --------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class EpochResult:
    """One scored epoch of one run."""

    sample_id: str
    night: str
    subject: str
    epoch: int
    truth: str
    pred: str | None
    reason: str = ""
    text: str = ""
    probs: tuple[float, ...] | None = None


@dataclass
class Run:
    """One set of predictions to score (a model's answers, a classifier, YASA)."""

    name: str
    kind: str
    source: str
    epochs: list[EpochResult]
    settings: dict[str, str] = field(default_factory=dict)
    n_questions: int | None = None
    group: str = ""  # PSG-LLaVA Table 1 group of a baseline run (Image based, Signal based, Foundation)
    note: str = ""  # how a baseline run was trained (preset, strategy, tiny)


def _split_sample_id(sample_id: str) -> tuple[str, int | None]:
    """``"SC4001E0/000123"`` -> ``("SC4001E0", 123)``; other ids -> ``(id, None)``."""
    head, sep, tail = sample_id.rpartition("/")
    if sep and head and tail.isdigit():
        return head, int(tail)
    return sample_id, None


def truth_stage(value, where: str, what: str = "ground-truth stage") -> str:
    try:
        stage = to_aasm(str(value))
    except ValueError:
        stage = None
    if stage is None:
        raise ValueError(f"{where}: {what} {value!r} is not one of {', '.join(STAGES)}")
    return stage


def load_questions(path: str | Path) -> dict[str, dict]:
    """``eeg_eval.jsonl`` -> ``{question_id: {"sample_id", "stage"}}``; duplicates are errors."""
    path = check_file(path, "questions file")
    out: dict[str, dict] = {}
    for line_no, rec in read_eval_questions(path, "questions file"):
        where = f"questions file {str(path)!r}, line {line_no}"
        qid = str(rec["question_id"])
        stage = rec.get("stage")
        out[qid] = {"sample_id": str(rec.get("sample_id") or qid),
                    "stage": None if stage in (None, "") else truth_stage(stage, where)}
    return out


def manifest_index(path: str | Path) -> dict[str, ManifestRow]:
    return {row.sample_id: row for row in read_manifest(path)}


def place(sample_id: str, manifest: dict[str, ManifestRow] | None, order: int) -> tuple[str, str, int]:
    """(night, subject, epoch) of a sample: the night is its record id (unique, unlike the
    manifest's night number, which repeats across subjects); the subject comes from the
    manifest, else it is the record id too."""
    row = manifest.get(sample_id) if manifest else None
    if row is not None:
        return row.record_id, row.subject or row.record_id, row.epoch
    record, epoch = _split_sample_id(sample_id)
    return record, record, order if epoch is None else epoch


def load_answers(path: str | Path, questions: dict[str, dict] | None = None,
                 questions_path: str | Path | None = None,
                 manifest: dict[str, ManifestRow] | None = None) -> tuple[list[EpochResult], str]:
    """Read an ``answers.jsonl`` and join its ground truth.

    The prediction is ``metadata["pred"]`` (label scoring) or the stage parsed from
    ``text`` (:func:`eeg_vlm.evaluation.answers.parse_answer`); the truth is ``metadata["stage"]`` or
    the questions file's ``stage`` for the same ``question_id``.

    Returns
    -------
    epochs : list of EpochResult
        In file order.
    model_id : str
        The answers' ``model_id`` when all lines agree, else ``""``.
    """
    path = check_file(path, "answers file")
    out: list[EpochResult] = []
    model_ids: set[str] = set()
    for line_no, rec in read_answers(path, "answers file"):
        where = f"answers file {str(path)!r}, line {line_no}"
        qid = str(rec["question_id"])
        meta = rec.get("metadata") or {}
        q = None
        if questions is not None:
            q = questions.get(qid)
            if q is None:
                raise ValueError(f"{where}: question_id {qid!r} is not in questions file "
                                 f"{str(questions_path)!r}")
        truth = meta.get("stage")
        if truth not in (None, ""):
            truth = truth_stage(truth, where)
            if q is not None and q["stage"] is not None and q["stage"] != truth:
                raise ValueError(f"{where}: metadata stage {truth!r} disagrees with questions file "
                                 f"{str(questions_path)!r} ({q['stage']!r}) for question_id {qid!r}")
        elif q is not None and q["stage"] is not None:
            truth = q["stage"]
        else:
            hint = (f"questions file {str(questions_path)!r} has no 'stage' for it" if q is not None
                    else "pass --questions eeg_eval.jsonl")
            raise ValueError(f"{where}: no ground truth for question_id {qid!r} (no metadata.stage; {hint})")
        sample_id = str(meta.get("sample_id") or (q or {}).get("sample_id") or qid)
        text = str(rec.get("text") or "")
        if meta.get("pred") not in (None, ""):
            pred, reason = truth_stage(meta["pred"], where, "metadata.pred"), "label scoring"
        else:
            parsed = parse_answer(text)
            pred, reason = parsed.stage, parsed.reason
        probs = None
        if isinstance(meta.get("probs"), dict):
            pmap: dict[str, float] = {}
            for k, v in meta["probs"].items():
                st = truth_stage(k, where, "metadata.probs key")
                try:
                    pmap[st] = pmap.get(st, 0.0) + float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"{where}: metadata.probs[{k!r}] is {v!r}, not a number") from None
            probs = tuple(pmap.get(s, 0.0) for s in STAGES)
        night, subject, epoch = place(sample_id, manifest, len(out))
        out.append(EpochResult(sample_id, night, subject, epoch, truth, pred, reason, text, probs))
        if rec.get("model_id"):
            model_ids.add(str(rec["model_id"]))
    return out, (model_ids.pop() if len(model_ids) == 1 else "")


def load_predictions(path: str | Path, questions: dict[str, dict] | None = None,
                     manifest: dict[str, ManifestRow] | None = None) -> list[EpochResult]:
    """A classifier's predictions CSV; truth from its ``stage`` column, else the manifest."""
    rows = read_predictions_csv(path)
    by_sample = {q["sample_id"]: q["stage"] for q in (questions or {}).values()}
    out = []
    for i, r in enumerate(rows):
        row = (manifest or {}).get(r.sample_id)
        truth = r.stage or by_sample.get(r.sample_id) or (row.stage if row is not None else None)
        if not truth:
            raise ValueError(f"predictions file {str(path)!r}: no ground truth for sample_id {r.sample_id!r} "
                             f"(no 'stage' column value; not in --questions or --manifest)")
        truth = truth_stage(truth, f"predictions file {str(path)!r} sample {r.sample_id!r}")
        probs = tuple(r.probs.get(s, 0.0) for s in STAGES) if r.probs else None
        night, subject, epoch = place(r.sample_id, manifest, i)
        out.append(EpochResult(r.sample_id, night, subject, epoch, truth, r.pred, "classifier", "", probs))
    return out


def parse_settings(spec: str, where: str = "ablation") -> dict[str, str]:
    """``"fusion=add,cot=stagewise"`` -> ``{"fusion": "add", "cot": "stagewise"}``.

    Keys are ``fusion`` (none, raw, add) and ``cot`` (none, single, stagewise). A name that
    is not such a spec gives ``{}``; a spec with a bad key or value raises ``ValueError``.
    """
    spec = spec.strip()
    if "=" not in spec:
        return {}
    from eeg_vlm.reasoning.cot import COT_VARIANTS  # imported here: it pulls in scipy.signal

    allowed = {"fusion": EEG_FUSION_MODES, "cot": COT_VARIANTS}
    out: dict[str, str] = {}
    for part in re.split(r"[,;]\s*", spec):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"{where}: {part!r} in {spec!r} is not key=value")
        key, value = key.strip().lower(), value.strip().lower()
        check_option("key", key, tuple(allowed), where)
        out[key] = check_option(key, value, allowed[key], where)
    return out


# --------------------------------------------------------------------------------------- scoring


@dataclass
class RunResult:
    """Scores of one run: pooled, per night, bootstrap intervals."""

    run: Run
    pooled: Scores
    nights: NightSummary
    ci: dict[str, tuple[float, float]]
    n_subjects: int


def apply_context(run: Run, context: str, transitions: str | None = None) -> Run:
    """The run with each night decoded by :func:`eeg_vlm.context.hmm.decode_nights`.

    Every epoch needs stage probabilities (label-scoring answers, or a predictions CSV with
    ``prob_*`` columns); ``'none'`` returns the run unchanged.
    """
    import dataclasses

    import numpy as np

    from eeg_vlm.context.hmm import decode_nights

    if context == "none":
        return run
    missing = [e.sample_id for e in run.epochs if e.probs is None]
    if missing:
        raise ValueError(f"run {run.name!r} ({run.source}): --context {context} needs stage probabilities, but "
                         f"{len(missing)} epochs have none, e.g. {missing[0]!r} (use label scoring answers)")
    path, post = decode_nights([e.night for e in run.epochs], [e.epoch for e in run.epochs],
                               np.array([e.probs for e in run.epochs]), context, transitions)
    epochs = [dataclasses.replace(e, pred=STAGES[int(k)], reason=f"{e.reason}; {context} context",
                                  probs=tuple(float(x) for x in q)) for e, k, q in zip(run.epochs, path, post)]
    return dataclasses.replace(run, epochs=epochs)


def evaluate(run: Run, unparseable: str = "wrong", n_boot: int = 1000, seed: int = 0) -> RunResult:
    """Score a run pooled, per night and with subject-bootstrap intervals."""
    if not run.epochs:
        raise ValueError(f"run {run.name!r} ({run.source}): no epochs to score")
    truth = [e.truth for e in run.epochs]
    pred = [e.pred for e in run.epochs]
    subjects = [e.subject for e in run.epochs]
    return RunResult(run, score(truth, pred, unparseable),
                     per_night(truth, pred, [e.night for e in run.epochs], unparseable),
                     bootstrap_ci(truth, pred, subjects, n_boot=n_boot, seed=seed, unparseable=unparseable),
                     len(set(subjects)))
