"""Conversation templates with the same names and prompt text as upstream LLaVA (v1.5, v1.6).

A :class:`Conversation` turns a list of ``[role, message]`` turns into one prompt string.
Besides the prompt it can report, for every assistant reply, the character span that a
model should learn (the reply and the separator that ends it, ``"</s>"`` for ``v1``), so
training labels come from the template itself instead of re-tokenising rounds by hand.

Templates (``conv_templates``):

``v1`` / ``vicuna_v1`` / ``default``
    Vicuna v1 system sentence (curious *user*), roles ``USER`` / ``ASSISTANT``, separators
    ``" "`` after a user turn and ``"</s>"`` after an assistant turn. A prompt that ends
    with an empty assistant turn ends with ``"ASSISTANT:"`` (the generation prompt).
    ``default`` is upstream's ``default_conversation`` (the training default).
``llava_v1``
    Same layout with the *human* wording of the system sentence (upstream's eval default).
``plain``
    Pretraining format: no system text, no roles; every message followed by ``"\\n"``.
``mistral_instruct`` (LLaVA-NeXT Mistral-7B)
    Mistral's instruction format, upstream's ``LLAMA_2`` style with no system text:
    ``"[INST] question [/INST] reply </s>[INST] ..."`` (the tokenizer adds BOS); the
    generation prompt ends with ``"[/INST]"``; learned: ``"reply </s>"``.
``chatml_direct`` (LLaVA-NeXT 34B)
    ChatML in upstream's ``MPT`` style: ``"<|im_start|>system\\nAnswer the questions."``,
    then ``"<|im_start|>user\\n" + message + "<|im_end|>"`` per turn, no newline between
    turns; learned: ``"reply<|im_end|>"``.
``llava_llama_3`` (LLaVA-NeXT 8B)
    The Llama-3 chat layout: ``"<|start_header_id|>role<|end_header_id|>\\n\\n" + message +
    "<|eot_id|>"`` for the system sentence and each turn (the tokenizer adds
    ``<|begin_of_text|>``); the generation prompt ends with the assistant header; learned:
    ``"reply<|eot_id|>"``.

The template is chosen by name (``--version`` in training, ``--conv-mode`` in evaluation),
never inferred from a checkpoint's folder name. :attr:`Conversation.stop` is the text that
ends a reply (generation stops there).
"""

from __future__ import annotations

import copy as _copy
import logging
from dataclasses import dataclass, field, replace
from enum import Enum, auto
from typing import Any

from llava.utils import check_option

logger = logging.getLogger(__name__)

__all__ = [
    "SeparatorStyle",
    "Conversation",
    "conv_vicuna_v1",
    "conv_llava_v1",
    "conv_llava_plain",
    "conv_mistral_instruct",
    "conv_chatml_direct",
    "conv_llava_llama_3",
    "conv_templates",
    "default_conversation",
    "get_conv_template",
]


class SeparatorStyle(Enum):
    """How turns are joined (upstream names)."""

    TWO = auto()  # "<system><sep>ROLE: msg<sep>ROLE: msg<sep2>..."
    PLAIN = auto()  # "msg<sep>msg<sep>..."
    LLAMA_2 = auto()  # "[INST] <<SYS>>..<</SYS>> msg [/INST] reply <sep2><sep>[INST] ..."
    MPT = auto()  # "<system><sep><role>msg<sep><role>msg<sep>..." (ChatML roles)
    LLAMA_3 = auto()  # "<|start_header_id|>role<|end_header_id|>\n\nmsg<sep>..."


def _text(message: Any) -> str | None:
    """A message is ``None`` (to be generated), a string, or upstream's ``(text, image, mode)``."""
    if message is None:
        return None
    if isinstance(message, tuple):
        return str(message[0])
    return str(message)


@dataclass
class Conversation:
    """A chat template plus the turns added so far.

    Turn ``i`` is a user turn when ``i`` is even and an assistant turn when ``i`` is odd
    (as in upstream, which picks the separator by ``i % 2``).
    """

    system: str
    roles: tuple[str, str]
    messages: list[list[Any]] = field(default_factory=list)
    offset: int = 0
    sep_style: SeparatorStyle = SeparatorStyle.TWO
    sep: str = " "
    sep2: str | None = None
    version: str = "Unknown"
    skip_next: bool = False

    def append_message(self, role: str, message: Any) -> None:
        """Add one turn; ``message=None`` leaves a slot for the model to fill."""
        self.messages.append([role, message])

    def copy(self) -> "Conversation":
        """An independent copy (messages are copied, templates are never mutated)."""
        return _copy.deepcopy(self)

    def get_prompt(self) -> str:
        """The full prompt text."""
        return self.get_prompt_and_targets()[0]

    def get_prompt_and_targets(self) -> tuple[str, list[tuple[int, int]]]:
        """The prompt and the ``[start, end)`` character spans of the assistant replies.

        Each span covers one non-empty assistant reply and the text that closes it
        (:attr:`stop`; ``" </s>"`` for ``LLAMA_2``, as upstream writes it): exactly the
        text a model is trained to produce. ``prompt[s:e]`` for a span is therefore
        ``reply + "</s>"`` with the ``v1`` templates and ``reply + "<|eot_id|>"`` with
        ``llava_llama_3``.
        """
        parts: list[str] = []
        spans: list[tuple[int, int]] = []
        pos = 0

        def put(text: str, learn: bool = False) -> None:
            nonlocal pos
            if learn and text:
                spans.append((pos, pos + len(text)))
            parts.append(text)
            pos += len(text)

        if self.sep_style is SeparatorStyle.TWO:
            seps = (self.sep, self.sep2 if self.sep2 is not None else self.sep)
            put(self.system + seps[0])
            for i, (role, message) in enumerate(self.messages):
                text = _text(message)
                if text is None or text == "":
                    put(f"{role}:")
                    continue
                put(f"{role}: ")
                put(text + seps[i % 2], learn=(i % 2 == 1))
        elif self.sep_style is SeparatorStyle.PLAIN:
            put(self.system)
            for i, (_role, message) in enumerate(self.messages):
                text = _text(message)
                if text:
                    put(text + self.sep, learn=(i % 2 == 1))
        elif self.sep_style is SeparatorStyle.LLAMA_2:
            self._put_llama_2(put)
        elif self.sep_style is SeparatorStyle.MPT:
            put(self.system + self.sep)
            for i, (role, message) in enumerate(self.messages):
                text = _text(message)
                put(role)
                if text:
                    put(text + self.sep, learn=(i % 2 == 1))
        elif self.sep_style is SeparatorStyle.LLAMA_3:
            header = "<|start_header_id|>{}<|end_header_id|>\n\n"
            if self.system:
                put(header.format("system") + self.system + self.sep)
            for i, (role, message) in enumerate(self.messages):
                text = _text(message)
                put(header.format(role))
                if text:
                    put(text + self.sep, learn=(i % 2 == 1))
        else:  # pragma: no cover - every member is handled above
            raise ValueError(f"conversation {self.version!r}: unsupported separator style {self.sep_style}")
        return "".join(parts), spans

    def _put_llama_2(self, put) -> None:
        """Upstream's ``LLAMA_2`` layout (Mistral instruct): user turns in ``[INST] ... [/INST]``."""
        first = True
        for i, (_role, message) in enumerate(self.messages):
            text = _text(message)
            if not text:
                continue
            if i % 2 == 0:
                if first and self.system:
                    text = f"<<SYS>>\n{self.system}\n<</SYS>>\n\n" + text
                put(("" if first else self.sep) + f"[INST] {text} [/INST]")
                first = False
            else:
                put(" ")
                put(text + " " + (self.sep2 or ""), learn=True)

    @property
    def stop(self) -> str:
        """The text that closes an assistant reply (``"</s>"`` for v1 and mistral_instruct)."""
        if self.sep_style in (SeparatorStyle.TWO, SeparatorStyle.LLAMA_2):
            return self.sep2 or self.sep
        return self.sep

    def dict(self) -> dict[str, Any]:
        """A JSON-friendly view (upstream's ``Conversation.dict``)."""
        return {
            "system": self.system,
            "roles": list(self.roles),
            "messages": [[r, _text(m)] for r, m in self.messages],
            "offset": self.offset,
            "sep": self.sep,
            "sep2": self.sep2,
        }


conv_vicuna_v1 = Conversation(
    system="A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    roles=("USER", "ASSISTANT"),
    version="v1",
    sep_style=SeparatorStyle.TWO,
    sep=" ",
    sep2="</s>",
)

# llava_v1 (the evaluation default) differs from vicuna_v1 only in its "human" wording.
conv_llava_v1 = replace(
    conv_vicuna_v1,
    messages=[],
    system="A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
)

conv_llava_plain = Conversation(
    system="",
    roles=("", ""),
    version="plain",
    sep_style=SeparatorStyle.PLAIN,
    sep="\n",
)

conv_mistral_instruct = Conversation(
    system="",
    roles=("USER", "ASSISTANT"),
    version="llama_v2",
    sep_style=SeparatorStyle.LLAMA_2,
    sep="",
    sep2="</s>",
)

conv_chatml_direct = Conversation(
    system="<|im_start|>system\nAnswer the questions.",
    roles=("<|im_start|>user\n", "<|im_start|>assistant\n"),
    version="mpt",
    sep_style=SeparatorStyle.MPT,
    sep="<|im_end|>",
)

conv_llava_llama_3 = Conversation(
    system="You are a helpful language and vision assistant. You are able to understand the visual content "
    "that the user provides, and assist the user with a variety of tasks using natural language.",
    roles=("user", "assistant"),
    version="llama_v3",
    sep_style=SeparatorStyle.LLAMA_3,
    sep="<|eot_id|>",
)

default_conversation = conv_vicuna_v1

conv_templates: dict[str, Conversation] = {
    "default": conv_vicuna_v1,
    "v1": conv_vicuna_v1,
    "vicuna_v1": conv_vicuna_v1,
    "llava_v1": conv_llava_v1,
    "plain": conv_llava_plain,
    "mistral_instruct": conv_mistral_instruct,
    "chatml_direct": conv_chatml_direct,
    "llava_llama_3": conv_llava_llama_3,
}


def get_conv_template(name: str) -> Conversation:
    """A fresh copy of template ``name``; unknown names raise ``ValueError`` listing them."""
    check_option("version", name, list(conv_templates), where="conversation template")
    return conv_templates[name].copy()
