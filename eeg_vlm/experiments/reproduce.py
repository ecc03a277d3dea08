"""The two papers' whole pipelines as resumable step lists (``scripts/reproduce_eeg_vlm.sh``, ``..._psg_llava.sh``).

EEG-VLM (Sleep-EDF Expanded, Fpz-Cz, one image per epoch): convert -> subject-wise split ->
train the modified ResNet-18 -> chain-of-thought data -> features -> the seed's
``deepspeed llava/train/train_mem.py`` LoRA command -> the seed's ``model_vqa.py`` -> report.
With ``--profile gpu`` the fine-tuning and evaluation commands are the seed's (002), flag
for flag, value for value (the placeholders ``your_checkpoints_path/LLaVA-v1.5-13b`` and
``./checkpoints/your_checkpoints_save_path`` are replaced by ``--base-model`` / ``--ckpt``
when given).

PSG-LLaVA (ISRUC-S1, MASS-SS3 or SHHS-1, stacked multi-channel images): convert ->
holdout split (seed; its five seeds are 0-4) -> data -> ``scripts/finetune_psg_llava.sh``
(LLaVA-NeXT-7B, LoRA on the vision tower and the language model, Table 2's settings; the
script is the llava-train one, called with its variables) -> label-scoring evaluation ->
report.

``--profile tiny`` runs the same steps on CPU on synthetic nights with tiny models. Every
step leaves a marker; a rerun skips the finished steps (:mod:`eeg_vlm.experiments.steps`).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from eeg_vlm.experiments import profiles as pf
from eeg_vlm.experiments.steps import Step

__all__ = ["PSG_CHANNELS", "SEED_CKPT", "eeg_vlm_steps", "psg_llava_steps"]

SEED_CKPT = "./checkpoints/your_checkpoints_save_path"
#: channels drawn per PSG-LLaVA dataset (names or aliases; --channels overrides)
PSG_CHANNELS = {
    "isruc": ["F3-A2", "C3-A2", "O1-A2", "F4-A1", "C4-A1", "O2-A1", "LOC-A2", "ROC-A1", "X1"],
    "mass": ["EEG F3-CLE", "EEG C3-CLE", "EEG O1-CLE", "EEG F4-CLE", "EEG C4-CLE", "EEG O2-CLE",
             "EOG Left Horiz", "EOG Right Horiz", "EMG Chin1"],
    "shhs": ["EEG", "EEG(sec)", "EOG(L)", "EOG(R)", "EMG"],
}
_EEG = [sys.executable, "-m", "eeg_vlm"]


def _data_steps(raw: Path | None, work: Path, channels: list[str], style: str, seed: int, tiny: bool,
                subjects: int, hours: float, name: str) -> tuple[list[Step], Path]:
    done = work / ".done"
    if tiny and raw is None:
        from eeg_vlm.experiments.command import synthetic_steps

        return synthetic_steps(work / "synthetic", subjects, hours, seed)
    conv = work / "sleep_data" / name
    manifest = conv / "manifest.csv"
    return [Step("convert recordings to epoch images", _EEG + ["convert", str(raw), str(conv), "--channels", *channels,
                                                                "--style", style], done / "convert.json"),
            Step("subject-wise split", _EEG + ["split", str(manifest), "--protocol", "holdout", "--seed", str(seed)],
                 done / "split.json")], manifest


def eeg_vlm_steps(p: pf.Profile, work: Path, raw: Path | None, ckpt: str = SEED_CKPT, seed: int = 0,
                  subjects: int = 5, hours: float = 0.5) -> list[Step]:
    """EEG-VLM end to end (see the module docstring); seed paths under ``work`` (``sleep_data/``...)."""
    tiny = p.name == "tiny"
    done = work / ".done"
    data_steps, manifest = _data_steps(raw, work, ["Fpz-Cz"], "eeg-vlm", seed, tiny, subjects, hours,
                                       "sleep-edf")
    sleep, vision = work / "sleep_data", work / "runs" / "resnet18_1024"
    ckpt_path = Path(ckpt) if Path(ckpt).is_absolute() or not tiny else work / ckpt
    steps = data_steps + ([Step("tiny LLaVA-1.5 base", pf.tiny_base_argv(p), done / "tiny_base.json")] if tiny else [])
    steps += [
        Step("train the specialized vision module", pf.vision_train_argv(p, manifest, vision, "resnet18_1024", seed),
             done / "vision.json"),
        Step("training / evaluation data, stage-wise CoT", pf.build_data_argv(manifest, sleep, "stagewise"),
             done / "data.json"),
        Step("features for training", pf.extract_argv(p, vision, sleep / "eeg_ft.json", sleep / "eeg_images_ft",
                                                      sleep / "train_high_level_features.npy"), done / "feat_ft.json"),
        Step("features for evaluation", pf.extract_argv(p, vision, sleep / "eeg_eval.jsonl", sleep / "eeg_images_eval",
                                                        sleep / "eval_high_level_features.npy"), done / "feat_eval.json"),
    ]
    train = pf.finetune_argv(p, sleep / "eeg_ft.json", sleep / "eeg_images_ft", ckpt_path, seed=seed if tiny else None,
                             cot="stagewise")
    answers = sleep / "answers" / "eeg_answers.jsonl"
    ev = pf.eval_argv(p, ckpt_path, sleep / "eeg_eval.jsonl", sleep / "eeg_images_eval", answers,
                      label_scoring=True if tiny else None)
    steps += [Step("LoRA fine-tuning (the seed's command)", train, done / "finetune.json"),
              Step("evaluation (the seed's command)", ev, done / "eval.json"),
              Step("report", _EEG + ["report", "--answers", str(answers), "--manifest", str(manifest),
                                     "--out", str(work / "reports" / "eeg-vlm"), "--n-boot", "200"],
                   done / "report.json")]
    return steps


def psg_llava_steps(p: pf.Profile, work: Path, raw: Path | None, dataset: str = "isruc",
                    channels: list[str] | None = None, ckpt: str = "./checkpoints/psg_llava", seed: int = 0,
                    subjects: int = 5, hours: float = 0.5) -> list[Step]:
    """PSG-LLaVA end to end on one dataset (see the module docstring)."""
    tiny = p.name == "tiny"
    done = work / ".done"
    channels = channels or (["Fpz-Cz", "Pz-Oz", "EOG horizontal"] if tiny else PSG_CHANNELS[dataset])
    if tiny:
        data_steps = []
        if raw is None:
            from eeg_vlm.experiments.command import synthetic_steps

            synth, _ = synthetic_steps(work / "synthetic", subjects, hours, seed)
            data_steps, raw = synth[:1], work / "synthetic" / "raw"
        more, manifest = _data_steps(raw, work, channels, "psg-llava", seed, False, subjects, hours, dataset)
        data_steps += more
    else:
        data_steps, manifest = _data_steps(raw, work, channels, "psg-llava", seed, False, subjects, hours, dataset)
    sleep = work / "sleep_data"
    base = str(work / "tiny_next_base") if tiny else p.base_model
    ckpt_path = str(work / ckpt) if tiny else ckpt
    env = ["env", f"BASE={base}", f"OUT={ckpt_path}", f"DATA={sleep / 'eeg_ft.json'}",
           f"IMAGES={sleep / 'eeg_images_ft'}", f"PYTHON={sys.executable}"]
    if tiny:
        env += ["PROFILE=tiny", "LAUNCHER=" + sys.executable, "TINY_ARGS=--next"]
    train = env + ["bash", str(pf.REPO / "scripts" / "finetune_psg_llava.sh"), "--eeg_fusion", "none"]
    if tiny:
        train += ["--max_steps", str(p.max_steps), "--dataloader_num_workers", "0", "--seed", str(seed)]
    answers = sleep / "answers" / "psg_llava_answers.jsonl"
    ev = pf.eval_argv(replace(p, base_model=base), ckpt_path, sleep / "eeg_eval.jsonl", sleep / "eeg_images_eval",
                      answers, fusion="none") + ["--conv-mode", "mistral_instruct"]
    return data_steps + [
        Step("training / evaluation data", pf.build_data_argv(manifest, sleep, "none"), done / "data.json"),
        Step("fine-tuning (scripts/finetune_psg_llava.sh)", train, done / "finetune.json"),
        Step("evaluation (label scoring)", ev, done / "eval.json"),
        Step("report", _EEG + ["report", "--answers", str(answers), "--manifest", str(manifest), "--dataset",
                               {"isruc": "ISRUC", "mass": "MASS", "shhs": "SHHS"}.get(dataset, dataset),
                               "--out", str(work / "reports" / "psg-llava"), "--n-boot", "200"], done / "report.json"),
    ]
