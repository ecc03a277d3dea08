"""The EEG-VLM slot in LlavaLlamaForCausalLM: token counts, fusion maths, errors, forward/generate."""

from __future__ import annotations

import pytest
import torch

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.mm_utils import tokenizer_image_token
from llava.model.builder import load_pretrained_model

N_PATCH = 576
TWO_TAGS = "USER: <image>\n<image>\nWhich sleep stage is this? ASSISTANT:"
ONE_TAG = "USER: <image>\nWhich sleep stage is this? ASSISTANT:"


@pytest.fixture(scope="module")
def loaded(tiny_base):
    tokenizer, model, processor, _ = load_pretrained_model(str(tiny_base), None, None, device="cpu")
    return tokenizer, model


@pytest.fixture()
def model(loaded):
    tok, m = loaded
    m.config.eeg_fusion = "add"
    m.config.tokenizer_padding_side = "right"
    m.config.tokenizer_model_max_length = 2048
    return m


@pytest.fixture()
def tok(loaded):
    return loaded[0]


def _ids(tok, prompt):
    return tokenizer_image_token(prompt, tok, return_tensors="pt")[None]


def _inputs(batch=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 336, 336, generator=g), torch.randn(batch, 1, 1024, generator=g)


def _splice(model, ids, images, feats, labels=None, mask=None):
    return model.prepare_inputs_labels_for_multimodal(ids, None, mask, None, labels, images, None, eeg_features=feats)


@pytest.mark.parametrize("fusion,n_visual", [("add", 2 * N_PATCH), ("raw", N_PATCH + 1)])
def test_two_tag_token_counts(model, tok, fusion, n_visual):
    model.config.eeg_fusion = fusion
    ids = _ids(tok, TWO_TAGS)
    images, feats = _inputs()
    _, _, mask, _, embeds, labels = _splice(model, ids, images, feats, labels=ids.clone())
    n_text = int((ids != IMAGE_TOKEN_INDEX).sum())
    assert embeds.shape == (1, n_text + n_visual, model.config.hidden_size)
    assert int((labels == IGNORE_INDEX).sum()) == n_visual
    assert bool(mask.all())


def test_none_fusion_single_tag_count_and_features_ignored(model, tok):
    model.config.eeg_fusion = "none"
    ids = _ids(tok, ONE_TAG)
    images, feats = _inputs()
    with_f = _splice(model, ids, images, feats)[4]
    without = _splice(model, ids, images, None)[4]
    assert with_f.shape[1] == int((ids != IMAGE_TOKEN_INDEX).sum()) + N_PATCH
    torch.testing.assert_close(with_f, without, rtol=0, atol=0)


def test_vanilla_single_image_matches_manual_splice(model, tok):
    ids = _ids(tok, ONE_TAG)
    images, _ = _inputs()
    embeds = _splice(model, ids, images, None)[4][0]
    pos = int((ids[0] == IMAGE_TOKEN_INDEX).nonzero()[0, 0])
    embed = model.get_model().embed_tokens
    with torch.no_grad():
        hv = model.get_model().mm_projector(model.get_vision_tower()(images))[0]
        expected = torch.cat([embed(ids[0, :pos]), hv, embed(ids[0, pos + 1:])])
    torch.testing.assert_close(embeds.detach(), expected)


def test_add_fusion_adds_projected_features_to_every_patch(model, tok):
    ids = _ids(tok, TWO_TAGS)
    images, feats = _inputs(seed=3)
    embeds = _splice(model, ids, images, feats)[4][0].detach()
    where = (ids[0] == IMAGE_TOKEN_INDEX).nonzero()[:, 0].tolist()
    proj = model.get_model().mm_projector
    with torch.no_grad():
        hv = proj(model.get_vision_tower()(images))[0]  # (576, hidden)
        hf = proj(feats)[0]  # (1, hidden)
    slot1_start = where[0]
    slot2_start = where[1] - 1 + N_PATCH  # the tag itself is replaced by 576 tokens
    torch.testing.assert_close(embeds[slot1_start:slot1_start + N_PATCH], hv)
    slot2 = embeds[slot2_start:slot2_start + N_PATCH]
    torch.testing.assert_close(slot2, hv + hf.expand(N_PATCH, -1))
    # the feature term is really there: every patch token differs from Hv by the same Hf
    torch.testing.assert_close(slot2 - hv, hf.expand(N_PATCH, -1))
    assert float(hf.abs().sum()) > 0


def test_raw_fusion_second_slot_is_projected_feature(model, tok):
    model.config.eeg_fusion = "raw"
    ids = _ids(tok, TWO_TAGS)
    images, feats = _inputs(seed=4)
    embeds = _splice(model, ids, images, feats)[4][0].detach()
    where = (ids[0] == IMAGE_TOKEN_INDEX).nonzero()[:, 0].tolist()
    with torch.no_grad():
        hf = model.get_model().mm_projector(feats)[0]
    torch.testing.assert_close(embeds[where[1] - 1 + N_PATCH], hf[0])


def test_two_tags_without_features_raises_with_counts(model, tok):
    images, _ = _inputs()
    with pytest.raises(ValueError, match=r"sample 0: 2 <image> placeholders but no eeg_features.*0 feature rows for 1"):
        _splice(model, _ids(tok, TWO_TAGS), images, None)


def test_two_tags_under_none_raises(model, tok):
    model.config.eeg_fusion = "none"
    images, feats = _inputs()
    with pytest.raises(ValueError, match=r"sample 0: 2 <image> placeholders but eeg_fusion 'none' takes 1"):
        _splice(model, _ids(tok, TWO_TAGS), images, feats)


def test_one_tag_with_features_raises(model, tok):
    images, feats = _inputs()
    with pytest.raises(ValueError, match=r"sample 0: 1 <image> placeholder but eeg_features were given"):
        _splice(model, _ids(tok, ONE_TAG), images, feats)


def test_feature_row_count_mismatch_raises_with_both_counts(model, tok):
    ids = _ids(tok, TWO_TAGS).repeat(2, 1)
    images, _ = _inputs(batch=2)
    feats = torch.randn(3, 1, 1024)
    with pytest.raises(ValueError, match=r"eeg_features: 3 feature rows for a batch of 2 samples"):
        _splice(model, ids, images, feats)


def test_image_count_mismatch_raises_with_both_counts(model, tok):
    ids = _ids(tok, ONE_TAG).repeat(2, 1)
    images, _ = _inputs(batch=3)
    with pytest.raises(ValueError, match=r"images: 3 images for a batch of 2 samples"):
        _splice(model, ids, images, None)


def test_feature_width_mismatch_names_both_widths(model, tok):
    images, _ = _inputs()
    with pytest.raises(ValueError, match=r"feature width 512 does not match.*mm_hidden_size=1024"):
        _splice(model, _ids(tok, TWO_TAGS), images, torch.randn(1, 1, 512))


def test_placeholders_without_images_raise(model, tok):
    with pytest.raises(ValueError, match=r"2 <image> placeholder\(s\) found but no images"):
        model(input_ids=_ids(tok, TWO_TAGS))


def test_invalid_fusion_value_rejected(model, tok):
    model.config.eeg_fusion = "concat"
    images, feats = _inputs()
    with pytest.raises(ValueError, match=r"'eeg_fusion'.*'none', 'raw', 'add'.*'concat'"):
        _splice(model, _ids(tok, TWO_TAGS), images, feats)


def test_batch_right_padding_labels_and_per_sample_logits(model, tok):
    """A padded batch of different lengths gives each sample the logits it gets alone."""
    a = _ids(tok, TWO_TAGS)[0]
    b = _ids(tok, "USER: <image>\n<image>\nStage? Answer with one of W, N1, N2, N3, REM. ASSISTANT: N2")[0]
    pad = tok.pad_token_id
    length = max(len(a), len(b))
    ids = torch.full((2, length), pad)
    mask = torch.zeros(2, length, dtype=torch.long)
    for i, row in enumerate((a, b)):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    labels = ids.clone()
    labels[mask == 0] = IGNORE_INDEX
    images, feats = _inputs(batch=2, seed=5)
    _, pos, new_mask, _, embeds, new_labels = _splice(model, ids, images, feats, labels=labels, mask=mask)
    lens = [len(a) - 2 + 2 * N_PATCH, len(b) - 2 + 2 * N_PATCH]
    assert embeds.shape[1] == max(lens)
    assert new_mask.sum(1).tolist() == lens
    assert bool(new_mask[0, :lens[0]].all()) and not bool(new_mask[0, lens[0]:].any())  # right padding
    assert int((new_labels[1] != IGNORE_INDEX).sum()) == len(b) - 2
    with torch.no_grad():
        batch_logits = model(input_ids=ids, attention_mask=mask, images=images, eeg_features=feats).logits
        for i, row in enumerate((a, b)):
            single = model(input_ids=row[None], images=images[i:i + 1], eeg_features=feats[i:i + 1]).logits[0]
            torch.testing.assert_close(batch_logits[i, :lens[i]], single, rtol=1e-4, atol=1e-4)


def test_left_padding_returns_positions(model, tok):
    model.config.tokenizer_padding_side = "left"
    ids = torch.cat([_ids(tok, ONE_TAG), _ids(tok, ONE_TAG)])
    ids[1, -1] = ids[1, -2]
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    images, _ = _inputs(batch=2)
    _, pos, new_mask, _, embeds, _ = _splice(model, ids, images, None, mask=mask)
    assert not bool(new_mask[1, :3].any()) and bool(new_mask[1, 3:].all())
    assert pos[1, 3:].tolist() == list(range(embeds.shape[1] - 3))


def test_too_long_after_splicing_raises_naming_sample_length_and_limit(model, tok):
    model.config.tokenizer_model_max_length = 600
    ids = _ids(tok, TWO_TAGS)
    images, feats = _inputs()
    n = int((ids != IMAGE_TOKEN_INDEX).sum()) + 2 * N_PATCH
    with pytest.raises(ValueError, match=rf"sample 0: {n} tokens after splicing 1152 visual tokens exceed "
                                         r"tokenizer_model_max_length 600"):
        _splice(model, ids, images, feats, labels=ids.clone())
    with pytest.raises(ValueError, match=r"sample 0 \('SC4001E0/000122'\): .* exceed tokenizer_model_max_length 600"):
        model(input_ids=ids.repeat(2, 1), images=images.repeat(2, 1, 1, 1), eeg_features=feats.repeat(2, 1, 1),
              sample_ids=["SC4001E0/000122", "SC4001E0/000123"])
    model.config.tokenizer_model_max_length = n  # exactly at the limit: nothing is cut
    embeds = _splice(model, ids, images, feats)[4]
    assert embeds.shape[1] == n


def test_forward_loss_accepts_new_kwargs_and_trains_projector_only_visual_side(model, tok):
    ids = _ids(tok, TWO_TAGS + " The sleep stage is N2.</s>")
    labels = ids.clone()
    labels[labels == IMAGE_TOKEN_INDEX] = IGNORE_INDEX
    images, feats = _inputs()
    model.zero_grad()
    out = model(input_ids=ids, labels=labels, images=images, eeg_features=feats,
                num_items_in_batch=torch.tensor(int((labels != IGNORE_INDEX).sum())), logits_to_keep=0)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    proj_grads = [p.grad for p in model.get_model().mm_projector.parameters()]
    assert all(g is not None and float(g.abs().sum()) > 0 for g in proj_grads)
    assert all(p.grad is None and not p.requires_grad for p in model.get_vision_tower().parameters())
    model.zero_grad()
    keep1 = model(input_ids=ids, images=images, eeg_features=feats, logits_to_keep=1).logits
    assert keep1.shape[1] == 1


def test_generate_returns_only_new_tokens_and_is_greedy_deterministic(model, tok):
    ids = _ids(tok, TWO_TAGS)
    images, feats = _inputs()
    out1 = model.generate(ids, images=images, eeg_features=feats, max_new_tokens=4, do_sample=False)
    out2 = model.generate(ids, images=images, eeg_features=feats, max_new_tokens=4, do_sample=False)
    assert out1.shape == (1, 4)
    assert torch.equal(out1, out2)
    # the first generated token is the argmax of the forward's last logits
    with torch.no_grad():
        logits = model(input_ids=ids, images=images, eeg_features=feats).logits
    assert int(out1[0, 0]) == int(logits[0, -1].argmax())


def test_text_only_forward_is_plain_llama(model, tok):
    ids = tok("Which sleep stage is this?", return_tensors="pt").input_ids
    with torch.no_grad():
        ours = model(input_ids=ids).logits
        embeds = model.get_model().embed_tokens(ids)
        plain = model(inputs_embeds=embeds).logits
    torch.testing.assert_close(ours, plain)


def test_left_padded_batch_generation_matches_single_prompts(model, tok):
    model.config.tokenizer_padding_side = "left"
    other = "USER: <image>\n<image>\nWhich sleep stage is shown here? ASSISTANT:"
    prompts = [_ids(tok, TWO_TAGS)[0], _ids(tok, other)[0]]
    images, feats = _inputs(batch=2, seed=7)
    singles = [model.generate(p[None], images=images[i:i + 1], eeg_features=feats[i:i + 1], max_new_tokens=5,
                              do_sample=False) for i, p in enumerate(prompts)]
    width = max(len(p) for p in prompts)
    ids = torch.full((2, width), tok.pad_token_id)
    mask = torch.zeros(2, width, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = p
        mask[i, width - len(p):] = 1
    batch = model.generate(ids, attention_mask=mask, images=images, eeg_features=feats, max_new_tokens=5,
                           do_sample=False, pad_token_id=tok.pad_token_id)
    assert torch.equal(batch, torch.cat(singles))


def test_generate_without_images_rejects_placeholders(model, tok):
    with pytest.raises(ValueError, match=r"generate\(\): 2 <image> placeholder\(s\) in the prompt but no images"):
        model.generate(_ids(tok, TWO_TAGS), max_new_tokens=2)
    out = model.generate(tok("Which stage?", return_tensors="pt").input_ids, max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 3)  # only the new tokens


def test_text_only_sample_beside_an_eeg_sample(model, tok):
    """A sample without tags in a features batch keeps its text; its features row is unused."""
    a = _ids(tok, TWO_TAGS)[0]
    b = tok("A text-only turn about sleep.", return_tensors="pt").input_ids[0]
    width = max(len(a), len(b))
    ids = torch.full((2, width), tok.pad_token_id)
    mask = torch.zeros(2, width, dtype=torch.long)
    for i, row in enumerate((a, b)):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    images, feats = _inputs(batch=2)
    _, _, new_mask, _, embeds, _ = _splice(model, ids, images, feats, mask=mask)
    assert new_mask.sum(1).tolist() == [len(a) - 2 + 2 * N_PATCH, len(b)]
    with torch.no_grad():
        expected = model.get_model().embed_tokens(b)
    torch.testing.assert_close(embeds[1, :len(b)].detach(), expected)


def test_keywords_stopping_criteria_stops_generate(model, tok):
    from transformers import StoppingCriteriaList

    from llava.mm_utils import KeywordsStoppingCriteria

    ids = _ids(tok, TWO_TAGS)
    images, feats = _inputs()
    free = model.generate(ids, images=images, eeg_features=feats, max_new_tokens=8, do_sample=False)
    keyword = tok.decode(free[0, 2:3])  # the third generated piece
    stop = StoppingCriteriaList([KeywordsStoppingCriteria([keyword.strip() or keyword], tok, ids)])
    cut = model.generate(ids, images=images, eeg_features=feats, max_new_tokens=8, do_sample=False,
                         stopping_criteria=stop)
    assert 1 <= cut.shape[1] <= 3 and torch.equal(cut[0], free[0, :cut.shape[1]])


def test_features_change_answers_only_through_the_slot(model, tok):
    """Different feature rows change the logits under 'add' and 'raw'; under 'none' they cannot."""
    images, feats = _inputs(seed=11)
    other = feats.flip(-1)
    with torch.no_grad():
        for fusion, prompt in (("add", TWO_TAGS), ("raw", TWO_TAGS), ("none", ONE_TAG)):
            model.config.eeg_fusion = fusion
            ids = _ids(tok, prompt)
            a = model(input_ids=ids, images=images, eeg_features=feats).logits[0, -1]
            b = model(input_ids=ids, images=images, eeg_features=other).logits[0, -1]
            assert torch.equal(a, b) == (fusion == "none"), fusion
