"""The two models :func:`~eeg_vlm.explain.attribution.feature_ablation` explains, as probability functions.

- :func:`vision_probs_fn`: the specialized vision module's own softmax, with the exact
  transform it was trained with (:class:`feature_extractor.images.ImageTransform`).
- :func:`vlm_probs_fn`: the VLM's stage probabilities from label scoring
  (:mod:`llava.eval.label_scoring`): every masked copy is fed the way ``model_vqa.py
  --score-labels`` feeds an epoch — CLIP on the image and, for the feature slot, the vision
  module's features *of the same masked image* — so the attribution covers the whole
  model, both visual paths included. The prompt and the candidates' token ids are built
  once; a batch of copies costs one prompt pass and one candidate pass.

Both take ``uint8 (B, H, W)`` images and return ``float64 (B, 5)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from eeg_vlm.explain.attribution import ProbsFn
from eeg_vlm.stages import STAGES

logger = logging.getLogger(__name__)

__all__ = ["vision_probs_fn", "load_vision", "vlm_probs_fn", "model_probs_fn"]


def load_vision(checkpoint: str | Path, device: str = "auto"):
    """``(model, transform, device)`` of a feature_extractor checkpoint, in eval mode."""
    from feature_extractor.checkpoint import load_model
    from feature_extractor.images import ImageTransform
    from feature_extractor.runtime import resolve_device

    dev = resolve_device(device)
    model, mconf, _ = load_model(checkpoint, dev)
    if list(mconf.classes) != list(STAGES):
        raise ValueError(f"vision model {str(checkpoint)!r}: classes {mconf.classes} are not the five stages")
    return model, ImageTransform.from_config(mconf), dev


def _vision_batch(model, transform, images: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = next(model.parameters()).dtype
    x = torch.stack([transform.from_image(Image.fromarray(im)) for im in images]).to(device, dtype)  # (B, C, S, S)
    with torch.inference_mode():
        logits, feats = model(x)  # (B, 5), (B, 1024)
    return logits.float(), feats


def vision_probs_fn(model: torch.nn.Module, transform, device: str | torch.device = "cpu") -> ProbsFn:
    """Probabilities of a :class:`feature_extractor.FeatureClassifier`-like model (``x -> (logits, feats)``)."""
    model.eval()

    def probs(images: np.ndarray) -> np.ndarray:
        logits, _ = _vision_batch(model, transform, images, device)
        return torch.softmax(logits, dim=1).cpu().double().numpy()

    return probs


def vlm_probs_fn(llava: str | Path, llava_base: str | None, vision_model: str | Path, question: str,
                 score_template: str = "Sleep stage: {label}", conv_mode: str = "llava_v1",
                 device: str = "auto", labels: Sequence[str] = STAGES) -> ProbsFn:
    """Label-scoring probabilities of a LLaVA checkpoint over ``labels`` (see the module docstring).

    Parameters
    ----------
    llava, llava_base : path
        LLaVA checkpoint (``--model-path``) and the base it was trained from (``--model-base``).
    vision_model : path
        The vision module whose features fill the feature slot (ignored under fusion ``none``).
    question : str
        The question text the checkpoint was trained with (:func:`eeg_vlm.reasoning.cot.question`).
    score_template, conv_mode : str
        As ``model_vqa.py --score-template`` / ``--conv-mode``.
    """
    from llava.eval.label_scoring import (answer_joiner, candidate_ids_after, candidate_probabilities,
                                          make_candidates, prefix_embeddings, score_candidates)
    from llava.eval.model_vqa import load_session, parse_args
    from llava.eval.prompting import build_prompt, count_image_tags, question_with_tags
    from llava.conversation import get_conv_template
    from llava.mm_utils import process_images, tokenizer_image_token

    argv = ["--model-path", str(llava), "--device", device, "--score-labels", ",".join(labels),
            "--score-template", score_template, "--conv-mode", conv_mode]
    if llava_base:
        argv += ["--model-base", str(llava_base)]
    session = load_session(parse_args(argv))
    n_tags = count_image_tags(2, session.fusion)
    cfg = session.model.config
    prompt = build_prompt(question_with_tags(question, n_tags, bool(getattr(cfg, "mm_use_im_start_end", False))),
                          conv_mode)
    tok = session.tokenizer
    ids = tokenizer_image_token(prompt, tok, return_tensors="pt")
    cands = make_candidates(list(labels), score_template)
    joiner = answer_joiner(get_conv_template(conv_mode))
    cand_ids = [candidate_ids_after(ids.tolist(), tokenizer_image_token(prompt + joiner + text, tok), label)
                for label, text in zip(cands.labels, cands.texts)]
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    vision, transform, vdev = load_vision(vision_model, device) if n_tags == 2 else (None, None, None)
    logger.info("explain: LLaVA %s (fusion %s), %d image tag(s), candidates %s", llava, session.fusion, n_tags,
                list(cands.labels))

    def probs(images: np.ndarray) -> np.ndarray:
        pil = [Image.fromarray(im).convert("RGB") for im in images]
        pixels = process_images(pil, session.image_processor, cfg).to(session.device, session.dtype)  # (B, 3, H, W)
        feats = None
        if vision is not None:
            _, f = _vision_batch(vision, transform, images, vdev)
            feats = f[:, None, :].to(session.device, session.dtype)  # (B, 1, 1024)
        with torch.inference_mode():
            embeds, mask = prefix_embeddings(session.model, [ids] * len(images), pixels,
                                             [im.size for im in pil], feats, pad_id)
            scores = score_candidates(session.model, embeds, mask, [cand_ids] * len(images))
        return candidate_probabilities(scores).cpu().double().numpy()

    return probs


def model_probs_fn(vision_model: str | Path, llava: str | None = None, llava_base: str | None = None,
                   cot: str = "none", channels: Sequence[str] = ("Fpz-Cz",),
                   score_template: str = "Sleep stage: {label}", conv_mode: str = "llava_v1",
                   device: str = "auto") -> tuple[ProbsFn, str]:
    """``(probs_fn, model name)``: the VLM's label scoring when ``llava`` is given, else the vision module.

    ``cot`` and ``channels`` give the question the LLaVA checkpoint was trained with
    (:func:`eeg_vlm.reasoning.cot.question`).
    """
    if llava:
        from eeg_vlm.reasoning.cot import question

        fn = vlm_probs_fn(llava, llava_base, vision_model, question(cot, list(channels)), score_template,
                          conv_mode, device)
        return fn, "VLM (label scoring)"
    model, transform, dev = load_vision(vision_model, device)
    return vision_probs_fn(model, transform, dev), "vision module"
