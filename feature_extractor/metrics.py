"""Stage-classification scores (scikit-learn): accuracy, macro-F1, Cohen's kappa and more."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np

from feature_extractor.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["classification_metrics"]


def _clean(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str] = STAGES) -> dict:
    """Scores of predicted class indices against the truth.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``kappa`` (Cohen's), ``balanced_accuracy``,
        ``weighted_f1`` (Table 1 of the PSG-LLaVA paper reports B-Acc and W-F1),
        ``per_class_f1`` {class: F1} and ``confusion`` (rows truth, columns prediction, in
        ``classes`` order). Undefined values (e.g. kappa with one class) are ``None``.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        cohen_kappa_score,
        confusion_matrix,
        f1_score,
    )

    yt = np.asarray(y_true, dtype=int)
    yp = np.asarray(y_pred, dtype=int)
    if yt.shape != yp.shape:
        raise ValueError(f"metrics: {yt.size} true labels but {yp.size} predictions")
    labels = list(range(len(classes)))
    if yt.size == 0:
        return {"n": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per_class = f1_score(yt, yp, labels=labels, average=None, zero_division=0)
        return {
            "n": int(yt.size),
            "accuracy": float(accuracy_score(yt, yp)),
            # macro over the classes that occur in the truth or the predictions (scikit-learn's default)
            "macro_f1": float(f1_score(yt, yp, average="macro", zero_division=0)),
            "kappa": _clean(cohen_kappa_score(yt, yp, labels=labels)),
            "balanced_accuracy": _clean(balanced_accuracy_score(yt, yp)),
            "weighted_f1": float(f1_score(yt, yp, labels=labels, average="weighted", zero_division=0)),
            "per_class_f1": {c: float(per_class[i]) for i, c in enumerate(classes)},
            "confusion": confusion_matrix(yt, yp, labels=labels).tolist(),
        }
