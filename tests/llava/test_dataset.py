"""Dataset + collator: features by sample index under any sampler, tags, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, DistributedSampler

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.eeg_features import write_sidecar
from llava.train.collator import DataCollatorForSupervisedDataset, pad_token_id
from llava.train.dataset import DatasetOptions, LazySupervisedDataset, normalise_image_tags

STAGES = ("W", "N1", "N2", "N3", "REM")
N = 14
D = 1024


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from transformers import LlamaTokenizer

    from llava.model.tiny import train_tiny_tokenizer

    d = tmp_path_factory.mktemp("tok")
    train_tiny_tokenizer(d, 400)
    return LlamaTokenizer.from_pretrained(str(d))


@pytest.fixture(scope="module")
def processor():
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})


def make_data(root, n=N, pairs=True, text_only=()):
    imgs = root / "images"
    imgs.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        sid = f"SC40{i:02d}E0/{i:06d}"
        name = f"e{i}.png"
        Image.new("RGB", (336, 200 + i), (10 * i % 255, 50, 90)).save(imgs / name)
        question = f"Epoch {i} of sample {sid}. What is the sleep stage?"
        item = {"id": sid, "conversations": [
            {"from": "human", "value": ("<image>\n<image>\n" if pairs else "<image>\n") + question},
            {"from": "gpt", "value": f"Final answer: {STAGES[i % 5]}"}]}
        if i in text_only:
            item["conversations"][0]["value"] = question
        else:
            item["image"] = [name, name] if pairs else name
        samples.append(item)
    data = root / "eeg_ft.json"
    data.write_text(json.dumps(samples))
    feats = np.zeros((n, 1, D), np.float32)
    feats[:, 0, :] = np.arange(n, dtype=np.float32)[:, None]  # row i is filled with i
    np.save(root / "train_high_level_features.npy", feats)
    write_sidecar(root / "train_high_level_features.npy", [s["id"] for s in samples])
    return data


def opts(data, **kw):
    return DatasetOptions(data_path=str(data), image_folder=str(data.parent / "images"), **kw)


def test_item_carries_its_own_feature_row_and_one_image(tmp_path, tok, processor):
    ds = LazySupervisedDataset(opts(make_data(tmp_path)), tok, processor)
    assert len(ds) == N and ds.features is not None
    for i in (0, 5, N - 1):
        it = ds[i]
        assert it["image"].shape == (3, 336, 336)
        assert it["eeg_features"].shape == (1, D) and torch.all(it["eeg_features"] == i)
        assert it["input_ids"].tolist().count(IMAGE_TOKEN_INDEX) == 2
        learned = tok.decode([t for t, l in zip(it["input_ids"].tolist(), it["labels"].tolist()) if l != IGNORE_INDEX])
        assert learned == f"Final answer: {STAGES[i % 5]}</s>"


@pytest.mark.parametrize("rank", [0, 1])
def test_sharded_shuffled_workers_batches_pair_samples_with_their_rows(tmp_path, tok, processor, rank):
    ds = LazySupervisedDataset(opts(make_data(tmp_path)), tok, processor)
    sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=3)
    sampler.set_epoch(1)
    order = list(sampler)
    other_sampler = DistributedSampler(ds, num_replicas=2, rank=1 - rank, shuffle=True, seed=3)
    other_sampler.set_epoch(1)
    other = list(other_sampler)
    assert not set(order) & set(other)  # N is even: no padding, disjoint shards
    assert set(order) | set(other) == set(range(N))  # the two ranks cover the data
    loader = DataLoader(ds, batch_size=3, sampler=sampler, num_workers=2,
                        collate_fn=DataCollatorForSupervisedDataset(tok, 4096))
    seen = []
    for batch in loader:
        assert batch["images"].shape[1:] == (3, 336, 336)
        for b in range(batch["input_ids"].shape[0]):
            row = int(batch["eeg_features"][b, 0, 0])
            assert torch.all(batch["eeg_features"][b] == row)
            # the text of the same batch row names the sample whose features it carries
            ids = [t for t, m in zip(batch["input_ids"][b].tolist(), batch["attention_mask"][b].tolist()) if m and t >= 0]
            assert f"Epoch {row} of sample {ds.samples[row]['id']}" in tok.decode(ids)
            seen.append(row)
    assert seen == order


def test_collator_pads_right_with_unk_and_masks(tmp_path, tok, processor):
    data = make_data(tmp_path)
    ds = LazySupervisedDataset(opts(data), tok, processor)
    items = [ds[0], ds[11]]
    batch = DataCollatorForSupervisedDataset(tok, 4096)(items)
    assert tok.pad_token is None and pad_token_id(tok) == tok.unk_token_id
    n0, n1 = len(items[0]["input_ids"]), len(items[1]["input_ids"])
    assert n0 != n1
    short = 0 if n0 < n1 else 1
    n = min(n0, n1)
    assert batch["attention_mask"][short].tolist() == [1] * n + [0] * (max(n0, n1) - n)
    assert torch.all(batch["input_ids"][short, n:] == tok.unk_token_id)
    assert torch.all(batch["labels"][short, n:] == IGNORE_INDEX)
    assert batch["eeg_features"].shape == (2, 1, D) and batch["eeg_features"].dtype == torch.float32


def test_fusion_none_is_vanilla_from_the_same_data(tmp_path, tok, processor):
    ds = LazySupervisedDataset(opts(make_data(tmp_path), eeg_fusion="none"), tok, processor)
    assert ds.features is None
    it = ds[3]
    assert it["input_ids"].tolist().count(IMAGE_TOKEN_INDEX) == 1 and it["eeg_features"] is None
    assert "eeg_features" not in DataCollatorForSupervisedDataset(tok)([it, ds[4]])


def test_text_only_samples_get_a_blank_image_and_zero_row(tmp_path, tok, processor):
    ds = LazySupervisedDataset(opts(make_data(tmp_path, text_only=(2,))), tok, processor)
    it = ds[2]
    assert it["input_ids"].tolist().count(IMAGE_TOKEN_INDEX) == 0 and it["eeg_features"] is None
    assert it["image"].shape == (3, 336, 336) and not it["image"].any()
    batch = DataCollatorForSupervisedDataset(tok)([ds[1], it])
    assert torch.all(batch["eeg_features"][0] == 1) and not batch["eeg_features"][1].any()
    assert ds.modality_lengths[2] < 0 < ds.modality_lengths[1]
    words = [sum(len(t["value"].split()) for t in s["conversations"]) for s in ds.samples]
    assert ds.lengths[1] == words[1] + 128 and ds.lengths[2] == words[2]


def test_missing_features_file_is_a_clear_error(tmp_path, tok, processor):
    data = make_data(tmp_path)
    (tmp_path / "train_high_level_features.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"14 samples have two images.*train_high_level_features.npy"):
        LazySupervisedDataset(opts(data), tok, processor)


def test_features_out_of_step_with_data_name_both_files(tmp_path, tok, processor):
    data = make_data(tmp_path)
    samples = json.loads(data.read_text())
    samples[4], samples[5] = samples[5], samples[4]  # data reordered after extraction
    data.write_text(json.dumps(samples))
    with pytest.raises(ValueError, match=r"features file .*row 4 belongs to sample 'SC4004E0/000004'.*eeg_ft.json"):
        LazySupervisedDataset(opts(data), tok, processor)
    data.write_text(json.dumps(samples[:-1]))
    with pytest.raises(ValueError, match=r"14 rows, but data file .* has 13 samples"):
        LazySupervisedDataset(opts(data), tok, processor)


def test_image_path_escaping_the_folder_is_rejected(tmp_path, tok, processor):
    data = make_data(tmp_path)
    samples = json.loads(data.read_text())
    samples[0]["image"] = ["../eeg_ft.json", "x"]
    data.write_text(json.dumps(samples))
    with pytest.raises(ValueError, match=r"tags, found before training: sample 'SC4000E0/000000': image path '\.\./eeg_ft\.json'"):
        LazySupervisedDataset(opts(data), tok, processor)


def test_every_bad_sample_is_listed_before_training(tmp_path, tok, processor):
    """One pass over all samples: each kind of bad file is named, with its sample, in one error."""
    data = make_data(tmp_path)
    samples = json.loads(data.read_text())
    (tmp_path / "images" / "e3.png").unlink()  # missing image
    (tmp_path / "images" / "e5.png").write_bytes(b"")  # empty file
    samples[7]["image"] = ["/etc/passwd", "/etc/passwd"]  # absolute
    samples[9]["image"] = ["e9.png", "../../x.png"]  # the placeholder escapes
    samples[11]["conversations"][0]["value"] = "<image>\nq"  # one tag for two images
    data.write_text(json.dumps(samples))
    feats = np.load(tmp_path / "train_high_level_features.npy")
    feats[12, 0, 7] = np.nan
    np.save(tmp_path / "train_high_level_features.npy", feats)
    with pytest.raises(ValueError) as err:
        LazySupervisedDataset(opts(data), tok, processor)
    msg = str(err.value)
    assert msg.startswith(f"data file {str(data)!r}: 6 of 14 samples have bad files or tags, found before training")
    for i, what in ((3, "e3.png' not found"), (5, "e5.png' is empty"), (7, "'/etc/passwd' is absolute"),
                    (9, "'../../x.png' has a '..' component"), (11, "1 <image> tag(s) for 2 image(s)"),
                    (12, "row 12 holds NaN or infinite values")):
        assert f"sample 'SC40{i:02d}E0/{i:06d}': " in msg and what in msg, (i, what)
    assert "\n" not in msg
    ok = [s for k, s in enumerate(samples) if k not in (3, 5, 7, 9, 11, 12)]
    assert len(ok) == N - 6


def test_tag_count_must_match_images(tmp_path, tok, processor):
    turns = [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]
    with pytest.raises(ValueError, match=r"sample 'X/1': 1 <image> tag\(s\) in the conversation for 2 image\(s\)"):
        normalise_image_tags(turns, 2, "X/1")
    moved = normalise_image_tags([{"from": "human", "value": "look <image> and <image> now"}], 1, "X/2")
    assert moved[0]["value"] == "<image>\nlook  and  now"
    wrapped = normalise_image_tags(turns, 1, "X/3", use_im_start_end=True)
    assert wrapped[0]["value"] == "<im_start><image><im_end>\nq"


def test_mixed_one_and_two_image_samples_refused(tmp_path, tok, processor):
    data = make_data(tmp_path)
    samples = json.loads(data.read_text())
    samples[0]["image"] = samples[0]["image"][0]
    samples[0]["conversations"][0]["value"] = samples[0]["conversations"][0]["value"].replace("<image>\n", "", 1)
    data.write_text(json.dumps(samples))
    with pytest.raises(ValueError, match=r"mixes 1 one-image and 13 two-image samples"):
        LazySupervisedDataset(opts(data), tok, processor)
    assert len(LazySupervisedDataset(opts(data, eeg_fusion="none"), tok, processor)) == N
