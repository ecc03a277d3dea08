"""The stage-transition HMM: Viterbi and forward-backward, the shipped matrix, staging and report."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from eeg_vlm.context.hmm import decode_nights, forward_backward, night_context, viterbi
from eeg_vlm.context.transitions import SHIPPED, build_transitions, count_transitions, load_transitions, main
from eeg_vlm.stages import STAGES

PI = np.array([0.5, 0.3, 0.2])
A = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
P = np.array([[0.6, 0.3, 0.1], [0.3, 0.4, 0.3], [0.6, 0.2, 0.2]])


def test_viterbi_hand_computed_3_state_toy():
    # delta_0 = pi * p_0 = [0.30, 0.09, 0.02]
    # delta_1[j] = max_i delta_0[i] A[i, j] * p_1[j]:
    #   j=0: max(0.24, 0.009, 0.002) * 0.3 = 0.072  (from 0)
    #   j=1: max(0.03, 0.072, 0.002) * 0.4 = 0.0288 (from 1)
    #   j=2: max(0.03, 0.009, 0.016) * 0.3 = 0.009  (from 0)
    # delta_2: j=0: max(0.0576, 0.00288, 0.0009) * 0.6 = 0.03456 (from 0); j=1: 0.02304 * 0.2 = 0.004608;
    #   j=2: 0.0072 * 0.2 = 0.00144  -> best end state 0, back-pointers 0 <- 0 <- 0
    assert viterbi(P, A, PI).tolist() == [0, 0, 0]
    assert P.argmax(axis=1).tolist() == [0, 1, 0]  # the middle epoch alone would say 1
    # with a sticky state 1 the middle epoch holds the path there: every path checked by brute force
    def brute(p, a, pi):
        def score(path):
            return pi[path[0]] * p[0, path[0]] * np.prod([a[path[t - 1], path[t]] * p[t, path[t]]
                                                          for t in range(1, len(path))])
        return max(itertools.product(range(3), repeat=len(p)), key=score)
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.dirichlet(np.ones(3), size=5)
        a = rng.dirichlet(np.ones(3), size=3)
        pi = rng.dirichlet(np.ones(3))
        assert tuple(viterbi(p, a, pi).tolist()) == brute(p, a, pi)


def test_forward_backward_matches_enumeration():
    paths = list(itertools.product(range(3), repeat=3))
    weight = {s: PI[s[0]] * P[0, s[0]] * A[s[0], s[1]] * P[1, s[1]] * A[s[1], s[2]] * P[2, s[2]] for s in paths}
    z = sum(weight.values())
    expected = np.array([[sum(w for s, w in weight.items() if s[t] == k) / z for k in range(3)] for t in range(3)])
    np.testing.assert_allclose(forward_backward(P, A, PI), expected, rtol=1e-10)
    # a long night does not underflow
    long = np.tile(P, (400, 1))
    post = forward_backward(long, A, PI)
    assert np.all(np.isfinite(post)) and np.allclose(post.sum(axis=1), 1.0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="rows must be probabilities summing to 1"):
        viterbi(P, A * 2, PI)
    with pytest.raises(ValueError, match=r"do not fit 3 stages"):
        viterbi(P, np.eye(2), PI)
    with pytest.raises(ValueError, match="invalid value for the 'context' parameter"):
        night_context(P, "crf")


def _noisy_classifier(truth: list[str], rng: np.random.Generator) -> np.ndarray:
    """Per-epoch probabilities of a classifier that is right about half of the time."""
    idx = np.array([STAGES.index(s) for s in truth])
    logits = rng.normal(0.0, 1.0, size=(len(idx), 5))
    logits[np.arange(len(idx)), idx] += 1.0
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def test_hmm_context_at_least_as_accurate_on_synthetic_nights():
    from eeg_vlm.dataset.synthetic import synth_hypnogram
    from eeg_vlm.stages import to_aasm

    plain, ctx = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        truth = [s for s in map(to_aasm, synth_hypnogram(600, rng)) if s is not None]
        probs = _noisy_classifier(truth, rng)
        path, post, source = night_context(probs, "hmm")
        assert source.endswith(SHIPPED)
        np.testing.assert_allclose(post.sum(axis=1), 1.0)
        idx = np.array([STAGES.index(s) for s in truth])
        plain.append(np.mean(probs.argmax(axis=1) == idx))
        ctx.append(np.mean(path == idx))
    assert 0.4 < np.mean(plain) < 0.6  # a weak per-epoch classifier
    assert min(c - p for c, p in zip(ctx, plain)) >= 0.0
    assert np.mean(ctx) > np.mean(plain) + 0.1


def test_decode_nights_never_crosses_nights():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(5), size=20)
    nights = ["a"] * 10 + ["b"] * 10
    epochs = list(range(10)) * 2
    order = rng.permutation(20)
    path, _ = decode_nights([nights[i] for i in order], [epochs[i] for i in order], probs[order])
    alone_a, _, _ = night_context(probs[:10])
    alone_b, _, _ = night_context(probs[10:])
    back = np.empty(20, dtype=int)
    back[order] = path
    assert back.tolist() == alone_a.tolist() + alone_b.tolist()
    with pytest.raises(ValueError, match="night 'a' has epoch 3 twice"):
        decode_nights(["a", "a"], [3, 3], probs[:2])


def test_count_transitions_skips_pairs_across_unscored():
    c = count_transitions([["W", "W", None, "N1", "N2"], ["N2", "REM"]])
    t = np.array(c["transitions"])
    assert t[0, 0] == 1 and t[0, 1] == 0  # W -> ? -> N1 is not a W -> N1 transition
    assert t[1, 2] == 1 and t[2, 4] == 1 and t.sum() == 3
    assert c["stages"] == [2, 1, 2, 0, 1] and c["first_stage"] == [1, 0, 1, 0, 0]
    assert (c["nights"], c["epochs"], c["unscored"]) == (2, 7, 1)


def test_transitions_command_on_json_and_errors(tmp_path, capsys):
    folder = tmp_path / "hyp"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps([0, 0, 1, 2, 2, -1, 3]))
    (folder / "b.json").write_text(json.dumps([2, 4, 4]))
    out = tmp_path / "t.json"
    assert main([str(folder), "--out", str(out), "--pseudo-count", "0.5"]) == 0
    data = json.loads(out.read_text())
    assert data["counts"]["transitions"][4][4] == 1
    assert data["transition"][0] == pytest.approx([1.5 / 4.5, 1.5 / 4.5, 0.5 / 4.5, 0.5 / 4.5, 0.5 / 4.5])
    assert data["provenance"]["files"] == ["a.json", "b.json"] and data["smoothing"]["pseudo_count"] == 0.5
    model = load_transitions(out)
    assert model.transition.shape == (5, 5) and model.initial.sum() == pytest.approx(1.0)
    (folder / "c.json").write_text(json.dumps([0, 7]))
    assert main([str(folder), "--out", str(tmp_path / "u.json")]) == 1
    assert "c.json': epoch 1 has code 7" in capsys.readouterr().err
    with pytest.raises(ValueError, match="format is not"):
        load_transitions(folder / "a.json")


def test_shipped_matrix_rebuilt_bit_for_bit(shared_data, tmp_path):
    folder = shared_data / "sleep-edf-197"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    shipped = Path(load_transitions().source)
    out = tmp_path / SHIPPED
    assert main([str(folder), "--out", str(out)]) == 0
    assert out.read_bytes() == shipped.read_bytes()
    data = json.loads(shipped.read_text())
    assert data["counts"]["stages"] == [69993, 25175, 88983, 19454, 34184]  # the folder README's figures
    assert data["counts"]["nights"] == 197 and data["counts"]["unscored"] == 754
    assert len(data["provenance"]["files"]) == 197
    a = np.array(data["transition"])
    assert np.all(np.diag(a) > 0.7) and a[0, 3] < 0.01  # stages persist; wake rarely goes straight to N3


def test_report_context_hmm_decodes_label_scoring_answers(tmp_path, capsys):
    from eeg_vlm.evaluation.report import main as report

    rng = np.random.default_rng(4)
    truth = ["W"] * 10 + ["N1"] * 3 + ["N2"] * 20 + ["N3"] * 10 + ["N2"] * 5 + ["REM"] * 12
    probs = _noisy_classifier(truth, rng)
    lines = []
    for night in ("A", "B"):
        for i, (t, p) in enumerate(zip(truth, probs)):
            lines.append(json.dumps({"question_id": f"{night}/{i:06d}", "text": "", "metadata": {
                "stage": t, "pred": STAGES[int(np.argmax(p))], "probs": dict(zip(STAGES, p.tolist()))}}))
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join(lines) + "\n")
    assert report(["--answers", str(answers), "--out", str(tmp_path / "r"), "--no-plots", "--n-boot", "10",
                   "--context", "hmm"]) == 0
    out = capsys.readouterr().out
    path, _, _ = night_context(probs, "hmm")
    acc = np.mean([STAGES[k] == t for k, t in zip(path, truth)])
    assert f"acc {acc:.3f}" in out
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({"question_id": "A/000000", "text": "Sleep stage: W", "metadata": {"stage": "W"}})
                    + "\n")
    assert report(["--answers", str(bare), "--out", str(tmp_path / "r2"), "--no-plots", "--context", "hmm"]) == 2
    assert "needs stage probabilities" in capsys.readouterr().err
