"""Label scoring: rank a fixed set of answers by the model's likelihood instead of generating.

For each question the prompt is run ONCE (a batch of questions at a time) with the KV cache
kept; the cache is then repeated for the ``K`` candidate answers and all ``B * K``
candidates are scored in one more forward pass over their own few tokens. A candidate's
score is the **sum** of the log-probabilities of its tokens given the prompt (its total
log-likelihood; ``reduction="mean"`` divides by its token count instead), and the
probabilities stored with an answer are the softmax of those scores over the candidates.

This is far cheaper than generating a chain-of-thought: the prompt (with its 1,152 visual
tokens) is encoded once, and the candidates add a handful of tokens each.

Batches of prompts of different lengths are padded on the right; the candidate tokens are
appended after the padding with position ids that continue each prompt's own length, and
the padding is masked out of the attention, so every candidate sees exactly its prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from llava.constants import IMAGE_TOKEN_INDEX

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

    Returns
    -------
    Tensor
        ``(B, K)`` float32 scores.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"label scoring: invalid value for the 'reduction' parameter. Allowed values are 'sum', 'mean', but got {reduction!r} instead")
    B = embeds.shape[0]
    if len(candidate_ids) != B:
        raise ValueError(f"label scoring: {B} prompts but candidates for {len(candidate_ids)}")
    K = len(candidate_ids[0])
    if any(len(c) != K for c in candidate_ids):
        raise ValueError("label scoring: every prompt needs the same number of candidates")
    decoder, head = _decoder(model), model.get_output_embeddings()
    device = embeds.device
    mask = mask.to(device).long()
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = decoder(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True, return_dict=True)
    hidden, cache = out.last_hidden_state, out.past_key_values  # (B, L, hidden)
    steps = torch.arange(mask.shape[1], device=device)
    last = (mask * steps).argmax(-1)  # (B,) last real prompt position
    first_logp = torch.log_softmax(head(hidden[torch.arange(B, device=device), last]).float(), -1)  # (B, V)

    flat = [list(c) for per_prompt in candidate_ids for c in per_prompt]  # B*K candidates
    Lc = max(len(c) for c in flat)
    if min(len(c) for c in flat) < 1:
        raise ValueError("label scoring: a candidate has no tokens")
    cand = torch.zeros((B * K, Lc), dtype=torch.long, device=device)
    cmask = torch.zeros((B * K, Lc), dtype=torch.long, device=device)
    for r, c in enumerate(flat):
        cand[r, : len(c)] = torch.tensor(c, dtype=torch.long)
        cmask[r, : len(c)] = 1
    rows = torch.arange(B * K, device=device)
    logp = first_logp.repeat_interleave(K, 0)[rows, cand[:, 0]].unsqueeze(1)  # (BK, 1)
    if Lc > 1:
        cache.batch_repeat_interleave(K)
        n_real = mask.sum(-1).repeat_interleave(K, 0)  # (BK,)
        feed = cand[:, :-1]  # token j's output predicts token j + 1
        att = torch.cat([mask.repeat_interleave(K, 0), torch.ones_like(feed)], dim=1)
        pos = n_real[:, None] + torch.arange(Lc - 1, device=device)[None, :]
        out2 = decoder(
            inputs_embeds=model.get_input_embeddings()(feed),
            attention_mask=att,
            position_ids=pos,
            past_key_values=cache,
            use_cache=True,
            return_dict=True,
        )
        rest = torch.log_softmax(head(out2.last_hidden_state).float(), -1)  # (BK, Lc-1, V)
        logp = torch.cat([logp, rest.gather(-1, cand[:, 1:, None]).squeeze(-1)], dim=1)  # (BK, Lc)
    logp = logp * cmask
    total = logp.sum(-1)
    if reduction == "mean":
        total = total / cmask.sum(-1)
    return total.view(B, K).float()


def candidate_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the candidates (last dimension) of :func:`score_candidates`' scores."""
    return torch.softmax(scores.double(), dim=-1).float()
