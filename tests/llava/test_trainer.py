"""Trainer pieces: sampler, optimizer groups, LoRA placement, save/load round trip, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from llava.train.llava_trainer import LengthGroupedSampler, modality_grouped_indices

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("W", "N1", "N2", "N3", "REM")


# -- sampler ----------------------------------------------------------------------------

def test_sampler_is_a_permutation_reproducible_per_epoch():
    lengths = [((i * 37) % 50 + 1) * (1 if i % 3 else -1) for i in range(101)]
    s = LengthGroupedSampler(batch_size=4, world_size=2, lengths=lengths, seed=7)
    first = list(s)
    assert sorted(first) == list(range(101))
    assert list(s) == first  # same (seed, epoch): same order (resume skips the right batches)
    s.set_epoch(1)
    assert list(s) != first and sorted(s) == list(range(101))
    assert list(LengthGroupedSampler(4, 2, lengths, seed=8)) != first


def test_modality_groups_never_mix_in_full_megabatches():
    lengths = [10 + i % 7 if i % 4 else -(5 + i % 5) for i in range(90)]
    order = modality_grouped_indices(lengths, batch_size=3, world_size=2, generator=torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(90))
    mega = 6
    image = sum(n > 0 for n in lengths)
    text = 90 - image
    full = (image // mega + text // mega) * mega
    for start in range(0, full, mega):
        kinds = {lengths[i] > 0 for i in order[start:start + mega]}
        assert len(kinds) == 1, (start, kinds)
        # within a mega-batch each rank's batch is sorted longest-first or balanced: lengths are close
        spans = [abs(lengths[i]) for i in order[start:start + mega]]
        assert max(spans) - min(spans) <= max(abs(n) for n in lengths)


# -- a small trainable setup -------------------------------------------------------------

def write_data(root: Path, n: int = 20) -> Path:
    from PIL import Image

    from llava.eeg_features import write_sidecar

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (56, 40), (120, 120, 120)).save(root / "images" / "a.png")
    samples = [{"id": f"S{i:03d}/000000", "image": ["a.png", "a.png"], "conversations": [
        {"from": "human", "value": "<image>\n<image>\nWhat is the sleep stage?"},
        {"from": "gpt", "value": STAGES[i % 5]}]} for i in range(n)]
    (root / "eeg_ft.json").write_text(json.dumps(samples))
    np.save(root / "train_high_level_features.npy", rng.normal(size=(n, 1, 1024)).astype(np.float32))
    write_sidecar(root / "train_high_level_features.npy", [s["id"] for s in samples])
    return root / "eeg_ft.json"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from llava.model.tiny import TinySpec, build_tiny_base

    root = tmp_path_factory.mktemp("trainer")
    base = build_tiny_base(root / "base", seed=0, spec=TinySpec(image_size=56))
    data = write_data(root / "data")
    return base, data


def argv(base: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--model_name_or_path", str(base), "--version", "v1", "--data_path", str(data),
        "--image_folder", str(data.parent / "images"), "--vision_tower", str(base / "clip_vision_tower"),
        "--mm_projector_type", "mlp2x_gelu", "--mm_vision_select_layer", "-2", "--image_aspect_ratio", "pad",
        "--mm_use_im_start_end", "False", "--mm_use_im_patch_token", "False",
        "--lora_enable", "True", "--lora_r", "4", "--lora_alpha", "8", "--lora_dropout", "0.0",
        "--mm_projector_lr", "1e-3", "--learning_rate", "2e-3", "--weight_decay", "0.1",
        "--group_by_modality_length", "True", "--per_device_train_batch_size", "4", "--bf16", "False",
        "--output_dir", str(out), "--report_to", "none", "--logging_steps", "1", "--model_max_length", "256",
        "--dataloader_num_workers", "0", "--save_strategy", "steps", "--seed", "3", "--disable_tqdm", "True",
        *extra,
    ]


def build(base: Path, data: Path, out: Path, *extra: str):
    from llava.train.arguments import parse_args
    from llava.train.train import build_model, build_tokenizer

    m, d, t = parse_args(argv(base, data, out, *extra))
    tok = build_tokenizer(m, t)
    model, processor = build_model(m, t, tok, image_aspect_ratio=d.image_aspect_ratio)
    return (m, d, t), tok, model, processor


def test_lora_goes_on_language_model_linears_only(small, tmp_path):
    base, data = small
    _, _, model, _ = build(base, data, tmp_path / "o")
    lora = [n for n, _ in model.named_modules() if n.endswith("lora_A")]
    assert lora and not any("vision_tower" in n or "mm_projector" in n or "lm_head" in n for n in lora)
    assert any("self_attn.q_proj" in n for n in lora) and any("mlp.down_proj" in n for n in lora)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("mm_projector" in n for n in trainable)
    assert not any("vision_tower" in n for n in trainable)
    assert all("lora_" in n or "mm_projector" in n for n in trainable)


def test_projector_has_its_own_learning_rate_and_decay_groups(small, tmp_path):
    from llava.train.llava_trainer import LLaVATrainer

    base, data = small
    (m, d, t), tok, model, _ = build(base, data, tmp_path / "o")
    trainer = LLaVATrainer(model=model, args=t, processing_class=tok)
    opt = trainer.create_optimizer()
    names = {id(p): n for n, p in model.named_parameters()}
    for group in opt.param_groups:
        groups_names = [names[id(p)] for p in group["params"]]
        is_proj = {"mm_projector" in n for n in groups_names}
        assert len(is_proj) == 1
        assert group["lr"] == (1e-3 if is_proj.pop() else 2e-3)
        if any(n.endswith("bias") for n in groups_names):
            assert group["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in opt.param_groups) == sum(p.requires_grad for p in model.parameters())


def test_lora_folder_round_trip_gives_identical_logits(small, tmp_path):
    from llava.model.builder import load_pretrained_model
    from llava.train.checkpointing import save_lora_folder
    from llava.train.collator import DataCollatorForSupervisedDataset
    from llava.train.dataset import DatasetOptions, LazySupervisedDataset

    base, data = small
    (m, d, t), tok, model, processor = build(base, data, tmp_path / "o")
    torch.manual_seed(1)
    with torch.no_grad():  # make the adapter and the projector differ from the base
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    ds = LazySupervisedDataset(DatasetOptions(str(data), str(data.parent / "images"), "pad", "v1", 256, "add"),
                               tok, processor)
    batch = DataCollatorForSupervisedDataset(tok)([ds[0], ds[3]])
    batch.pop("labels")
    model.eval()
    with torch.no_grad():
        want = model(**batch).logits
    out = save_lora_folder(model, tmp_path / "adapter_out")  # name holds neither 'lora' nor 'llava'... by design
    assert {"config.json", "adapter_config.json", "adapter_model.safetensors", "non_lora_trainables.safetensors"} <= {
        p.name for p in out.iterdir()}
    from safetensors.torch import load_file

    keys = list(load_file(str(out / "non_lora_trainables.safetensors")))
    assert keys and all(k.startswith("base_model.model.model.mm_projector.") for k in keys)
    _, loaded, _, _ = load_pretrained_model(str(out), str(base), None, device="cpu")
    with torch.no_grad():
        got = loaded(**batch).logits
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_lora_on_vision_tower_with_projector_frozen(small, tmp_path):
    """PSG-LLaVA: LoRA on the CLIP tower and the language model, projector frozen; saved and reloaded."""
    from safetensors.torch import load_file

    from llava.model.builder import load_pretrained_model
    from llava.train.checkpointing import save_lora_folder
    from llava.train.collator import DataCollatorForSupervisedDataset
    from llava.train.dataset import DatasetOptions, LazySupervisedDataset

    base, data = small
    (m, d, t), tok, model, processor = build(base, data, tmp_path / "o", "--lora_vision_tower", "True",
                                             "--freeze_mm_mlp_adapter", "True")
    lora = [n for n, _ in model.named_modules() if n.endswith("lora_A")]
    assert any("vision_tower" in n and "self_attn.q_proj" in n for n in lora)
    assert any("vision_tower" not in n and "layers.0.mlp.down_proj" in n for n in lora)
    assert not any("mm_projector" in n or "lm_head" in n for n in lora)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)  # tower weights and projector frozen
    projector = {n: p.detach().clone() for n, p in model.named_parameters() if "mm_projector" in n}
    tower_b = {n: p.detach().clone() for n, p in model.named_parameters() if "vision_tower" in n and "lora_B" in n}

    ds = LazySupervisedDataset(DatasetOptions(str(data), str(data.parent / "images"), "pad", "v1", 256, "add"),
                               tok, processor)
    batch = DataCollatorForSupervisedDataset(tok)([ds[0], ds[3]])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(2):
        opt.zero_grad()
        model(**batch).loss.backward()
        opt.step()
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in projector.items())  # bit-identical
    changed = {n for n, v in tower_b.items() if not torch.equal(after[n], v)}
    # the tower's LoRA learned in the layers that feed the selected hidden state (layer -2 of a
    # 2-layer tower: layer 0); the last layer's output is never read, so its LoRA gets no gradient
    assert changed and all(".layers.0." in n for n in changed), sorted(changed)
    assert {n for n in tower_b if ".layers.0." in n} == changed

    out = save_lora_folder(model, tmp_path / "ckpt")
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert "vision_tower" in adapter_cfg["target_modules"] and "mm_projector" not in adapter_cfg["target_modules"]
    assert json.loads((out / "config.json").read_text())["lora_vision_tower"] is True
    assert list(load_file(str(out / "non_lora_trainables.safetensors"))) == []  # nothing else was trained
    assert any("vision_tower" in k for k in load_file(str(out / "adapter_model.safetensors")))

    batch.pop("labels")
    model.eval()
    with torch.no_grad():
        want = model(**batch).logits
    _, loaded, _, _ = load_pretrained_model(str(out), str(base), None, device="cpu")
    with torch.no_grad():
        got = loaded(**batch).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    _, plain, _, _ = load_pretrained_model(str(base), None, None, device="cpu")
    with torch.no_grad():
        assert not torch.allclose(plain(**batch).logits, want, atol=1e-3)
    base_proj = dict(plain.named_parameters())
    assert all(torch.equal(base_proj[n.replace("base_model.model.", "")], v) for n, v in projector.items())


def _final_state(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state = load_file(str(out / "adapter_model.safetensors"))
    state.update(load_file(str(out / "non_lora_trainables.safetensors")))
    return state


def test_resume_from_newest_checkpoint_matches_an_uninterrupted_run(small, tmp_path):
    """A 4-step run (plain `python llava/train/train_mem.py`) saves checkpoint-2 and -4; with
    checkpoint-4 and the final files gone (a crash after step 2), rerunning the same command
    resumes from checkpoint-2 and ends with exactly the uninterrupted run's weights."""
    import shutil

    from llava.train.train import train

    base, data = small
    out = tmp_path / "run"
    args = argv(base, data, out, "--max_steps", "4", "--save_steps", "2")
    proc = subprocess.run([sys.executable, "llava/train/train_mem.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for step in (2, 4):
        assert (out / f"checkpoint-{step}" / "non_lora_trainables.safetensors").is_file()
        assert (out / f"checkpoint-{step}" / "config.json").is_file()
    uninterrupted = _final_state(out)
    at_step_2 = _final_state(out / "checkpoint-2")
    shutil.rmtree(out / "checkpoint-4")
    for name in ("adapter_model.safetensors", "non_lora_trainables.safetensors", "trainer_state.json"):
        (out / name).unlink()

    train(args)
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]
    resumed = _final_state(out)
    assert resumed.keys() == uninterrupted.keys()
    for k in resumed:
        torch.testing.assert_close(resumed[k], uninterrupted[k], atol=1e-5, rtol=1e-4)
    assert any(not torch.equal(at_step_2[k], resumed[k]) for k in resumed)  # steps 3-4 did train


def test_feature_mismatch_stops_training_with_a_clear_error(small, tmp_path):
    from llava.eeg_features import write_sidecar
    from llava.train.train import train

    base, data = small
    bad = tmp_path / "d"
    bad_data = write_data(bad)
    write_sidecar(bad / "train_high_level_features.npy", [f"X{i}" for i in range(20)])
    with pytest.raises(ValueError, match=r"row 0 belongs to sample 'X0', but data file .*eeg_ft.json.* has 'S000/000000'"):
        train(argv(base, bad_data, tmp_path / "o", "--max_steps", "1"))


@pytest.mark.parametrize("extra", [
    ("--bits", "4", "--gradient_checkpointing", "True"),  # QLoRA: projector and tower stay unquantised
    ("--eeg_fusion", "raw", "--mm_use_im_start_end", "True"),
])
def test_training_variants_with_text_only_samples(small, tmp_path, extra):
    from safetensors.torch import load_file

    from llava.train.train import train

    base, _ = small
    data = write_data(tmp_path / "d")
    samples = json.loads(data.read_text())
    for i in (1, 6, 11):  # text-only samples between the image ones
        samples[i].pop("image")
        samples[i]["conversations"][0]["value"] = "What is the sleep stage?"
    data.write_text(json.dumps(samples))
    out = train(argv(base, data, tmp_path / "o", "--max_steps", "2", "--save_strategy", "no", *extra))
    projector = load_file(str(Path(out) / "non_lora_trainables.safetensors"))
    assert projector and all(v.dtype == torch.float32 for v in projector.values())
    assert all(k.startswith("base_model.model.model.mm_projector.") for k in projector)
    config = json.loads((Path(out) / "config.json").read_text())
    assert config["eeg_fusion"] == ("raw" if "raw" in extra else "add")
    state = json.loads((Path(out) / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and all(e["loss"] > 0 for e in state["log_history"] if "loss" in e)


def test_next_anyres_items_batch_and_train_a_step(tiny_next, tmp_path):
    """LLaVA-NeXT (tiny Mistral, anyres, spatial_unpad): dataset tiles, collator list + sizes, one step."""
    from PIL import Image

    from llava.model.anyres import AnyresGeometry
    from llava.train.collator import DataCollatorForSupervisedDataset
    from llava.train.dataset import DatasetOptions, LazySupervisedDataset
    from llava.train.train import _anyres_geometry

    base = tiny_next("mistral")
    tile = int(json.loads((base / "clip_vision_tower" / "config.json").read_text())["image_size"])
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    sizes = [(2 * tile, tile), (tile, int(1.5 * tile)), (int(1.2 * tile), int(1.2 * tile))]
    samples = []
    for i, size in enumerate(sizes):
        Image.new("RGB", size, (40 * i, 90, 160)).save(root / "images" / f"e{i}.png")
        samples.append({"id": f"S{i}", "image": f"e{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is the sleep stage?"}, {"from": "gpt", "value": STAGES[i]}]})
    samples.append({"id": "T", "conversations": [{"from": "human", "value": "Which stages exist?"},
                                                 {"from": "gpt", "value": "W N1 N2 N3 REM"}]})
    (root / "eeg_ft.json").write_text(json.dumps(samples))
    data = root / "eeg_ft.json"
    (m, d, t), tok, model, processor = build(
        base, data, tmp_path / "o", "--version", "mistral_instruct", "--image_aspect_ratio", "anyres",
        "--mm_patch_merge_type", "spatial_unpad", "--vision_tower", str(base / "clip_vision_tower"),
        "--lora_vision_tower", "True", "--freeze_mm_mlp_adapter", "True", "--model_max_length", "4096")
    geometry = _anyres_geometry(model)
    assert isinstance(geometry, AnyresGeometry) and geometry.merge_type == "spatial_unpad"
    inner = model.get_base_model().get_model()
    assert not inner.image_newline.requires_grad  # frozen with the projector
    options = DatasetOptions(str(data), str(root / "images"), "anyres", "mistral_instruct", 4096, "add",
                             image_grid_pinpoints=model.get_base_model().config.image_grid_pinpoints, anyres=geometry)
    ds = LazySupervisedDataset(options, tok, processor)
    items = [ds[i] for i in range(4)]
    for it, size in zip(items, sizes):
        assert it["image"].shape == (geometry.num_tiles(size), 3, tile, tile) and it["image_size"] == size
    batch = DataCollatorForSupervisedDataset(tok)(items)
    assert isinstance(batch["images"], list) and batch["image_sizes"][:3] == sizes
    model.train()
    loss = model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "vision_tower" in n and "lora_B" in n and ".layers.0." in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_next_full_fine_tuning_llama3_saves_a_full_checkpoint(tiny_next, tmp_path):
    """--lora_enable False on a tiny LLaVA-NeXT (Llama-3, llava_llama_3): every LM weight and the
    projector train, the tower stays, and the output folder loads as a full checkpoint."""
    from PIL import Image
    from safetensors.torch import load_file

    from llava.model.builder import load_pretrained_model
    from llava.train.train import train

    base = tiny_next("llama3")
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    samples = []
    for i in range(6):
        Image.new("RGB", (672, 336), (40 * i, 90, 160)).save(root / "images" / f"e{i}.png")
        samples.append({"id": f"S{i}", "image": f"e{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is the sleep stage?"}, {"from": "gpt", "value": STAGES[i % 5]}]})
    (root / "eeg_ft.json").write_text(json.dumps(samples))
    out = tmp_path / "full"
    args = argv(base, root / "eeg_ft.json", out, "--lora_enable", "False", "--version", "llava_llama_3",
                "--image_aspect_ratio", "anyres", "--mm_patch_merge_type", "spatial_unpad",
                "--model_max_length", "4096", "--num_train_epochs", "1", "--per_device_train_batch_size", "2",
                "--group_by_modality_length", "False", "--save_strategy", "no")
    train(args)
    assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    _, tuned, _, _ = load_pretrained_model(str(out), None, None, device="cpu")
    _, plain, _, _ = load_pretrained_model(str(base), None, None, device="cpu")
    tuned_state, base_state = tuned.state_dict(), plain.state_dict()
    changed = {k for k in base_state if not torch.equal(tuned_state[k], base_state[k])}
    assert any("layers.0.self_attn.q_proj" in k for k in changed)  # the language model trained
    assert any("mm_projector" in k for k in changed) and "model.image_newline" in changed
    assert not any("vision_tower" in k for k in changed)  # the tower did not
    files = list(out.glob("*.safetensors"))
    assert files and not any("vision_tower" in k for f in files for k in load_file(str(f)))  # CLIP not saved


def test_a_training_is_a_function_of_its_flags_not_of_the_process_random_state(small, tmp_path):
    """Two in-process runs of the same flags (as `eeg-vlm experiment` runs its cells), with the
    global random state moved in between, end with identical weights: LoRA's init is seeded
    from --seed, not from whatever ran before."""
    from llava.train.train import train

    base, data = small
    states = []
    for i, noise in enumerate((11, 12345)):
        torch.manual_seed(noise)
        torch.rand(noise % 997)
        train(argv(base, data, tmp_path / f"run{i}", "--max_steps", "1", "--save_steps", "100"))
        states.append(_final_state(tmp_path / f"run{i}"))
    assert states[0].keys() == states[1].keys()
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
