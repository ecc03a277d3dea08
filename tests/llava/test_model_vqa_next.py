"""model_vqa on a tiny LLaVA-NeXT (anyres, spatial_unpad, Mistral): label scoring in batches
of different tile counts, chunks, resume, generation with ``mistral_instruct``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llava.eeg_features import write_sidecar
from llava.eval.model_vqa import Session, eval_model, parse_args

STAGES = ["W", "N1", "N2", "N3", "REM"]
# in tiles of the tiny base's tower (T px): different grids and tile counts (3 or 4); fusion
# 'raw' (slot 2 = one feature token) keeps two tiled slots within the tiny base's 4,096 tokens
SHAPES = [(2, 1), (1, 3), (1, 1), (3, 1), (1.2, 0.6)]


def tile_px(base: Path) -> int:
    return int(json.loads((base / "clip_vision_tower" / "config.json").read_text())["image_size"])


@pytest.fixture(scope="module")
def session(tiny_next):
    from llava.model.builder import load_pretrained_model

    torch.set_num_threads(1)
    tokenizer, model, processor, _ = load_pretrained_model(str(tiny_next("mistral")), None, None, device="cpu")
    assert model.config.image_aspect_ratio == "anyres"
    return Session(tokenizer, model, processor, "tiny-next", "raw")


@pytest.fixture(scope="module")
def sizes(tiny_next):
    tile = tile_px(tiny_next("mistral"))
    return [(int(w * tile), int(h * tile)) for w, h in SHAPES]


@pytest.fixture
def data(tmp_path, sizes):
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    qfile = tmp_path / "eeg_eval.jsonl"
    ids = []
    with qfile.open("w") as fh:
        for i, size in enumerate(sizes):
            sid, rel = f"R1/{i:06d}", f"{i}.png"
            Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(images / rel)
            fh.write(json.dumps({"question_id": sid, "sample_id": sid, "image": [rel, rel],
                                 "text": "Which sleep stage is this epoch?", "stage": STAGES[i]}) + "\n")
            ids.append(sid)
    feats = tmp_path / "eval_high_level_features.npy"
    np.save(feats, rng.standard_normal((len(sizes), 1, 64)).astype(np.float32))
    write_sidecar(feats, ids)
    return {"questions": qfile, "images": images}


def args(data, answers, *extra):
    return parse_args(["--model-path", "unused", "--question-file", str(data["questions"]), "--image-folder",
                       str(data["images"]), "--answers-file", str(answers), "--conv-mode", "mistral_instruct",
                       "--temperature", "0", *extra])


def lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


def test_label_scoring_batches_of_different_tile_counts_match_one_by_one(session, data, sizes, tmp_path):
    from llava.model.anyres import AnyresGeometry

    tower = session.model.get_vision_tower().config
    geometry = AnyresGeometry.from_config(session.model.config, int(tower.image_size), int(tower.patch_size))
    assert {geometry.num_tiles(size) for size in sizes} == {3, 4}
    score = ("--score-labels", ",".join(STAGES))
    eval_model(args(data, tmp_path / "batched.jsonl", *score, "--batch-size", "5"), session)
    eval_model(args(data, tmp_path / "single.jsonl", *score, "--batch-size", "1"), session)
    batched, single = lines(tmp_path / "batched.jsonl"), lines(tmp_path / "single.jsonl")
    assert [r["question_id"] for r in batched] == [r["question_id"] for r in single] and len(batched) == 5
    for a, b in zip(batched, single):
        assert a["prompt"].startswith("[INST] <image>\n<image>\n") and a["prompt"].endswith("[/INST]")
        pa, pb = a["metadata"]["probs"], b["metadata"]["probs"]
        assert sum(pa.values()) == pytest.approx(1.0, abs=1e-5)
        assert all(pa[k] == pytest.approx(pb[k], abs=1e-4) for k in STAGES)


def test_chunks_cover_the_file_once_and_resume_adds_nothing(session, data, tmp_path):
    score = ("--score-labels", ",".join(STAGES), "--num-chunks", "2")
    out = tmp_path / "answers.jsonl"
    first = eval_model(args(data, out, *score, "--chunk-idx", "0"), session)
    second = eval_model(args(data, out, *score, "--chunk-idx", "1"), session)
    assert (first["answered"], second["answered"]) == (3, 2)
    again = eval_model(args(data, out, *score, "--chunk-idx", "0"), session)
    assert again == {"answered": 0, "skipped": 3, "chunk": 3}
    assert sorted(r["question_id"] for r in lines(out)) == [f"R1/{i:06d}" for i in range(5)]


def test_generation_answers_with_mistral_instruct(session, data, tmp_path):
    out = tmp_path / "gen.jsonl"
    counts = eval_model(args(data, out, "--max_new_tokens", "3"), session)
    assert counts["answered"] == 5
    assert all(isinstance(r["text"], str) and r["prompt"].endswith("[/INST]") for r in lines(out))
