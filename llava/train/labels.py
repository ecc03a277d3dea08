"""Token ids and training labels from ONE tokenisation of the templated prompt.

The conversation template says which characters of the prompt an assistant reply covers
(:meth:`llava.conversation.Conversation.get_prompt_and_targets`). The prompt is tokenised
once, chunk by chunk between ``<image>`` tags exactly as
:func:`llava.mm_utils.tokenizer_image_token` does (one BOS, each chunk without special
tokens, ``IMAGE_TOKEN_INDEX`` per tag),
with the tokenizer's character offsets. A token is learned when its characters lie inside
a reply span; everything else (system text, user turns, role names, image positions) is
``IGNORE_INDEX``.

Upstream LLaVA instead re-tokenised every round and patched lengths with hand-tuned
offsets; when they disagreed it printed a warning and silently zeroed the sample's loss.
Here any disagreement (a token crossing a reply boundary, a reply character no learned
token covers, ids differing from ``tokenizer_image_token``) raises ``ValueError`` naming
the sample.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llava.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.conversation import Conversation, SeparatorStyle, get_conv_template

logger = logging.getLogger(__name__)

__all__ = ["TokenizedSample", "tokenize_with_targets", "conversation_from_turns", "preprocess_conversation"]

ROLE_NAMES = {"human": 0, "user": 0, "gpt": 1, "assistant": 1}


@dataclass
class TokenizedSample:
    """One training sample: ``input_ids`` and ``labels`` of equal length (plain int lists)."""

    input_ids: list[int]
    labels: list[int]


def _chunk_tokens(tokenizer: Any, chunk: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids and character offsets of one text chunk, without special tokens."""
    if not chunk:
        return [], []
    enc = tokenizer(chunk, add_special_tokens=False, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def _leading_bos(tokenizer: Any, first_chunk: str) -> list[int]:
    """``[bos]`` when the tokenizer starts a text with BOS, else ``[]`` (one BOS per prompt)."""
    ids = tokenizer(first_chunk).input_ids
    bos = getattr(tokenizer, "bos_token_id", None)
    return [bos] if ids and bos is not None and ids[0] == bos else []


def tokenize_with_targets(
    prompt: str,
    spans: Sequence[tuple[int, int]],
    tokenizer: Any,
    sample_id: str = "?",
    max_length: int | None = None,
    image_token: str = DEFAULT_IMAGE_TOKEN,
    check_ids: bool = True,
) -> TokenizedSample:
    """Tokenise ``prompt`` once and learn exactly the characters in ``spans``.

    Parameters
    ----------
    prompt : str
        Templated prompt; every ``image_token`` becomes ``IMAGE_TOKEN_INDEX``.
    spans : sequence of (start, end)
        Character spans of the assistant replies (reply + closing separator).
    tokenizer : transformers fast tokenizer
        Must return offset mappings.
    sample_id : str
        Named in every error.
    max_length : int, optional
        Truncate ids and labels to this many tokens (``model_max_length``); a cut through
        an image tag raises.
    check_ids : bool
        Also compare the ids with :func:`llava.mm_utils.tokenizer_image_token` (the
        function inference uses) and raise on any difference.

    Returns
    -------
    TokenizedSample
    """
    where = f"sample {sample_id!r}"
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"{where}: labels need a fast tokenizer (character offsets); got {type(tokenizer).__name__}")
    chunks = prompt.split(image_token)
    ids: list[int] = _leading_bos(tokenizer, chunks[0])
    offs: list[tuple[int, int]] = [(0, 0)] * len(ids)
    pos = 0
    for k, chunk in enumerate(chunks):
        if k > 0:
            ids.append(IMAGE_TOKEN_INDEX)
            offs.append((pos, pos))
            pos += len(image_token)
        c_ids, c_offs = _chunk_tokens(tokenizer, chunk)
        ids.extend(c_ids)
        offs.extend((pos + a, pos + b) for a, b in c_offs)
        pos += len(chunk)

    # Reply spans, widened leftwards over the whitespace that separates a reply from its
    # role name (tokenizers glue that space to the reply's first token).
    widened: list[tuple[int, int]] = []
    floor = 0
    for s, e in sorted(spans):
        if not 0 <= s <= e <= len(prompt):
            raise ValueError(f"{where}: reply span {(s, e)} lies outside the prompt (length {len(prompt)})")
        s2 = s
        while s2 > floor and prompt[s2 - 1].isspace():
            s2 -= 1
        widened.append((s2, e))
        floor = e

    labels = [IGNORE_INDEX] * len(ids)
    covered = bytearray(len(prompt))
    for j, (tok, (a, b)) in enumerate(zip(ids, offs)):
        if tok == IMAGE_TOKEN_INDEX or b <= a:
            continue
        for (s, e), (s0, _) in zip(widened, sorted(spans)):
            if a >= s and b <= e:
                if b <= s0:  # only whitespace before the reply (e.g. Llama-3's "\n\n"): not learned
                    break
                labels[j] = tok
                covered[a:b] = b"\x01" * (b - a)
                break
            if a < s < b or a < e < b:
                piece = prompt[a:b]
                raise ValueError(
                    f"{where}: token {j} ({piece!r}, characters {a}-{b}) crosses the boundary of the "
                    f"assistant reply at characters {s}-{e}; labels cannot be built without guessing"
                )
    for s, e in spans:
        missing = [c for c in range(s, e) if not covered[c] and not prompt[c].isspace()]
        if missing:
            c = missing[0]
            raise ValueError(
                f"{where}: character {c} ({prompt[c]!r}) of the assistant reply at {s}-{e} is covered by "
                f"no learned token; tokenizer offsets disagree with the prompt"
            )

    if check_ids:
        from llava.mm_utils import tokenizer_image_token

        reference = list(tokenizer_image_token(prompt, tokenizer))
        if reference != ids:
            first = next((i for i, (x, y) in enumerate(zip(reference, ids)) if x != y), min(len(reference), len(ids)))
            raise ValueError(
                f"{where}: tokenisation mismatch with tokenizer_image_token at token {first} "
                f"({len(ids)} vs {len(reference)} tokens); refusing to train on misaligned labels"
            )

    if max_length is not None and len(ids) > max_length:
        cut_images = ids[max_length:].count(IMAGE_TOKEN_INDEX)
        if cut_images:
            raise ValueError(
                f"{where}: model_max_length {max_length} cuts {cut_images} of the sample's image tag(s) "
                f"(prompt has {len(ids)} text tokens); raise --model_max_length or shorten the prompt"
            )
        logger.debug("%s: truncated from %d to %d tokens", where, len(ids), max_length)
        ids, labels = ids[:max_length], labels[:max_length]
    return TokenizedSample(input_ids=ids, labels=labels)


def conversation_from_turns(turns: Sequence[dict], template: Conversation, sample_id: str = "?") -> Conversation:
    """Fill a copy of ``template`` with upstream json turns (``{"from", "value"}``).

    A leading non-human turn is skipped (as upstream does); after that turns must
    alternate human / gpt, else ``ValueError`` naming the sample and the turn.
    """
    where = f"sample {sample_id!r}"
    conv = template.copy()
    conv.messages = []
    turns = list(turns)
    if turns and ROLE_NAMES.get(str(turns[0].get("from", "")).lower()) != 0:
        turns = turns[1:]
    for i, turn in enumerate(turns):
        who = str(turn.get("from", "")).lower()
        if who not in ROLE_NAMES:
            raise ValueError(f"{where}: turn {i} has unknown speaker {turn.get('from')!r}; expected 'human' or 'gpt'")
        if ROLE_NAMES[who] != i % 2:
            raise ValueError(f"{where}: turn {i} is from {who!r}, but turns must alternate human, gpt, human, ...")
        conv.append_message(conv.roles[i % 2], str(turn.get("value", "")))
    return conv


def preprocess_conversation(
    turns: Sequence[dict],
    tokenizer: Any,
    version: str = "v1",
    sample_id: str = "?",
    max_length: int | None = None,
    check_ids: bool = True,
) -> TokenizedSample:
    """Template, tokenise and label one sample's turns.

    ``version`` names a template of :data:`llava.conversation.conv_templates`. For
    ``plain`` (pretraining) the prompt is upstream's ``<image tags><reply>\\n`` and only
    ``<reply>\\n`` is learned.
    """
    template = get_conv_template(version)
    if template.sep_style is SeparatorStyle.PLAIN:
        turns = list(turns)
        if len(turns) < 2:
            raise ValueError(f"sample {sample_id!r}: the 'plain' format needs a human turn and a gpt turn")
        n_tags = str(turns[0].get("value", "")).count(DEFAULT_IMAGE_TOKEN)
        head = DEFAULT_IMAGE_TOKEN * n_tags
        reply = str(turns[1].get("value", "")) + template.sep
        prompt, spans = head + reply, [(len(head), len(head) + len(reply))]
    else:
        prompt, spans = conversation_from_turns(turns, template, sample_id).get_prompt_and_targets()
    return tokenize_with_targets(prompt, spans, tokenizer, sample_id=sample_id, max_length=max_length, check_ids=check_ids)
