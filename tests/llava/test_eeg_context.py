"""``--eeg_context K``: the neighbours' feature rows in the slot, padded at a night's edges."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from llava.constants import IMAGE_TOKEN_INDEX
from llava.eeg_features import FeatureStore, write_sidecar
from llava.mm_utils import tokenizer_image_token
from llava.model import EEGFusion
from llava.model.builder import load_pretrained_model
from ondisk.neighbours import PAD, neighbour_index

N_PATCH = 576
TWO_TAGS = "USER: <image>\n<image>\nWhich sleep stage is this? ASSISTANT:"


def test_neighbours_padded_at_the_edges_of_a_night_never_borrowed():
    ids = ["A/000000", "A/000001", "A/000002", "B/000000", "B/000001", "A/000004", "odd-id"]
    idx = neighbour_index(ids, 2)
    assert idx.shape == (7, 5)
    assert idx[0].tolist() == [PAD, PAD, 0, 1, 2]  # first epoch of night A: nothing before it
    assert idx[2].tolist() == [0, 1, 2, PAD, 5]  # epoch 3 of A is missing: padded, not B's row
    assert idx[3].tolist() == [PAD, PAD, 3, 4, PAD]  # night B begins: A's last epochs are not borrowed
    assert idx[4].tolist() == [PAD, 3, 4, PAD, PAD]  # last epoch of night B
    assert idx[6].tolist() == [PAD, PAD, 6, PAD, PAD]
    assert neighbour_index(ids, 0)[:, 0].tolist() == list(range(7))
    with pytest.raises(ValueError, match="k must be an integer >= 0"):
        neighbour_index(ids, -1)


def test_feature_store_context_rows(tmp_path):
    rows = np.arange(1, 6, dtype=np.float32)[:, None, None] * np.ones((5, 1, 4), np.float32)  # row i = i + 1
    path = tmp_path / "f.npy"
    np.save(path, rows)
    ids = ["A/000000", "A/000001", "A/000002", "B/000000", "B/000001"]
    write_sidecar(path, ids)
    store = FeatureStore(path, ids)
    assert store.context_rows(0, 1)[:, 0].tolist() == [0.0, 1.0, 2.0]  # padded before the first epoch
    assert store.context_rows(2, 1)[:, 0].tolist() == [2.0, 3.0, 0.0]  # night A ends: B's first is not used
    assert store.context_rows(3, 2)[:, 0].tolist() == [0.0, 0.0, 4.0, 5.0, 0.0]
    assert store.context_rows(1, 0).shape == (1, 4)
    # a split's features file holds only its own samples: a neighbour in another split is padding
    eval_ids = ["A/000001"]
    np.save(tmp_path / "e.npy", rows[1:2])
    write_sidecar(tmp_path / "e.npy", eval_ids)
    assert FeatureStore(tmp_path / "e.npy", eval_ids).context_rows(0, 1)[:, 0].tolist() == [0.0, 2.0, 0.0]


@pytest.mark.parametrize("k", [0, 1, 2])
def test_slot_token_counts_with_context(k):
    assert EEGFusion("add", k).visual_token_count(N_PATCH, 2) == 2 * N_PATCH + 2 * k
    assert EEGFusion("raw", k).visual_token_count(N_PATCH, 2) == N_PATCH + 2 * k + 1
    assert EEGFusion("none", k).visual_token_count(N_PATCH, 1) == N_PATCH


@pytest.fixture(scope="module")
def loaded(tiny_base):
    tokenizer, model, _, _ = load_pretrained_model(str(tiny_base), None, None, device="cpu")
    return tokenizer, model


@pytest.mark.parametrize("fusion", ["add", "raw"])
@pytest.mark.parametrize("k", [0, 1, 2])
def test_tiny_model_splices_2k_more_tokens(loaded, fusion, k):
    tok, model = loaded
    model.config.eeg_fusion, model.config.eeg_context = fusion, k
    model.config.tokenizer_model_max_length = 4096
    ids = tokenizer_image_token(TWO_TAGS, tok, return_tensors="pt")[None]
    g = torch.Generator().manual_seed(k)
    images, feats = torch.randn(1, 3, 336, 336, generator=g), torch.randn(1, 2 * k + 1, 1024, generator=g)
    try:
        out = model.prepare_inputs_labels_for_multimodal(ids, None, None, None, ids.clone(), images, None,
                                                         eeg_features=feats)
        embeds = out[4]
        n_text = int((ids != IMAGE_TOKEN_INDEX).sum())
        n_visual = (2 * N_PATCH + 2 * k) if fusion == "add" else (N_PATCH + 2 * k + 1)
        assert embeds.shape[1] == n_text + n_visual
        assert n_visual == EEGFusion(fusion, k).visual_token_count(N_PATCH, 2)
        if k:
            hf = model.encode_eeg_features(feats)[0]  # (2k + 1, hidden)
            start = int((ids[0] == IMAGE_TOKEN_INDEX).nonzero()[1]) + N_PATCH - 1  # slot 2, after slot 1
            slot = embeds[0, start:start + n_visual - N_PATCH]
            neighbours = torch.cat([hf[:k], hf[k + 1:]])
            torch.testing.assert_close(slot[-2 * k:], neighbours if fusion == "add" else hf[-2 * k:])
        with pytest.raises(ValueError, match=rf"expected shape \(batch, {2 * k + 1}, D\) for eeg_context {k}"):
            model.prepare_inputs_labels_for_multimodal(ids, None, None, None, None, images, None,
                                                       eeg_features=torch.randn(1, 2 * k + 2, 1024))
    finally:
        model.config.eeg_context = 0
        model.config.eeg_fusion = "add"


def test_context_recorded_in_the_config(tmp_path):
    from llava.model import LlavaConfig

    cfg = LlavaConfig(eeg_context=2)
    cfg.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["eeg_context"] == 2
    with pytest.raises(ValueError, match="eeg_context must be an integer >= 0"):
        LlavaConfig(eeg_context=-1)
