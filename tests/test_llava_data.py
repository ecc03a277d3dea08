"""build-data on a small manifest made here: exact file contents, sidecars, determinism, errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from eeg_vlm.reasoning import cot
from eeg_vlm.reasoning.detectors import describe_epochs
from eeg_vlm.reasoning.llava_data import BuildConfig, build_data, main

CHANNELS = ["Fpz-Cz", "EOG horizontal", "EMG submental"]
SFREQ = 100.0
HEADER = "sample_id,dataset,subject,night,epoch,onset_s,stage,image,split\n"
# record -> (subject, split, stages)
RECORDS = {
    "SC4001E0": ("SC400", "train", ["W", "N1", "N2", "N3"]),
    "SC4011E0": ("SC401", "test", ["N2", "REM", "W"]),
    "SC4021E0": ("SC402", "val", ["N3", "N2"]),
}


def _signals(n: int, seed: int) -> np.ndarray:
    """(n, 3, 3000) µV: each epoch different (slow-wave amplitude grows with its index)."""
    rng = np.random.default_rng(seed)
    t = np.arange(3000) / SFREQ
    x = rng.normal(0, 5, (n, 3, 3000))
    for i in range(n):
        x[i, 0] += (20 + 40 * i) * np.sin(2 * np.pi * 1.0 * t)
        x[i, 0] += 15 * np.sin(2 * np.pi * 13 * t) * np.exp(-((t - 5 - 3 * i) ** 2) / (2 * 0.25**2))
    return x.astype(np.float32)


@pytest.fixture()
def dataset(tmp_path):
    """A converted dataset: manifest.csv, convert.json, images/, signals/."""
    root = tmp_path / "conv"
    lines = [HEADER]
    for k, (rid, (subject, split, stages)) in enumerate(RECORDS.items()):
        (root / "images" / rid).mkdir(parents=True)
        for e, stage in enumerate(stages):
            rel = f"images/{rid}/{e:06d}.png"
            (root / rel).write_bytes(f"png {rid} {e}".encode())
            lines.append(f"{rid}/{e:06d},sleep-edf,{subject},1,{e},{30.0 * e},{stage},{rel},{split}\n")
        (root / "signals").mkdir(exist_ok=True)
        np.save(root / "signals" / f"{rid}.npy", _signals(len(stages), k))
    (root / "manifest.csv").write_text("".join(lines))
    (root / "convert.json").write_text(json.dumps({"channels": CHANNELS, "sfreq": SFREQ, "style": "eeg-vlm"}))
    return root


def _expected_answers(root, rid: str, variant: str) -> dict[str, str]:
    data = np.load(root / "signals" / f"{rid}.npy")
    stages = RECORDS[rid][2]
    descs = describe_epochs(data, CHANNELS, SFREQ)
    return {f"{rid}/{e:06d}": cot.rationale(d, stages[e], variant, key=f"{rid}/{e:06d}") for e, d in enumerate(descs)}


def _read(path) -> str:
    return path.read_text(encoding="utf-8")


def test_stagewise_build_writes_the_contract_files(dataset, tmp_path):
    out = tmp_path / "sleep_data"
    res = build_data(BuildConfig(manifest=dataset / "manifest.csv", out_dir=out))
    question = cot.question("stagewise", CHANNELS)
    answers = _expected_answers(dataset, "SC4001E0", "stagewise")
    ft = json.loads(_read(out / "eeg_ft.json"))
    assert ft == [
        {
            "id": sid,
            "image": [f"SC4001E0/{sid[-6:]}.png"] * 2,
            "conversations": [
                {"from": "human", "value": "<image>\n<image>\n" + question},
                {"from": "gpt", "value": answers[sid]},
            ],
        }
        for sid in [f"SC4001E0/{e:06d}" for e in range(4)]
    ]
    assert len(set(answers.values())) == 4  # each epoch reasoned from its own signal
    for entry, stage in zip(ft, RECORDS["SC4001E0"][2]):
        assert entry["conversations"][1]["value"].endswith(f"\nSleep stage: {stage}")
    evals = [json.loads(line) for line in _read(out / "eeg_eval.jsonl").splitlines()]
    assert evals == [
        {"question_id": f"SC4011E0/{e:06d}", "sample_id": f"SC4011E0/{e:06d}",
         "image": [f"SC4011E0/{e:06d}.png"] * 2, "text": question, "stage": stage}
        for e, stage in enumerate(RECORDS["SC4011E0"][2])
    ]
    assert "<image>" not in evals[0]["text"]
    assert json.loads(_read(out / "eeg_ft.ids.json")) == {"count": 4, "sample_ids": [e["id"] for e in ft]}
    assert json.loads(_read(out / "eeg_eval.ids.json")) == {"count": 3, "sample_ids": [e["question_id"] for e in evals]}
    assert res.train_ids == [e["id"] for e in ft] and res.eval_ids == [e["question_id"] for e in evals]
    for folder, entries in (("eeg_images_ft", ft), ("eeg_images_eval", evals)):
        for e in entries:
            img = out / folder / e["image"][0]
            src = dataset / "images" / e["image"][0]
            assert img.read_bytes() == src.read_bytes()
            assert os.path.samefile(img, src)  # hard link by default
    assert not (out / "eeg_images_ft" / "SC4011E0").exists() and not (out / "eeg_images_eval" / "SC4001E0").exists()
    summary = json.loads(_read(out / "build_data.json"))
    assert summary["n_train"] == 4 and summary["n_eval"] == 3 and summary["cot"] == "stagewise"
    assert summary["train_stages"] == {"N1": 1, "N2": 1, "N3": 1, "W": 1}


def test_build_is_deterministic_and_rerun_keeps_images(dataset, tmp_path):
    cfg = dict(manifest=dataset / "manifest.csv", cot="single", train_split=("train", "val"), link="copy")
    a = build_data(BuildConfig(out_dir=tmp_path / "a", **cfg))
    build_data(BuildConfig(out_dir=tmp_path / "b", workers=2, **cfg))  # two processes, same bytes
    names = ["eeg_ft.json", "eeg_ft.ids.json", "eeg_eval.jsonl", "eeg_eval.ids.json", "build_data.json"]
    first = {n: (tmp_path / "a" / n).read_bytes() for n in names}
    assert first == {n: (tmp_path / "b" / n).read_bytes() for n in names}
    assert a.images == {"eeg_images_ft": 6, "eeg_images_eval": 3, "kept": 0}
    img = tmp_path / "a" / "eeg_images_ft" / "SC4021E0" / "000001.png"
    assert not os.path.samefile(img, dataset / "images" / "SC4021E0" / "000001.png")  # copies
    again = build_data(BuildConfig(out_dir=tmp_path / "a", **cfg))
    assert again.images == {"eeg_images_ft": 0, "eeg_images_eval": 0, "kept": 9}
    assert first == {n: (tmp_path / "a" / n).read_bytes() for n in names}
    ft = json.loads(first["eeg_ft.json"])
    assert [e["id"] for e in ft] == [f"SC4001E0/{e:06d}" for e in range(4)] + ["SC4021E0/000000", "SC4021E0/000001"]
    expected = {**_expected_answers(dataset, "SC4001E0", "single"), **_expected_answers(dataset, "SC4021E0", "single")}
    assert all(e["conversations"][1]["value"] == expected[e["id"]] for e in ft)
    # a changed source image is replaced on the next build
    (dataset / "images" / "SC4021E0" / "000001.png").write_bytes(b"re-rendered")
    build_data(BuildConfig(out_dir=tmp_path / "a", **cfg))
    assert img.read_bytes() == b"re-rendered"


def test_cot_none_needs_no_signals_and_rest_split(dataset, tmp_path):
    for f in (dataset / "signals").iterdir():
        f.unlink()
    (dataset / "convert.json").unlink()
    out = tmp_path / "o"
    build_data(BuildConfig(manifest=dataset / "manifest.csv", out_dir=out, cot="none", train_split=("rest",)))
    ft = json.loads(_read(out / "eeg_ft.json"))
    assert [e["id"][:8] for e in ft] == ["SC4001E0"] * 4 + ["SC4021E0"] * 2
    assert [e["conversations"][1]["value"] for e in ft] == [f"Sleep stage: {s}" for s in ["W", "N1", "N2", "N3", "N3", "N2"]]
    assert ft[0]["conversations"][0]["value"] == "<image>\n<image>\n" + cot.question("none", [])


def test_external_rationales_replace_the_generated_ones(dataset, tmp_path):
    r = tmp_path / "r.jsonl"
    stages = RECORDS["SC4001E0"][2]
    r.write_text("".join(json.dumps({"sample_id": f"SC4001E0/{e:06d}", "text": f"Because {e}.\nSleep stage: {s}"}) + "\n"
                         for e, s in enumerate(stages)))
    out = tmp_path / "o"
    build_data(BuildConfig(manifest=dataset / "manifest.csv", out_dir=out, rationales=r, eval_split=("none",)))
    ft = json.loads(_read(out / "eeg_ft.json"))
    assert [e["conversations"][1]["value"] for e in ft] == [f"Because {e}.\nSleep stage: {s}" for e, s in enumerate(stages)]
    assert not (out / "eeg_eval.jsonl").exists()
    r.write_text(r.read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match=r"r.jsonl': no rationale for 3 of 4 training samples, e.g. 'SC4001E0/000001'"):
        build_data(BuildConfig(manifest=dataset / "manifest.csv", out_dir=out, rationales=r))
    r.write_text(json.dumps({"sample_id": "SC4001E0/000000", "text": "Sleep stage: N3"}) + "\n")
    with pytest.raises(ValueError, match=r"line 1 \(sample_id 'SC4001E0/000000'\): the final line names N3 but the sample is labelled W"):
        build_data(BuildConfig(manifest=dataset / "manifest.csv", out_dir=out, rationales=r))


def test_missing_inputs_are_named(dataset, tmp_path):
    m = dataset / "manifest.csv"
    out = tmp_path / "o"
    (dataset / "images" / "SC4011E0" / "000002.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"sample 'SC4011E0/000002': image 'images/SC4011E0/000002.png' not found"):
        build_data(BuildConfig(manifest=m, out_dir=out))
    assert not out.exists()  # nothing written before the inputs are checked
    build_data(BuildConfig(manifest=m, out_dir=out, eval_split=("none",)))  # the train side is complete
    (dataset / "signals" / "SC4001E0.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"signals file '.*SC4001E0.npy': not found; needed for the 'stagewise'"):
        build_data(BuildConfig(manifest=m, out_dir=out, eval_split=("none",)))
    np.save(dataset / "signals" / "SC4001E0.npy", _signals(3, 0))
    with pytest.raises(ValueError, match=r"shape \(3, 3, 3000\), but the manifest has 4 rows of record 'SC4001E0'"):
        build_data(BuildConfig(manifest=m, out_dir=out, eval_split=("none",)))
    (dataset / "convert.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"convert.json': not found; the rationales need its channel names"):
        build_data(BuildConfig(manifest=m, out_dir=out, eval_split=("none",)))


def test_split_and_label_errors(dataset, tmp_path):
    m = dataset / "manifest.csv"
    out = tmp_path / "o"
    with pytest.raises(ValueError, match=r"no rows for eval split '7'; splits present: test, train, val"):
        build_data(BuildConfig(manifest=m, out_dir=out, eval_split=("7",)))
    with pytest.raises(ValueError, match=r"'cot'.*got 'stepwise'"):
        BuildConfig(manifest=m, cot="stepwise")
    with pytest.raises(ValueError, match="both 'none'"):
        BuildConfig(manifest=m, train_split="none", eval_split="none")
    with pytest.raises(ValueError, match="mixes 'rest' with other splits"):
        BuildConfig(manifest=m, train_split="rest,train")
    with pytest.raises(ValueError, match=r"4 samples are in both sets, e.g. .SC4001E0/000000."):
        build_data(BuildConfig(manifest=m, out_dir=out, train_split=("train",), eval_split=("all",)))
    text = m.read_text().replace(",N1,images/SC4001E0/000001.png", ",,images/SC4001E0/000001.png")
    m.write_text(text)
    with pytest.raises(ValueError, match=r"sample 'SC4001E0/000001': training rows need a stage"):
        build_data(BuildConfig(manifest=m, out_dir=out, cot="none"))


def test_cli(dataset, tmp_path, capsys):
    from eeg_vlm.cli import main as eeg_vlm

    out = tmp_path / "sd"
    assert eeg_vlm(["build-data", "--manifest", str(dataset / "manifest.csv"), "--out-dir", str(out),
                    "--cot", "none", "--train-split", "train,val", "--copy"]) == 0
    printed = capsys.readouterr().out
    assert "6 training samples (none)" in printed and "3 evaluation questions" in printed
    assert len(json.loads(_read(out / "eeg_ft.json"))) == 6
    assert main(["--manifest", str(tmp_path / "nope.csv"), "--out-dir", str(out)]) == 1
    assert "eeg-vlm build-data: error: manifest" in capsys.readouterr().err
