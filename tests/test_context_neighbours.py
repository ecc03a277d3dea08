"""The ±k neighbour head of the vision module: inputs padded per night, learns, round-trips, stages."""

from __future__ import annotations

import numpy as np
import pytest

from eeg_vlm.context.neighbours import context_inputs, fit_neighbour_head, load_neighbour_head, main
from eeg_vlm.stages import STAGES


def test_inputs_pad_the_edges_of_each_night():
    probs = np.full((4, 5), 0.2)
    probs[1] = [0.6, 0.1, 0.1, 0.1, 0.1]
    ids = ["A/000000", "A/000001", "B/000000", "B/000001"]
    x = context_inputs(probs, ids, 1).reshape(4, 3, 6)  # (epochs, offsets, 5 log-probs + pad flag)
    assert x[0, 0, 5] == 1 and np.all(x[0, 0, :5] == 0)  # nothing before the first epoch of A
    np.testing.assert_allclose(x[0, 2, :5], np.log(probs[1]))  # A/1 after A/0
    assert x[1, 2, 5] == 1  # A/1 is the last of A: B/0 is not its neighbour
    assert x[2, 0, 5] == 1 and x[3, 2, 5] == 1
    assert x[2, 1, 5] == 0 and x[2, 2, 5] == 0


def _nights(rng, n_nights=6, n=200):
    """Runs of stages with a noisy classifier that is right about half of the time."""
    ids, truth, probs = [], [], []
    for night in range(n_nights):
        stage = 0
        for e in range(n):
            if rng.random() < 0.08:
                stage = int(rng.integers(0, 5))
            ids.append(f"N{night}/{e:06d}")
            truth.append(STAGES[stage])
            z = rng.normal(0, 1.0, 5)
            z[stage] += 1.0
            probs.append(np.exp(z) / np.exp(z).sum())
    return ids, truth, np.array(probs)


def test_head_learns_from_neighbours_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    ids, truth, probs = _nights(rng)
    test_ids, test_truth, test_probs = _nights(np.random.default_rng(1))
    head = fit_neighbour_head(probs, ids, truth, k=3)
    acc_plain = np.mean([STAGES[i] == t for i, t in zip(test_probs.argmax(axis=1), test_truth)])
    ctx = head.predict_proba(test_probs, test_ids)
    acc_ctx = np.mean([STAGES[i] == t for i, t in zip(ctx.argmax(axis=1), test_truth)])
    assert acc_ctx > acc_plain + 0.1
    path = tmp_path / "head.json"
    path.write_text(head.to_json())
    back = load_neighbour_head(path)
    np.testing.assert_allclose(back.predict_proba(test_probs, test_ids), ctx)
    with pytest.raises(ValueError, match="need one stage of"):
        fit_neighbour_head(probs[:3], ids[:3], ["W", "X", "W"], k=1)


def test_neighbour_head_command(tmp_path, capsys):
    rng = np.random.default_rng(2)
    ids, truth, probs = _nights(rng, n_nights=2, n=60)
    lines = ["sample_id,stage,pred," + ",".join(f"prob_{s}" for s in STAGES)]
    lines += [f"{i},{t},{STAGES[int(p.argmax())]}," + ",".join(f"{v:.6f}" for v in p)
              for i, t, p in zip(ids, truth, probs)]
    csv = tmp_path / "predictions_val.csv"
    csv.write_text("\n".join(lines) + "\n")
    assert main([str(csv), "--k", "1", "--out", str(tmp_path / "h.json")]) == 0
    assert load_neighbour_head(tmp_path / "h.json").n_train == 120
    assert "fitted on 120 epochs" in capsys.readouterr().out
