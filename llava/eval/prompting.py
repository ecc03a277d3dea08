"""Turn a question into model inputs: the prompt text, the image tensor, the feature row.

An EEG-VLM question carries ``"image": [img, img]``; the second entry is a placeholder
whose ``<image>`` slot receives the sample's high-level features. So a question gets one
``<image>`` tag per image entry (2), except under fusion ``'none'`` (vanilla LLaVA: 1 tag,
no features). Only the first image is ever loaded.
"""

from __future__ import annotations

import logging
import re

import torch

from llava.constants import DEFAULT_IM_END_TOKEN, DEFAULT_IM_START_TOKEN, DEFAULT_IMAGE_TOKEN
from llava.conversation import get_conv_template

logger = logging.getLogger(__name__)

__all__ = ["count_image_tags", "question_with_tags", "build_prompt", "stop_string", "decode_new_tokens"]

_TAG_LINE = re.compile(re.escape(DEFAULT_IMAGE_TOKEN) + r"\n?")


def count_image_tags(n_images: int, fusion: str) -> int:
    """How many ``<image>`` tags a question with ``n_images`` entries gets under ``fusion``.

    Raises ``ValueError`` for more than two entries (one image plus the feature slot is
    the most a sample carries).
    """
    if n_images > 2:
        raise ValueError(f"question: {n_images} image entries; expected 1 (an image) or 2 (image + feature placeholder)")
    if n_images == 2 and fusion == "none":
        return 1
    return n_images


def question_with_tags(text: str, n_tags: int, mm_use_im_start_end: bool = False) -> str:
    """``"<image>\\n" * n_tags + text`` (tags wrapped in ``<im_start>``/``<im_end>`` if asked).

    Tags already written in ``text`` are removed first, so a question file made with or
    without them gives the same prompt.
    """
    bare = _TAG_LINE.sub("", text) if DEFAULT_IMAGE_TOKEN in text else text
    tag = DEFAULT_IM_START_TOKEN + DEFAULT_IMAGE_TOKEN + DEFAULT_IM_END_TOKEN if mm_use_im_start_end else DEFAULT_IMAGE_TOKEN
    return (tag + "\n") * n_tags + bare


def build_prompt(question: str, conv_mode: str) -> str:
    """The generation prompt: template ``conv_mode`` with the question and an empty reply."""
    conv = get_conv_template(conv_mode)
    conv.append_message(conv.roles[0], question)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def stop_string(conv_mode: str) -> str:
    """The separator that ends an assistant reply in template ``conv_mode`` (``"</s>"`` for v1)."""
    return get_conv_template(conv_mode).stop


def decode_new_tokens(tokenizer, output_ids: torch.Tensor, input_ids: torch.Tensor, stop: str | None = None) -> str:
    """Decode what ``generate`` produced for one prompt.

    Generation from ``inputs_embeds`` (how a multimodal prompt is fed) returns only the new
    tokens; generation from ``input_ids`` returns the prompt first. Both are handled: a
    leading copy of the prompt is dropped. The text is stripped and a trailing ``stop``
    string removed.
    """
    out = output_ids.reshape(-1)
    prompt = input_ids.reshape(-1).to(out.device)
    if out.numel() >= prompt.numel() and torch.equal(out[: prompt.numel()], prompt):
        out = out[prompt.numel() :]
    text = tokenizer.decode(out.tolist(), skip_special_tokens=True).strip()
    if stop and text.endswith(stop):
        text = text[: -len(stop)].strip()
    return text

