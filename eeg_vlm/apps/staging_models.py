"""Stage probabilities of the rendered epochs: the vision module's own head, or LLaVA label
scoring on the vision module's features.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ondisk import read_answers, write_text_atomic
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["vision_probs", "llava_probs"]


def vision_probs(model, mconf, images: list[Path], ids: list[str], batch_size: int, device,
                  progress: bool) -> np.ndarray:
    """The vision module's own stage probabilities ``(N, 5)``, batched, in inference mode."""
    import torch

    from feature_extractor.images import ImageDataset, ImageTransform
    from feature_extractor.predict import predict
    from feature_extractor.samples import Sample

    model.to(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
    dataset = ImageDataset([Sample(i, p) for i, p in zip(ids, images)], ImageTransform.from_config(mconf))
    return predict(model, dataset, batch_size, device, channels_last=True, progress=progress)


def llava_probs(out: Path, vision_model: Path, ids: list[str], names: list[str], question: str,
                 llava: str, llava_base: str | None, batch_size: int, device: str, score_template: str,
                 conv_mode: str, progress: bool) -> np.ndarray:
    """Features -> LLaVA label scoring; probabilities ``(N, 5)`` in STAGES order."""
    from eeg_vlm.reasoning.llava_data import eval_record
    from feature_extractor.extract import extract_features
    from llava.eval.model_vqa import eval_model, eval_settings

    work = out / "llava"
    questions = work / "eeg_eval.jsonl"
    lines = [json.dumps(eval_record(i, n, question, "")) + "\n" for i, n in zip(ids, names)]
    write_text_atomic(questions, "".join(lines))
    features = extract_features(vision_model, questions, out=work / "eval_high_level_features.npy",
                                image_folder=out / "images", batch_size=batch_size, device=device, progress=progress)
    answers = work / "answers.jsonl"
    eval_model(eval_settings(
        str(llava), model_base=str(llava_base) if llava_base else None, question_file=str(questions),
        image_folder=str(out / "images"), answers_file=str(answers), high_level_features=str(features),
        overwrite=True, score_labels=",".join(STAGES), score_template=score_template, conv_mode=conv_mode,
        batch_size=int(batch_size), device=device))
    probs: dict[str, list[float]] = {}
    for _, rec in read_answers(answers):
        p = rec["metadata"]["probs"]
        probs[str(rec["question_id"])] = [float(p[s]) for s in STAGES]
    missing = [i for i in ids if i not in probs]
    if missing:
        raise ValueError(f"answers file {str(answers)!r}: no answer for {len(missing)} epochs, e.g. {missing[0]!r}")
    return np.array([probs[i] for i in ids], dtype=np.float64)
