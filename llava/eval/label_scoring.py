"""Label scoring: rank a fixed set of answers by the model's likelihood instead of generating.

For each question the prompt is run ONCE (a batch of questions at a time) with the KV cache
kept; then all ``K`` candidate answers of all ``B`` prompts are scored in one more forward
pass over their own few tokens, laid side by side after the cached prompt with a mask that
keeps candidates from seeing each other (the cache is shared, never copied). A candidate's
score is the **sum** of the log-probabilities of its tokens given the prompt (its total
log-likelihood; ``reduction="mean"`` divides by its token count instead), and the
probabilities stored with an answer are the softmax of those scores over the candidates.

This is far cheaper than generating a chain-of-thought: the prompt (with its 1,152 visual
tokens) is encoded once, and the candidates add a handful of tokens each.

Batches of prompts of different lengths are padded on the right; the candidate tokens are
appended after the padding with position ids that continue each prompt's own length, and
the padding is masked out of the attention, so every candidate sees exactly its prompt.
Attention kernels that take no custom 4-D mask (flash-attn) score candidate ``k`` of all
prompts in pass ``k`` instead, cutting the cache back to the prompt after each pass.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from llava.constants import IMAGE_TOKEN_INDEX
from llava.utils import check_option

logger = logging.getLogger(__name__)

__all__ = [
    "REDUCTIONS",
    "Candidates",
    "make_candidates",
    "answer_joiner",
    "candidate_ids_after",
    "prefix_embeddings",
    "score_candidates",
    "candidate_probabilities",
]

#: How a candidate's token log-probabilities are combined.
REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class Candidates:
    """The answers to rank: ``labels[k]`` is what is reported, ``texts[k]`` what is scored."""

    labels: tuple[str, ...]
    texts: tuple[str, ...]


def make_candidates(labels: str | Sequence[str], template: str = "{label}") -> Candidates:
    """Candidates from labels (``"W,N1,N2,N3,REM"`` or a list) and a ``{label}`` template.

    >>> make_candidates("W,N2", "Sleep stage: {label}").texts
    ('Sleep stage: W', 'Sleep stage: N2')
    """
    if isinstance(labels, str):
        labels = [s.strip() for s in labels.split(",")]
    labels = tuple(str(s) for s in labels)
    if len(labels) < 2 or any(not s for s in labels):
        raise ValueError(f"label scoring: need at least two non-empty labels, got {list(labels)!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"label scoring: labels must be distinct, got {list(labels)!r}")
    if "{label}" not in template:
        raise ValueError(f"label scoring: the candidate template must contain '{{label}}', got {template!r}")
    try:
        texts = tuple(template.format(label=s) for s in labels)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"label scoring: bad candidate template {template!r} ({exc}); only '{{label}}' may be used") from None
    return Candidates(labels=labels, texts=texts)


def answer_joiner(conv) -> str:
    """The text a template puts between its generation prompt and the reply (``" "`` for v1).

    Found from the template itself: the prompt with an empty assistant turn is compared with
    the prompt holding a reply, whose learned span says where the reply starts.
    """
    gen, full = conv.copy(), conv.copy()
    for c in (gen, full):
        c.messages = []
        c.append_message(c.roles[0], "Q")
    gen.append_message(gen.roles[1], None)
    gen_prompt = gen.get_prompt()
    full.append_message(full.roles[1], "X")
    full_prompt, spans = full.get_prompt_and_targets()
    start = spans[-1][0] if spans else len(full_prompt)
    if not full_prompt.startswith(gen_prompt) or start < len(gen_prompt):
        return ""
    return full_prompt[len(gen_prompt) : start]


def candidate_ids_after(prompt_ids: Sequence[int], full_ids: Sequence[int], label: str) -> list[int]:
    """The token ids of a candidate: ``full_ids`` (prompt + candidate) minus ``prompt_ids``.

    Raises ``ValueError`` if the candidate changes how the end of the prompt is tokenized
    (then the prompt would not be shared) or adds no token.
    """
    n = len(prompt_ids)
    if list(full_ids[:n]) != list(prompt_ids):
        raise ValueError(
            f"label scoring: candidate {label!r} changes the tokenization of the prompt's end; "
            "the candidates must start a new token after the prompt (check --score-template)"
        )
    tail = [int(t) for t in full_ids[n:]]
    if not tail:
        raise ValueError(f"label scoring: candidate {label!r} adds no token to the prompt")
    return tail


def _cache_kwarg(decoder: Any, cache: Any) -> dict[str, Any]:
    """The KV cache as the decoder's forward names it: ``cache`` (recent transformers, where
    ``past_key_values`` is deprecated with a warning) or ``past_key_values``."""
    name = "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"
    return {name: cache}


def _returned_cache(out: Any) -> Any:
    """The cache a decoder returned, under either of its names."""
    return out["cache"] if "cache" in out else out["past_key_values"]


def _decoder(model):
    return model.get_model() if hasattr(model, "get_model") else model.get_decoder()


def prefix_embeddings(
    model,
    input_ids: Sequence[torch.Tensor],
    images: torch.Tensor | None = None,
    image_sizes: list | None = None,
    eeg_features: torch.Tensor | None = None,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed a batch of prompts (``<image>`` slots spliced in) for :func:`score_candidates`.

    Parameters
    ----------
    input_ids : sequence of 1-D LongTensor
        One prompt per question; ``IMAGE_TOKEN_INDEX`` once per ``<image>`` tag.
    images : Tensor, optional
        ``(B, 3, H, W)``: one real image per question.
    eeg_features : Tensor, optional
        ``(B, 1, D)`` high-level features.

    Returns
    -------
    embeds : Tensor
        ``(B, L, hidden)``, right-padded.
    mask : Tensor
        ``(B, L)`` long, 1 on real positions.
    """
    device = model.get_input_embeddings().weight.device
    lengths = [int(ids.numel()) for ids in input_ids]
    width = max(lengths)
    ids = torch.full((len(input_ids), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(input_ids), width), dtype=torch.long, device=device)
    for i, row in enumerate(input_ids):
        ids[i, : lengths[i]] = row.to(device)
        mask[i, : lengths[i]] = 1
    if images is None and not bool((ids == IMAGE_TOKEN_INDEX).any()):
        return model.get_input_embeddings()(ids), mask
    out = model.prepare_inputs_labels_for_multimodal(
        ids, None, mask, None, None, images, image_sizes=image_sizes, eeg_features=eeg_features
    )
    embeds, new_mask = out[4], out[2]
    if new_mask is None:
        new_mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
    return embeds, new_mask.long()


@torch.inference_mode()
def score_candidates(
    model,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    candidate_ids: Sequence[Sequence[Sequence[int]]],
    reduction: str = "sum",
    one_pass: bool | None = None,
) -> torch.Tensor:
    """Log-likelihood of every candidate answer after every prompt.

    Parameters
    ----------
    model : causal LM with ``get_model()``/``get_decoder()``, input and output embeddings
    embeds : Tensor
        ``(B, L, hidden)`` prompt embeddings (see :func:`prefix_embeddings`).
    mask : Tensor
        ``(B, L)``, 1 on real prompt positions (padding anywhere is allowed).
    candidate_ids : B x K lists of token ids
        ``candidate_ids[b][k]``: the tokens of candidate ``k`` after prompt ``b``
        (same ``K`` for every prompt).
    reduction : {'sum', 'mean'}
        Total log-likelihood of the candidate's tokens, or its mean per token.
    one_pass : bool, optional
        Score all candidates in one pass with a 4-D mask (``True``) or one pass per
        candidate index (``False``). Default: one pass when the attention kernel takes a
        custom mask (``sdpa``, ``eager``).

    Returns
    -------
    Tensor
        ``(B, K)`` float32 scores.
    """
    check_option("reduction", reduction, REDUCTIONS, where="label scoring")
    B = embeds.shape[0]
    if len(candidate_ids) != B:
        raise ValueError(f"label scoring: {B} prompts but candidates for {len(candidate_ids)}")
    K = len(candidate_ids[0])
    if any(len(c) != K for c in candidate_ids):
        raise ValueError("label scoring: every prompt needs the same number of candidates")
    if any(len(c) < 1 for per_prompt in candidate_ids for c in per_prompt):
        raise ValueError("label scoring: a candidate has no tokens")
    decoder, head = _decoder(model), model.get_output_embeddings()
    device = embeds.device
    mask = mask.to(device).long()
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = decoder(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True, return_dict=True)
    hidden, cache = out.last_hidden_state, _returned_cache(out)  # (B, L, hidden)
    steps = torch.arange(mask.shape[1], device=device)
    last = (mask * steps).argmax(-1)  # (B,) last real prompt position
    first_logp = torch.log_softmax(head(hidden[torch.arange(B, device=device), last]).float(), -1)  # (B, V)

    first = torch.tensor([[c[0] for c in per_prompt] for per_prompt in candidate_ids], device=device)  # (B, K)
    total = first_logp.gather(1, first)  # (B, K): log p(first token | prompt)
    if max(len(c) for per_prompt in candidate_ids for c in per_prompt) > 1:
        kernel = getattr(model.config, "_attn_implementation", "sdpa")
        if one_pass is None:
            one_pass = kernel in ("sdpa", "eager")
        rest = _tree_pass if one_pass else _crop_passes
        total = total + rest(model, decoder, head, cache, mask, candidate_ids, kernel == "eager")
    if reduction == "mean":
        total = total / torch.tensor([[len(c) for c in p] for p in candidate_ids], device=device)
    return total.float()


def _tree_pass(model, decoder, head, cache, mask, candidate_ids, additive: bool) -> torch.Tensor:
    """Log-probs of every candidate's tokens after the first, all candidates in ONE pass.

    Each prompt's candidates are laid side by side after its cached prompt (each fed
    without its last token, whose output predicts nothing we need). A 4-D mask lets a
    token see its prompt and the earlier tokens of its own candidate only, and position
    ids restart at the prompt's length for every candidate: each candidate is scored as if
    it were alone after the prompt, and the cache is never copied.
    Returns ``(B, K)`` sums.
    """
    B, L = mask.shape
    device = mask.device
    K = len(candidate_ids[0])
    segs = [[len(c) - 1 for c in per_prompt] for per_prompt in candidate_ids]  # fed tokens per candidate
    T = max(1, max(sum(s) for s in segs))
    feed = torch.zeros((B, T), dtype=torch.long, device=device)
    pos = torch.zeros((B, T), dtype=torch.long, device=device)
    att = torch.zeros((B, 1, T, L + T), dtype=torch.bool, device=device)
    att[:, 0, :, :L] = mask.bool()[:, None, :]  # every query sees its prompt (padding rows too)
    n_real = mask.sum(-1)
    for b, per_prompt in enumerate(candidate_ids):
        off = 0
        for c, n in zip(per_prompt, segs[b]):
            if n:
                feed[b, off:off + n] = torch.tensor(c[:-1], device=device)
                pos[b, off:off + n] = n_real[b] + torch.arange(n, device=device)
                att[b, 0, off:off + n, L + off:L + off + n] = torch.ones(n, n, dtype=torch.bool, device=device).tril()
            off += n
    embeds = model.get_input_embeddings()(feed)
    att4 = att
    if additive:  # eager attention adds the mask to the scores
        att4 = torch.zeros(att.shape, dtype=embeds.dtype, device=device).masked_fill(~att, torch.finfo(embeds.dtype).min)
    out = decoder(inputs_embeds=embeds, attention_mask=att4, position_ids=pos, **_cache_kwarg(decoder, cache),
                  use_cache=True, return_dict=True)
    logp = torch.log_softmax(head(out.last_hidden_state).float(), -1)  # (B, T, V)
    total = torch.zeros((B, K), dtype=torch.float32, device=device)
    for b, per_prompt in enumerate(candidate_ids):
        off = 0
        for k, (c, n) in enumerate(zip(per_prompt, segs[b])):
            if n:
                targets = torch.tensor(c[1:], device=device)
                total[b, k] = logp[b, off + torch.arange(n, device=device), targets].sum()
            off += n
    return total


def _crop_passes(model, decoder, head, cache, mask, candidate_ids, additive: bool) -> torch.Tensor:
    """As :func:`_tree_pass` for attention kernels without custom 4-D masks (flash-attn).

    One pass per candidate index ``k`` (all prompts batched), the cache cut back to the
    prompt after each: ``K`` small passes, no copy of the cache.
    """
    B, L = mask.shape
    device = mask.device
    K = len(candidate_ids[0])
    n_real = mask.sum(-1)
    total = torch.zeros((B, K), dtype=torch.float32, device=device)
    for k in range(K):
        cands = [per_prompt[k] for per_prompt in candidate_ids]
        n = max(len(c) for c in cands) - 1
        if n < 1:
            continue
        feed = torch.zeros((B, n), dtype=torch.long, device=device)
        for b, c in enumerate(cands):
            feed[b, : len(c) - 1] = torch.tensor(c[:-1], device=device)
        att = torch.cat([mask, torch.ones_like(feed)], dim=1)
        pos = n_real[:, None] + torch.arange(n, device=device)[None, :]
        out = decoder(inputs_embeds=model.get_input_embeddings()(feed), attention_mask=att, position_ids=pos,
                      **_cache_kwarg(decoder, cache), use_cache=True, return_dict=True)
        logp = torch.log_softmax(head(out.last_hidden_state).float(), -1)  # (B, n, V)
        cache.crop(-n)  # back to the prompt alone
        for b, c in enumerate(cands):
            if len(c) > 1:
                total[b, k] = logp[b, torch.arange(len(c) - 1, device=device), torch.tensor(c[1:], device=device)].sum()
    return total


def candidate_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the candidates (last dimension) of :func:`score_candidates`' scores."""
    return torch.softmax(scores.double(), dim=-1).float()
