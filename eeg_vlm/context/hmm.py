"""Night context by a hidden Markov model over the five stages.

A per-epoch classifier (the vision module's head, or LLaVA label scoring) sees one 30-s
epoch at a time. Human scorers do not: they read the night, and stages follow each other
with strong regularities (N3 is entered from N2, REM rarely from wake, runs last minutes).
This module combines the two in the usual hybrid way:

- hidden states: the stages in :data:`eeg_vlm.stages.STAGES` order;
- transitions ``A[i, j] = P(stage_t = j | stage_{t-1} = i)``, estimated from expert
  hypnograms (:mod:`eeg_vlm.context.transitions`, shipped as a small JSON file);
- emissions: the classifier's per-epoch probabilities ``p(s | x_t)`` divided by the class
  prior it was trained with (``p(s | x) / p(s)`` is proportional to ``p(x | s)``); with
  ``prior=None`` the probabilities are used as they are, which is the right choice for a
  classifier trained with balanced class weights.

:func:`viterbi` returns the most probable stage sequence; :func:`forward_backward` the
posterior probability of each stage at each epoch (a hypnodensity that has seen the whole
night). Both work in log space (no underflow on a 1,000-epoch night) and cost
``O(T * S^2)`` for ``T`` epochs and ``S = 5`` stages.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["emission_log", "viterbi", "forward_backward", "decode", "night_context", "decode_nights",
           "classifier_prior", "CONTEXTS"]

#: ``--context`` choices of the staging and report commands.
CONTEXTS: tuple[str, ...] = ("none", "hmm")

_TINY = 1e-12


def _check(probs: np.ndarray, trans: np.ndarray, initial: np.ndarray, where: str) -> tuple[np.ndarray, ...]:
    p = np.asarray(probs, dtype=np.float64)
    a = np.asarray(trans, dtype=np.float64)
    pi = np.asarray(initial, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"{where}: probabilities must be (n_epochs, n_stages), got shape {p.shape}")
    s = p.shape[1]
    if a.shape != (s, s) or pi.shape != (s,):
        raise ValueError(f"{where}: transition matrix {a.shape} and initial {pi.shape} do not fit "
                         f"{s} stages of the probabilities")
    if not (np.all(np.isfinite(p)) and np.all(p >= 0)):
        raise ValueError(f"{where}: probabilities must be finite and >= 0")
    if np.any(a < 0) or not np.allclose(a.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"{where}: transition matrix rows must be probabilities summing to 1, got row sums "
                         f"{np.round(a.sum(axis=1), 6).tolist()}")
    if np.any(pi < 0) or not np.isclose(pi.sum(), 1.0, atol=1e-6):
        raise ValueError(f"{where}: initial probabilities must sum to 1, got {pi.sum():.6f}")
    return p, a, pi


def emission_log(probs: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """Log emission scores ``log p(s | x_t) - log p(s)`` of shape ``(n_epochs, n_stages)``.

    Parameters
    ----------
    probs : np.ndarray, shape (n_epochs, n_stages)
        Per-epoch stage probabilities (rows need not sum to 1).
    prior : np.ndarray, shape (n_stages,), optional
        The class prior the classifier learned; ``None``: no division.
    """
    out = np.log(np.maximum(np.asarray(probs, dtype=np.float64), _TINY))
    if prior is not None:
        out = out - np.log(np.maximum(np.asarray(prior, dtype=np.float64), _TINY))[None, :]
    return out


def viterbi(probs: np.ndarray, trans: np.ndarray, initial: np.ndarray,
            prior: np.ndarray | None = None) -> np.ndarray:
    """The most probable state sequence of one night.

    Parameters
    ----------
    probs : np.ndarray, shape (n_epochs, n_states)
        Per-epoch state probabilities (or likelihoods) from the classifier.
    trans : np.ndarray, shape (n_states, n_states)
        ``trans[i, j] = P(state j at t | state i at t - 1)``.
    initial : np.ndarray, shape (n_states,)
        Probabilities of the first epoch's state.
    prior : np.ndarray, shape (n_states,), optional
        Classifier prior to divide out (see :func:`emission_log`).

    Returns
    -------
    np.ndarray, shape (n_epochs,)
        State index per epoch. Ties go to the lower state index.
    """
    p, a, pi = _check(probs, trans, initial, "viterbi")
    n, s = p.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    emit = emission_log(p, prior)
    log_a = np.log(np.maximum(a, _TINY))
    delta = np.log(np.maximum(pi, _TINY)) + emit[0]  # (S,)
    back = np.zeros((n, s), dtype=np.int64)
    for t in range(1, n):
        cand = delta[:, None] + log_a  # (S_prev, S_next)
        back[t] = np.argmax(cand, axis=0)
        delta = cand[back[t], np.arange(s)] + emit[t]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(np.argmax(delta))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def forward_backward(probs: np.ndarray, trans: np.ndarray, initial: np.ndarray,
                     prior: np.ndarray | None = None) -> np.ndarray:
    """Posterior state probabilities of each epoch given the whole night.

    Parameters are those of :func:`viterbi`.

    Returns
    -------
    np.ndarray, shape (n_epochs, n_states)
        Rows sum to 1.
    """
    p, a, pi = _check(probs, trans, initial, "forward_backward")
    n, s = p.shape
    if n == 0:
        return np.zeros((0, s))
    emit = emission_log(p, prior)
    log_a = np.log(np.maximum(a, _TINY))
    alpha = np.zeros((n, s))
    beta = np.zeros((n, s))
    alpha[0] = np.log(np.maximum(pi, _TINY)) + emit[0]
    for t in range(1, n):
        alpha[t] = _logsumexp(alpha[t - 1][:, None] + log_a, axis=0) + emit[t]
    for t in range(n - 2, -1, -1):
        beta[t] = _logsumexp(log_a + (emit[t + 1] + beta[t + 1])[None, :], axis=1)
    post = alpha + beta
    post -= _logsumexp(post, axis=1)[:, None]
    return np.exp(post)


def decode(probs: np.ndarray, trans: np.ndarray, initial: np.ndarray,
           prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi path and forward-backward posteriors of one night (see the module docstring).

    Returns
    -------
    path : np.ndarray, shape (n_epochs,)
    posterior : np.ndarray, shape (n_epochs, n_states)
    """
    return viterbi(probs, trans, initial, prior), forward_backward(probs, trans, initial, prior)


def classifier_prior(vision_meta: dict, vision_model=None) -> np.ndarray | None:
    """The stage frequencies a vision checkpoint was trained on, to divide out of its outputs.

    A classifier's probabilities already hold its training prior; the HMM adds the
    hypnograms' own, so without dividing the first out the common stages are counted twice.
    ``None`` (nothing divided) for a model trained with balanced class weights, or when
    its training manifest (``train_args.manifest`` in its ``config.json``) is not found.
    """
    from pathlib import Path

    from eeg_vlm.dataset.manifest import read_manifest
    from eeg_vlm.stages import STAGES

    args = vision_meta.get("train_args") or {}
    if str(args.get("class_weights", "none")) != "none" or not args.get("manifest"):
        return None
    manifest = Path(args["manifest"])
    candidates = [manifest] + ([] if manifest.is_absolute() or vision_model is None else
                               [p / manifest for p in (Path(vision_model), *Path(vision_model).parents)])
    found = next((m for m in candidates if m.is_file()), None)
    if found is None:
        logger.warning("training manifest %s not found: the HMM does not divide out the classifier's prior", manifest)
        return None
    split = str(args.get("train_split", "train"))
    counts = np.zeros(len(STAGES))
    for row in read_manifest(found):
        if row.split == split and row.stage in STAGES:
            counts[STAGES.index(row.stage)] += 1
    if counts.sum() == 0:
        return None
    return (counts + 1.0) / (counts.sum() + len(STAGES))


def night_context(probs: np.ndarray, context: str = "hmm", transitions: str | None = None,
                  prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Stages of one night with context: ``(path, posterior, source)``.

    Parameters
    ----------
    probs : np.ndarray, shape (n_epochs, 5)
        Per-epoch stage probabilities in :data:`eeg_vlm.stages.STAGES` order, in time order.
    context : str
        ``'none'`` (argmax of ``probs``; ``posterior`` is ``probs`` normalised) or ``'hmm'``
        (Viterbi path, forward-backward posterior).
    transitions : path, optional
        Transitions file (default: the shipped Sleep-EDF-197 matrix).
    prior : np.ndarray, shape (5,), optional
        The classifier's training prior, divided out of ``probs`` (:func:`classifier_prior`).

    Returns
    -------
    path : np.ndarray, shape (n_epochs,)
        Stage index per epoch.
    posterior : np.ndarray, shape (n_epochs, 5)
    source : str
        The transitions file used (``''`` for ``'none'``).
    """
    from eeg_vlm.checks import check_option
    from eeg_vlm.context.transitions import load_transitions

    check_option("context", context, CONTEXTS, "night_context")
    p = np.asarray(probs, dtype=np.float64)
    if context == "none":
        norm = p / np.maximum(p.sum(axis=1, keepdims=True), _TINY)
        return np.argmax(p, axis=1) if len(p) else np.zeros(0, dtype=np.int64), norm, ""
    model = load_transitions(transitions)
    path, post = decode(p, model.transition, model.initial, prior)
    logger.info("HMM context over %d epochs with %s: %d epochs changed", len(p), model.source,
                int(np.sum(path != np.argmax(p, axis=1))) if len(p) else 0)
    return path, post, model.source


def decode_nights(nights: list[str], epochs: list[int], probs: np.ndarray, context: str = "hmm",
                  transitions: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`night_context` applied night by night to epochs given in any order.

    Parameters
    ----------
    nights : list of str
        Night (record id) of each epoch; the context never crosses from one night to another.
    epochs : list of int
        Epoch index of each epoch within its night (time order); gaps are allowed and are
        decoded as if the epochs were consecutive.
    probs : np.ndarray, shape (n, 5)
        Stage probabilities of each epoch.

    Returns
    -------
    path : np.ndarray, shape (n,)
        Stage index per epoch, in the input order.
    posterior : np.ndarray, shape (n, 5)
    """
    p = np.asarray(probs, dtype=np.float64)
    if not (len(nights) == len(epochs) == len(p)):
        raise ValueError(f"decode_nights: {len(nights)} nights, {len(epochs)} epoch numbers and {len(p)} "
                         f"probability rows must be as many")
    path = np.zeros(len(p), dtype=np.int64)
    post = np.zeros_like(p)
    by_night: dict[str, list[int]] = {}
    for i, n in enumerate(nights):
        by_night.setdefault(n, []).append(i)
    for n, idx in by_night.items():
        order = sorted(idx, key=lambda i: epochs[i])
        seen = [epochs[i] for i in order]
        if len(set(seen)) != len(seen):
            raise ValueError(f"decode_nights: night {n!r} has epoch {next(e for e in seen if seen.count(e) > 1)} "
                             f"twice")
        sub_path, sub_post, _ = night_context(p[order], context, transitions)
        path[order] = sub_path
        post[order] = sub_post
    return path, post
