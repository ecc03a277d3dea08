"""model_vqa on the tiny base: answer lines, chunks, feature rows, resume, errors, label scoring."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llava.eeg_features import write_sidecar
from llava.eval import model_vqa
from llava.eval.model_vqa import Session, eval_model, parse_args

ROOT = Path(__file__).resolve().parents[2]
N = 5
STAGES = ["W", "N1", "N2", "N3", "REM"]


def _make_data(folder: Path, n: int = N, image=lambda i, rel: [rel, rel]) -> dict:
    """n questions (texts of different lengths), non-square noise images, distinct feature rows."""
    rng = np.random.default_rng(0)
    images = folder / "eeg_images_eval"
    (images / "R1").mkdir(parents=True)
    qfile = folder / "eeg_eval.jsonl"
    ids = []
    with qfile.open("w") as fh:
        for i in range(n):
            sid, rel = f"R1/{i:06d}", f"R1/{i:06d}.png"
            Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(images / rel)
            text = "Which sleep stage is this EEG epoch?" + " Think step by step." * i
            fh.write(json.dumps({"question_id": sid, "sample_id": sid, "image": image(i, rel),
                                 "text": text, "stage": STAGES[i % 5]}) + "\n")
            ids.append(sid)
    feats = folder / "eval_high_level_features.npy"
    rows = rng.standard_normal((n, 1, 1024)).astype(np.float32)
    np.save(feats, rows)
    write_sidecar(feats, ids)
    return {"questions": qfile, "images": images, "features": feats, "rows": rows, "ids": ids}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny model's ops are small: one thread is as fast and immune to a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _run(cmd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def loaded(tiny_base):
    from llava.model.builder import load_pretrained_model

    tokenizer, model, processor, _ = load_pretrained_model(str(tiny_base), None, None, device="cpu")
    return tokenizer, model, processor


@pytest.fixture
def session(loaded):
    tokenizer, model, processor = loaded
    s = Session(tokenizer, model, processor, "tiny", "add")
    yield s
    model.config.eeg_fusion = "add"


@pytest.fixture
def data(tmp_path):
    return _make_data(tmp_path)


def _args(data, answers, *extra, model_path="unused"):
    return parse_args(["--model-path", str(model_path), "--question-file", str(data["questions"]),
                       "--image-folder", str(data["images"]), "--answers-file", str(answers),
                       "--temperature", "0", "--max_new_tokens", "3", *extra])


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


class _Spy:
    """Wrap a model method; record the eeg_features row(s) of every call."""

    def __init__(self, fn, stop_after=None):
        self.fn, self.rows, self.stop_after = fn, [], stop_after

    def __call__(self, *a, **kw):
        if self.stop_after is not None and len(self.rows) >= self.stop_after:
            raise KeyboardInterrupt("killed")
        feats = kw.get("eeg_features")
        self.rows.append(None if feats is None else feats.detach().clone())
        return self.fn(*a, **kw)


def test_script_writes_one_line_per_question(tiny_base, data, tmp_path):
    answers = tmp_path / "out" / "answers.jsonl"
    cmd = [sys.executable, "llava/eval/model_vqa.py", "--model-path", str(tiny_base),
           "--question-file", str(data["questions"]), "--image-folder", str(data["images"]),
           "--answers-file", str(answers), "--temperature", "0", "--max_new_tokens", "4", "--device", "cpu"]
    done = _run(cmd)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "answered 5, already answered 0" in done.stdout
    lines = _lines(answers)
    assert [x["question_id"] for x in lines] == data["ids"]
    for x, sid, i in zip(lines, data["ids"], range(N)):
        assert set(x) == {"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}
        assert x["metadata"] == {"sample_id": sid, "stage": STAGES[i]}
        assert x["prompt"].count("<image>") == 2 and x["prompt"].endswith("ASSISTANT:")
        assert isinstance(x["text"], str) and x["model_id"] == Path(tiny_base).name
    assert len({x["answer_id"] for x in lines}) == N
    # run again: everything is answered, nothing is added (and no model is loaded)
    again = eval_model(parse_args(cmd[2:]))
    assert again == {"answered": 0, "skipped": N, "chunk": N}
    assert _lines(answers) == lines


def test_module_label_scoring(tiny_base, data, tmp_path):
    answers = tmp_path / "scores.jsonl"
    cmd = [sys.executable, "-m", "llava.eval.model_vqa", "--model-path", str(tiny_base),
           "--question-file", str(data["questions"]), "--image-folder", str(data["images"]),
           "--answers-file", str(answers), "--score-labels", ",".join(STAGES), "--batch-size", "2",
           "--score-template", "The sleep stage is {label}.", "--device", "cpu"]
    done = _run(cmd)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = _lines(answers)
    assert [x["question_id"] for x in lines] == data["ids"]
    for x in lines:
        probs = x["metadata"]["probs"]
        assert list(probs) == STAGES and abs(sum(probs.values()) - 1) < 1e-5
        assert x["text"] == x["metadata"]["pred"] == max(probs, key=probs.get)


def test_chunks_cover_the_file_once_with_global_feature_rows(session, data, tmp_path, monkeypatch):
    spy = _Spy(session.model.generate)
    monkeypatch.setattr(session.model, "generate", spy)
    whole = tmp_path / "whole.jsonl"
    eval_model(_args(data, whole), session)
    parts = []
    for k in range(2):
        part = tmp_path / f"part{k}.jsonl"
        counts = eval_model(_args(data, part, "--num-chunks", "2", "--chunk-idx", str(k)), session)
        assert counts["chunk"] == (3 if k == 0 else 2)
        parts += _lines(part)
    ref = _lines(whole)
    assert [x["question_id"] for x in parts] == [x["question_id"] for x in ref] == data["ids"]
    assert [x["text"] for x in parts] == [x["text"] for x in ref]  # greedy: same answers
    # every call got its question's row of the WHOLE file: whole run, then chunk 0, then chunk 1
    order = list(range(N)) + [0, 1, 2] + [3, 4]
    assert len(spy.rows) == len(order)
    for got, idx in zip(spy.rows, order):
        assert got.shape == (1, 1, 1024)
        np.testing.assert_array_equal(got[0].numpy(), data["rows"][idx])


def test_label_scoring_feature_rows_by_global_index(session, data, tmp_path, monkeypatch):
    spy = _Spy(session.model.prepare_inputs_labels_for_multimodal)
    monkeypatch.setattr(session.model, "prepare_inputs_labels_for_multimodal", spy)
    out = tmp_path / "s.jsonl"
    eval_model(_args(data, out, "--num-chunks", "2", "--chunk-idx", "1", "--score-labels", "W,N1,N2,N3,REM"), session)
    assert [x["question_id"] for x in _lines(out)] == data["ids"][3:]
    (batch,) = spy.rows  # one batch: both questions of chunk 1
    np.testing.assert_array_equal(batch.numpy(), data["rows"][3:])


def test_resume_after_kill_and_cut_off_line(session, data, tmp_path, monkeypatch):
    answers = tmp_path / "a.jsonl"
    killer = _Spy(session.model.generate, stop_after=2)
    monkeypatch.setattr(session.model, "generate", killer)
    with pytest.raises(KeyboardInterrupt):
        eval_model(_args(data, answers), session)
    first = _lines(answers)
    assert [x["question_id"] for x in first] == data["ids"][:2]
    with answers.open("a") as fh:  # killed mid-write of the third answer
        fh.write('{"question_id": "R1/000002", "prompt": "A chat betw')
    monkeypatch.setattr(session.model, "generate", killer.fn)
    counts = eval_model(_args(data, answers), session)
    assert counts == {"answered": 3, "skipped": 2, "chunk": N}
    lines = _lines(answers)
    assert [x["question_id"] for x in lines] == data["ids"]
    assert lines[:2] == first  # not redone


def test_overwrite_starts_afresh(session, data, tmp_path):
    answers = tmp_path / "a.jsonl"
    answers.write_text('{"question_id": "R1/000000", "text": "old"}\n')
    eval_model(_args(data, answers, "--overwrite", "--score-labels", "W,N2"), session)
    lines = _lines(answers)
    assert len(lines) == N and lines[0]["text"] in ("W", "N2")


def test_feature_count_mismatch_names_both_files(session, data, tmp_path):
    np.save(data["features"], data["rows"][:4])
    write_sidecar(data["features"], data["ids"][:4])
    with pytest.raises(ValueError, match=r"features file '.*eval_high_level_features.npy': 4 rows, but data file '.*eeg_eval.jsonl' has 5 samples"):
        eval_model(_args(data, tmp_path / "a.jsonl"), session)
    assert not (tmp_path / "a.jsonl").exists()


def test_feature_id_mismatch_names_both_files(session, data, tmp_path):
    write_sidecar(data["features"], list(reversed(data["ids"])))
    with pytest.raises(ValueError, match=r"features file '.*': row 0 belongs to sample 'R1/000004', but data file '.*eeg_eval.jsonl' has 'R1/000000'"):
        eval_model(_args(data, tmp_path / "a.jsonl"), session)


def test_missing_default_features_file(session, data, tmp_path):
    data["features"].unlink()
    with pytest.raises(FileNotFoundError, match=r"eval_high_level_features.npy': not found; question file .* pass --high-level-features"):
        eval_model(_args(data, tmp_path / "a.jsonl"), session)


def test_explicit_features_path(session, data, tmp_path):
    moved = tmp_path / "elsewhere" / "feats.npy"
    moved.parent.mkdir()
    data["features"].rename(moved)
    write_sidecar(moved, data["ids"])
    counts = eval_model(_args(data, tmp_path / "a.jsonl", "--high-level-features", str(moved)), session)
    assert counts["answered"] == N


@pytest.mark.parametrize("bad", ["../outside.png", "/etc/passwd"])
def test_image_path_escaping_the_folder_is_rejected(session, tmp_path, bad):
    data = _make_data(tmp_path, image=lambda i, rel: [bad, bad] if i == 3 else [rel, rel])
    (tmp_path / "outside.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"image path '.*' (is absolute|has a '\.\.' component)"):
        eval_model(_args(data, tmp_path / "a.jsonl"), session)
    assert not (tmp_path / "a.jsonl").exists()  # rejected before anything was answered


def test_fusion_none_is_vanilla_llava(session, data, tmp_path, monkeypatch):
    data["features"].unlink()  # not needed: one <image> tag, no features
    spy = _Spy(session.model.generate)
    monkeypatch.setattr(session.model, "generate", spy)
    s = Session(session.tokenizer, session.model, session.image_processor, "tiny", "none")
    eval_model(_args(data, tmp_path / "a.jsonl", "--eeg-fusion", "none"), s)
    lines = _lines(tmp_path / "a.jsonl")
    assert len(lines) == N and all(x["prompt"].count("<image>") == 1 for x in lines)
    assert spy.rows == [None] * N


def test_single_image_questions_need_no_features(session, tmp_path):
    data = _make_data(tmp_path, image=lambda i, rel: rel)
    data["features"].unlink()
    eval_model(_args(data, tmp_path / "a.jsonl"), session)
    lines = _lines(tmp_path / "a.jsonl")
    assert len(lines) == N and all(x["prompt"].count("<image>") == 1 for x in lines)


def _one_by_one(model, embeds, cand_ids):
    """Log-likelihood of one candidate from a plain full forward over prompt + candidate."""
    cand = torch.tensor(cand_ids)[None]
    full = torch.cat([embeds, model.get_input_embeddings()(cand)], dim=1)
    with torch.no_grad():
        logp = torch.log_softmax(model(inputs_embeds=full).logits[0].double(), -1)
    n = embeds.shape[1]
    return sum(float(logp[n - 1 + j, t]) for j, t in enumerate(cand_ids))


def test_label_scoring_matches_candidates_scored_one_by_one(session, data, tmp_path):
    from llava.eval.label_scoring import answer_joiner, candidate_ids_after
    from llava.eval.model_vqa import _inputs, _template
    from llava.mm_utils import tokenizer_image_token

    template = "Sleep stage: {label}"
    out = tmp_path / "s.jsonl"
    eval_model(_args(data, out, "--score-labels", ",".join(STAGES), "--score-template", template, "--batch-size", "3"), session)
    lines = _lines(out)
    joiner = answer_joiner(_template("llava_v1"))
    from llava.eval.questions import read_questions

    for q, line in zip(read_questions(data["questions"]), lines):
        prompt, ids, image, size, feats = _inputs(session, q, "llava_v1", str(data["images"]))
        assert prompt == line["prompt"]
        with torch.no_grad():
            _, _, _, _, embeds, _ = session.model.prepare_inputs_labels_for_multimodal(
                ids[None], None, None, None, None, image[None], image_sizes=[size], eeg_features=feats[None])
        ref = []
        for label in STAGES:
            full = tokenizer_image_token(prompt + joiner + template.format(label=label), session.tokenizer)
            ref.append(_one_by_one(session.model, embeds, candidate_ids_after(ids.tolist(), full, label)))
        ref = torch.tensor(ref, dtype=torch.float64)
        probs = torch.tensor([line["metadata"]["probs"][s] for s in STAGES], dtype=torch.float64)
        assert abs(float(probs.sum()) - 1) < 1e-5
        assert STAGES[int(ref.argmax())] == line["metadata"]["pred"] == line["text"]
        torch.testing.assert_close(probs, torch.softmax(ref, -1), atol=1e-4, rtol=1e-3)


def test_load_4bit_on_cpu_generates_and_scores(tiny_base, data, tmp_path):
    pytest.importorskip("bitsandbytes")
    from llava.model.builder import load_pretrained_model

    tokenizer, model, processor, _ = load_pretrained_model(str(tiny_base), None, None, load_4bit=True, device="cpu")
    import bitsandbytes as bnb

    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.get_model().layers.modules())
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in model.get_model().mm_projector.modules())
    s = Session(tokenizer, model, processor, "tiny-4bit", "add")
    gen = tmp_path / "gen.jsonl"
    eval_model(_args(data, gen), s)
    assert len(_lines(gen)) == N
    sc = tmp_path / "sc.jsonl"
    eval_model(_args(data, sc, "--score-labels", ",".join(STAGES)), s)
    for x in _lines(sc):
        assert abs(sum(x["metadata"]["probs"].values()) - 1) < 1e-5


def test_session_dtype_and_device(session):
    assert session.dtype == torch.float32 and session.device.type == "cpu"
    assert model_vqa.checkpoint_fusion is not None


def test_text_only_questions_plain_template_and_seeded_sampling(session, tmp_path):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"question_id": 1, "text": "Which stage?"}\n{"question_id": 2, "text": "Is it REM?"}\n')
    texts = []
    for k in range(2):
        out = tmp_path / f"a{k}.jsonl"
        args = parse_args(["--model-path", "unused", "--question-file", str(qfile), "--answers-file", str(out),
                           "--conv-mode", "plain",
                           "--temperature", "0.8", "--top_p", "0.9", "--seed", "3", "--max_new_tokens", "6"])
        eval_model(args, session)
        lines = _lines(out)
        assert [x["prompt"] for x in lines] == ["Which stage?\n", "Is it REM?\n"]
        assert all("\n" not in x["text"] for x in lines)  # stopped at the plain separator
        texts.append([x["text"] for x in lines])
    assert texts[0] == texts[1]  # same seed, same samples


def test_eval_settings_defaults_overrides_and_errors():
    from llava.eval.model_vqa import eval_settings

    args = eval_settings("ckpt", question_file="q.jsonl", score_labels="W,N1")
    assert args.model_path == "ckpt" and args.question_file == "q.jsonl" and args.score_labels == "W,N1"
    assert args.temperature == parse_args(["--model-path", "ckpt"]).temperature  # defaults live in the parser
    with pytest.raises(ValueError, match="unknown setting.*'question'"):
        eval_settings("ckpt", question="q.jsonl")
    with pytest.raises(ValueError, match="--temperature must be >= 0"):
        eval_settings("ckpt", temperature=-1.0)
