"""``eeg-vlm demo``: the whole pipeline on synthetic PSG with a tiny model, on CPU, in minutes.

Every step runs the command a user would type (printed before it runs), so the demo doubles
as a worked example of the seed workflow:

1. synthetic Sleep-EDF-style nights (EDF+ PSG + hypnogram)
2. ``eeg-vlm convert`` -> 336x336 Fpz-Cz epoch images + ``manifest.csv``
3. ``eeg-vlm split`` -> subject-wise train/val/test
4. ``eeg-vlm train-features`` -> the modified ResNet-18 (features as wide as the tiny tower)
5. ``eeg-vlm build-data`` -> ``eeg_ft.json`` / ``eeg_eval.jsonl`` with stage-wise CoT
6. ``eeg-vlm extract`` -> ``train_high_level_features.npy`` / ``eval_high_level_features.npy``
7. a tiny LLaVA-1.5 base built from configs (the stand-in for LLaVA-v1.5-13b)
8. ``llava/train/train_mem.py`` with the seed's LoRA flags
9. ``llava/eval/model_vqa.py`` -> ``answers/eeg_answers.jsonl``
10. ``eeg-vlm report`` -> tables and figures
11. ``eeg-vlm stage`` -> a held-out night staged from its EDF alone (hypnogram CSV/EDF+/plots)

The tiny model learns the task only as far as a 2-layer, 64-wide language model can in a
minute; the point is that every file, flag and format is the real one.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main", "demo_commands", "held_out_night", "shown"]

REPO = Path(__file__).resolve().parents[2]


def demo_commands(out: Path, subjects: int, hours: float, seed: int, fast: bool,
                  cot: str = "none") -> list[tuple[str, list[str]]]:
    """The demo's steps as ``(title, argv)`` pairs, argv starting with the Python executable.

    ``cot`` is the chain-of-thought variant the tiny LLaVA is trained on. With ``'none'``
    (the default here) answers are ``Sleep stage: X`` and evaluation ranks the five stages
    by likelihood; with ``'stagewise'``/``'single'`` evaluation generates the reasoning,
    which a 64-wide model does slowly and poorly — real runs use ``stagewise``.
    """
    from eeg_vlm.experiments.profiles import TINY

    # The tiny profile's sizes (shared with `eeg-vlm experiment`): the CLIP tower, hence
    # mm_hidden_size and the features, is TINY.feature_dim wide (CLIP ViT-L: 1024), and the
    # modified ResNet-18's last stage is as wide as the features, so nothing is projected down.
    width = str(TINY.feature_dim)
    vision_kwargs = json.dumps(TINY.vision_kwargs["resnet18_1024"], separators=(",", ":"))
    py = sys.executable
    night = held_out_night(subjects, seed)
    raw, conv, data = out / "raw", out / "converted", out / "sleep_data"
    manifest = conv / "manifest.csv"
    vision = out / "vision_model"
    base = out / "tiny-llava-v1.5"
    ckpt = out / "checkpoints" / "eeg-vlm-lora"
    answers = data / "answers" / "eeg_answers.jsonl"
    eeg_vlm = [py, "-m", "eeg_vlm"]
    if cot == "none":
        eval_mode = ["--score-labels", "W,N1,N2,N3,REM", "--score-template", "Sleep stage: {label}"]
    else:
        eval_mode = ["--temperature", "0", "--max_new_tokens", "1024"]
    vision_epochs = "2" if fast else "4"
    # one LoRA epoch: a second one scored the same on the held-out subject (acc 0.848 both,
    # kappa 0.784 vs 0.780) at twice the demo's longest step
    return [
        ("synthetic PSG", eeg_vlm + ["synth", "--out", str(raw), "--subjects", str(subjects), "--hours", str(hours),
                                     "--seed", str(seed)]),
        ("PSG -> epoch images + manifest", eeg_vlm + ["convert", str(raw), str(conv), "--channels", "Fpz-Cz",
                                                       "--style", "eeg-vlm", "--sfreq", "100", "--workers", "2"]),
        ("subject-wise split", eeg_vlm + ["split", str(manifest), "--protocol", "holdout", "--seed", str(seed)]),
        ("train the specialized vision module", eeg_vlm + [
            "train-features", "--manifest", str(manifest), "--out", str(vision), "--model", "resnet18_1024",
            "--model-kwargs", vision_kwargs, "--image-size", str(TINY.vision_image_size), "--epochs", vision_epochs,
            "--batch-size", str(TINY.vision_batch), "--lr", TINY.vision_lr, "--feature-dim", width,
            "--class-weights", "balanced", "--seed", str(seed),
            "--predict-splits", "test", "--workers", "0", "--no-keep-last"]),
        ("stage-wise chain-of-thought from the signal (example data)", eeg_vlm + [
            "build-data", "--manifest", str(manifest), "--out-dir", str(out / "sleep_data_cot"),
            "--cot", "stagewise"]),
        (f"training / evaluation data (--cot {cot})", eeg_vlm + [
            "build-data", "--manifest", str(manifest), "--out-dir", str(data), "--cot", cot]),
        ("high-level features for training", eeg_vlm + [
            "extract", "--checkpoint", str(vision), "--data", str(data / "eeg_ft.json"),
            "--image-folder", str(data / "eeg_images_ft")]),
        ("high-level features for evaluation", eeg_vlm + [
            "extract", "--checkpoint", str(vision), "--data", str(data / "eeg_eval.jsonl"),
            "--image-folder", str(data / "eeg_images_eval")]),
        ("tiny LLaVA-1.5 base from configs", [py, "-m", "llava.model.tiny", "--out", str(base),
                                               "--clip-width", width]),
        ("LoRA fine-tuning (seed flags)", [
            py, str(REPO / "llava/train/train_mem.py"),
            "--lora_enable", "True", "--lora_r", "16", "--lora_alpha", "32", "--mm_projector_lr", "2e-4",
            "--model_name_or_path", str(base), "--version", "v1",
            "--data_path", str(data / "eeg_ft.json"), "--image_folder", str(data / "eeg_images_ft"),
            "--mm_projector_type", "mlp2x_gelu", "--mm_vision_select_layer", "-2",
            "--mm_use_im_start_end", "False", "--mm_use_im_patch_token", "False",
            "--image_aspect_ratio", "pad", "--group_by_modality_length", "True", "--bf16", "False",
            "--output_dir", str(ckpt), "--num_train_epochs", "1",
            "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
            "--evaluation_strategy", "no", "--save_strategy", "steps", "--save_steps", "50000",
            "--save_total_limit", "1", "--learning_rate", "2e-3", "--weight_decay", "0.",
            "--warmup_ratio", "0.03", "--lr_scheduler_type", "cosine", "--logging_steps", "5",
            "--model_max_length", "2048", "--gradient_checkpointing", "False",
            "--dataloader_num_workers", "0", "--lazy_preprocess", "True", "--report_to", "none",
            "--seed", str(seed)]),
        ("answer the held-out questions", [
            py, str(REPO / "llava/eval/model_vqa.py"), "--model-path", str(ckpt), "--model-base", str(base),
            "--question-file", str(data / "eeg_eval.jsonl"), "--image-folder", str(data / "eeg_images_eval"),
            "--answers-file", str(answers), "--device", "cpu", *eval_mode]),
        ("report", eeg_vlm + [
            "report", "--answers", str(answers), "--predictions", str(vision / "predictions_test.csv"),
            "--names", "eeg-vlm (tiny LLaVA)", "resnet18_1024 (vision module)",
            "--manifest", str(manifest), "--dataset", "synthetic PSG", "--out", str(out / "report"),
            "--n-boot", "200"]),
        ("stage a held-out night from its EDF", eeg_vlm + [
            "stage", str(raw / f"{night}E0-PSG.edf"), "--vision-model", str(vision), "--llava", str(ckpt),
            "--llava-base", str(base), "--cot", cot, "--hypnogram", str(raw / f"{night}EC-Hypnogram.edf"),
            "--out", str(out / "night")]),
    ]


def held_out_night(subjects: int, seed: int) -> str:
    """The first test-split night of the demo, as ``SC4ssn`` (file names add ``E0``/``EC``).

    ``eeg-vlm synth`` names subject ``s`` ``SC4{s:02d}`` (night 1) in dataset ``sleep-edf``,
    and ``eeg-vlm split --protocol holdout`` is a pure function of the subjects and the seed,
    so the staging step's file is known before anything runs (and is checked once it does).
    """
    from eeg_vlm.dataset.splits import holdout_split

    split = holdout_split([f"sleep-edf/SC4{s:02d}" for s in range(int(subjects))], seed=seed)
    first = min(key for key, part in split.items() if part == "test")
    return first.split("/", 1)[1] + "1"


def shown(cmd: list[str]) -> str:
    """A step's command as a user types it in the activated ``.venv``: ``eeg-vlm ...``,
    ``python llava/...`` relative to the repository."""
    if cmd[0] == sys.executable:
        if cmd[1:3] == ["-m", "eeg_vlm"]:
            cmd = ["eeg-vlm", *cmd[3:]]
        else:
            rest = [str(Path(a).relative_to(REPO)) if a.startswith(str(REPO) + "/") else a for a in cmd[1:2]]
            cmd = ["python", *rest, *cmd[2:]]
    return shlex.join(cmd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eeg-vlm demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    parser.add_argument("--subjects", type=int, default=6, help="synthetic subjects (default: 6)")
    parser.add_argument("--hours", type=float, default=2.0, help="hours per synthetic night (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, splits and training (default: 0)")
    parser.add_argument("--fast", action="store_true", help="fewer training epochs (used by the tests)")
    parser.add_argument("--cot", choices=("none", "single", "stagewise"), default="none",
                        help="chain-of-thought variant the tiny LLaVA learns (default: none; the "
                             "others generate their reasoning at evaluation, slowly on CPU)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    from eeg_vlm.cli import add_verbosity, configure_logging

    add_verbosity(parser, "each step")
    args = parser.parse_args(argv)
    configure_logging(args)

    out = args.out.resolve()
    steps = demo_commands(out, args.subjects, args.hours, args.seed, args.fast, args.cot)
    started = time.perf_counter()
    print(f"Each step prints its command; to type them yourself: cd {REPO} && source .venv/bin/activate")
    for i, (title, cmd) in enumerate(steps, 1):
        print(f"\n[{i}/{len(steps)}] {title}\n$ {shown(cmd)}", flush=True)
        if args.dry_run:
            continue
        if cmd[3:4] == ["stage"]:
            _check_test_night(out, held_out_night(args.subjects, args.seed))
        t0 = time.perf_counter()
        result = subprocess.run(cmd, cwd=REPO)
        if result.returncode != 0:
            print(f"eeg-vlm demo: step {i} ({title}) failed with exit code {result.returncode}", file=sys.stderr)
            return result.returncode
        print(f"    done in {time.perf_counter() - t0:.1f} s", flush=True)
        if title.startswith("PSG -> epoch images"):
            sheet = out / "sample_images.png"
            _contact_sheet(out / "converted" / "manifest.csv", sheet)
            print(f"    one image per stage: {sheet}")
        if title.startswith("stage-wise chain-of-thought"):
            _print_example_rationale(out / "sleep_data_cot" / "eeg_ft.json")
    if not args.dry_run:
        print(f"\nwhole pipeline in {time.perf_counter() - started:.0f} s; report: {out / 'report'}")
    return 0


def _check_test_night(out: Path, night: str) -> None:
    """Fail loudly if the split did not put :func:`held_out_night` first in test."""
    from eeg_vlm.dataset.manifest import read_manifest

    record = next(r.record_id for r in read_manifest(out / "converted" / "manifest.csv") if r.split == "test")
    if record != f"{night}E0":
        raise RuntimeError(f"eeg-vlm demo: first test night is {record!r}, expected {night + 'E0'!r}")


def _print_example_rationale(path: Path) -> None:
    """Show one training answer: the reasoning a stage-wise CoT model learns to write."""
    from ondisk import read_ft_json

    samples = read_ft_json(path)
    sample = next((s for s in samples if s["conversations"][1]["value"].endswith("N2")), samples[0])
    answer = sample["conversations"][1]["value"].replace("\n", "\n      ")
    print(f"    example answer for {sample['id']}:\n      {answer}")


def _contact_sheet(manifest: Path, out: Path) -> None:
    """One epoch image per stage side by side, the stage written UNDER each tile.

    The label is drawn outside the epoch images, on a sheet for people: the images the
    models see carry nothing but the waveform.
    """
    from PIL import Image, ImageDraw

    from eeg_vlm.dataset.manifest import read_manifest
    from eeg_vlm.stages import STAGES
    from ondisk import atomic_write, join_inside

    first: dict[str, str] = {}
    for row in read_manifest(manifest):
        first.setdefault(row.stage, row.image)
    where = f"manifest {str(manifest)!r}"
    tiles = [(s, Image.open(join_inside(manifest.parent, first[s], where, "image path")).convert("L"))
             for s in STAGES if s in first]
    if not tiles:
        return
    w, h = tiles[0][1].size
    sheet = Image.new("L", (len(tiles) * (w + 8), h + 24), 255)
    draw = ImageDraw.Draw(sheet)
    for i, (stage, img) in enumerate(tiles):
        sheet.paste(img, (i * (w + 8), 0))
        draw.text((i * (w + 8) + w // 2 - 8, h + 6), stage, fill=0)
    with atomic_write(out, "wb") as fh:
        sheet.save(fh, format="PNG")


if __name__ == "__main__":
    sys.exit(main())
