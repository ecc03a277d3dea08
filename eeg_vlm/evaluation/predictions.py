"""Predictions of classifiers (the feature extractor, baselines, YASA) as scored epochs.

A predictions CSV has ``sample_id, stage, pred`` and optionally one probability column
per stage (``prob_W`` ...); :func:`yasa_predictions` runs YASA's classifier on the
converted signals beside a manifest.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eeg_vlm.checks import check_file, check_option
from eeg_vlm.dataset.manifest import read_manifest
from eeg_vlm.stages import STAGE_INDEX, STAGES, to_aasm
from ondisk import CONVERT_JSON, join_inside, read_convert_json, read_text

logger = logging.getLogger(__name__)

__all__ = ["PredictionRow", "read_predictions_csv", "yasa_available", "yasa_predictions"]


@dataclass(frozen=True)
class PredictionRow:
    """One scored epoch from a classifier.

    Attributes
    ----------
    sample_id : str
        ``<record_id>/<epoch:06d>``.
    stage : str or None
        True stage, if the file carries it.
    pred : str
        Predicted stage.
    probs : dict or None
        Stage -> probability, if the file carries them.
    """

    sample_id: str
    stage: str | None
    pred: str
    probs: dict[str, float] | None = None


_PROB_PREFIXES = ("prob_", "probs_", "proba_", "p_", "prob:", "p(")


def _prob_column(name: str) -> str | None:
    key = name.strip()
    for pre in _PROB_PREFIXES:
        if key.lower().startswith(pre):
            key = key[len(pre):].rstrip(")")
            break
    else:
        if key.upper() not in STAGE_INDEX and key.upper() != "R":
            return None
    key = key.upper()
    key = "REM" if key == "R" else key
    return key if key in STAGE_INDEX else None


def _stage_or_error(value: str, where: str) -> str:
    try:
        stage = to_aasm(value)
    except ValueError:
        stage = None
    if stage is None:
        raise ValueError(f"{where}: {value!r} is not a sleep stage; expected one of {', '.join(STAGES)}")
    return stage


def read_predictions_csv(path: str | Path) -> list[PredictionRow]:
    """Read a classifier's predictions CSV.

    Columns: ``sample_id``, ``pred`` (required), ``stage`` (truth, optional) and optional
    per-stage probabilities named ``prob_W``/``p_W``/``W``... (``R`` is read as REM).

    Raises
    ------
    ValueError
        On a missing column, a duplicate sample_id or a value that is not a stage, naming
        the file and line.
    """
    path = check_file(path, "predictions file")
    with io.StringIO(read_text(path, "predictions file"), newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        for col in ("sample_id", "pred"):
            if col not in header:
                raise ValueError(f"predictions file {str(path)!r}: column {col!r} missing; "
                                 f"columns: {', '.join(header)}")
        prob_cols = {c: s for c in header if c not in ("sample_id", "stage", "pred")
                     for s in [_prob_column(c)] if s is not None}
        rows: list[PredictionRow] = []
        seen: set[str] = set()
        for line, rec in enumerate(reader, start=2):
            where = f"predictions file {str(path)!r} line {line}"
            sid = (rec.get("sample_id") or "").strip()
            if not sid:
                raise ValueError(f"{where}: empty sample_id")
            if sid in seen:
                raise ValueError(f"{where}: duplicate sample_id {sid!r}")
            seen.add(sid)
            truth = rec.get("stage")
            truth = _stage_or_error(truth, where) if truth not in (None, "") else None
            pred = _stage_or_error(rec["pred"], where)
            probs = None
            if prob_cols:
                try:
                    probs = {s: float(rec[c]) for c, s in prob_cols.items()}
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{where}: probability is not a number ({exc})") from None
            rows.append(PredictionRow(sid, truth, pred, probs))
    logger.info("read %d predictions from %s", len(rows), path)
    return rows


def yasa_available() -> bool:
    """Whether the optional classical baseline (the ``yasa`` package) can be imported."""
    try:
        import yasa  # noqa: F401
    except ImportError:
        return False
    return True


def yasa_predictions(manifest: str | Path, eeg: str | None = None, eog: str | None = None,
                     emg: str | None = None) -> list[PredictionRow]:
    """Stage every epoch of a converted dataset with YASA's pre-trained classifier.

    Reads ``signals/<record_id>.npy`` (float32 ``(n_epochs, C, T)`` µV, rows in manifest
    order) and ``convert.json`` (``channels``, ``sfreq``) beside ``manifest``, joins each
    record's epochs into one signal and runs ``yasa.SleepStaging``. Epochs that ``convert``
    dropped (trimmed wake, unscored) are absent, so YASA sees the kept epochs back to back:
    its 30-s alignment holds, its temporal smoothing spans the gaps.

    Parameters
    ----------
    manifest : path
        ``manifest.csv`` written by ``eeg-vlm convert``.
    eeg, eog, emg : str, optional
        Channel names as listed in ``convert.json``; ``eeg`` defaults to the first channel.

    Raises
    ------
    ImportError
        When ``yasa`` (optional, not a dependency) is not installed.
    """
    if not yasa_available():
        raise ImportError("yasa_predictions: the optional 'yasa' package is not installed "
                          "(pip install yasa) — the YASA baseline row is skipped without it")
    import mne
    import yasa

    manifest = check_file(manifest, "manifest")
    root = manifest.parent
    meta_path = check_file(root / CONVERT_JSON, "conversion settings")
    meta = read_convert_json(root)
    channels = [c if isinstance(c, str) else c.get("name") for c in meta.get("channels", [])]
    sfreq = float(meta["sfreq"])
    if not channels:
        raise ValueError(f"file {str(meta_path)!r}: 'channels' is empty; cannot pick an EEG channel")
    for role, name in (("eeg", eeg), ("eog", eog), ("emg", emg)):
        if name is not None:
            check_option(role, name, channels, "yasa_predictions")
    eeg = eeg or channels[0]
    by_record: dict[str, list[tuple[str, str]]] = {}
    for row in read_manifest(manifest):
        by_record.setdefault(row.record_id, []).append((row.sample_id, row.stage))
    out: list[PredictionRow] = []
    for record_id in sorted(by_record):
        sig_path = check_file(join_inside(root / "signals", f"{record_id}.npy", f"manifest {str(manifest)!r}", "record id"),
                              "signals file")
        data = np.load(sig_path, mmap_mode="r", allow_pickle=False)
        rows = by_record[record_id]
        if data.shape[0] != len(rows):
            raise ValueError(f"signals file {str(sig_path)!r}: {data.shape[0]} epochs but the manifest "
                             f"lists {len(rows)} for record {record_id!r}")
        cont = np.transpose(np.asarray(data, dtype=np.float64), (1, 0, 2)).reshape(len(channels), -1)
        info = mne.create_info(channels, sfreq, ch_types="eeg", verbose=False)
        raw = mne.io.RawArray(cont * 1e-6, info, verbose=False)  # YASA expects volts
        sls = yasa.SleepStaging(raw, eeg_name=eeg, eog_name=eog, emg_name=emg)
        hyp = sls.predict()
        # YASA >= 0.7 returns a Hypnogram (values in .hypno, probabilities in .proba);
        # older versions return an array and offer predict_proba().
        proba = hyp.proba if hasattr(hyp, "proba") else sls.predict_proba()
        values = hyp.hypno if hasattr(hyp, "hypno") else hyp
        labels = [to_aasm(str(x)) for x in np.asarray(values)]
        pcols = {to_aasm(str(c)): c for c in proba.columns}
        for i, (sid, truth) in enumerate(rows):
            probs = {s: float(proba.iloc[i][pcols[s]]) for s in STAGES if s in pcols}
            out.append(PredictionRow(sid, truth or None, labels[i], probs))
    return out
