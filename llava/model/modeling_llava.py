"""The EEG-VLM model in one file: projector, EEG fusion, token splice, causal LM.

Reads top to bottom (the config is :mod:`llava.model.configuration_llava`, the CLIP tower
:mod:`llava.model.multimodal_encoder.clip_encoder`):

1. :func:`build_vision_projector`: (.., mm_hidden_size) -> (.., hidden_size).
2. :func:`splice_visual_tokens`: ``input_ids`` holding ``IMAGE_TOKEN_INDEX`` placeholders ->
   ``inputs_embeds`` with the visual token blocks in their place; the blocks of a sample
   come from :class:`~llava.model.fusion.EEGFusion`, the ONE place where EEG feature rows
   become tokens (``none`` / ``raw`` / ``add``).
3. :class:`LlavaMetaModel` / :class:`LlavaMetaForCausalLM`: the mixins (upstream's names)
   that attach tower + projector and encode images; :class:`LlavaLlamaForCausalLM`.

Token layout of one EEG-VLM sample (llava-v1.5 sizes)::

    images        (B, 3, 336, 336) -> tower -> Zv (B, 576, 1024) -> projector -> Hv (B, 576, hidden)
    eeg_features  (B, 1, 1024)                                   -> projector -> Hf (B, 1, hidden)
    <image> #1 <- Hv                                  576 tokens
    <image> #2 <- 'add': Hv + Expand(Hf)              576 tokens  (1,152 visual tokens)
                  'raw': Hf                             1 token   (577)
                  'none': no second placeholder                    (576, vanilla LLaVA-1.5)

CLIP runs once per sample; slot 2 reuses slot 1's ``Hv``. Counts never get truncated or
guessed: every mismatch (placeholders vs. images or feature rows, widths, a spliced sequence
longer than ``tokenizer_model_max_length``) raises naming both numbers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForCausalLM, LlamaForCausalLM, LlamaModel
from transformers import initialization as init
from transformers.models.llama.modeling_llama import LlamaPreTrainedModel

from ..constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from .anyres import AnyresGeometry, image_sizes_list
from ..utils import check_option
from .configuration_llava import LlavaConfig
from .fusion import EEGFusion
from .multimodal_encoder.builder import build_vision_tower
from .multimodal_encoder.clip_encoder import CLIPVisionTower

logger = logging.getLogger(__name__)

__all__ = [
    "VISION_TOWER_PREFIX", "projector_types", "build_vision_projector", "splice_visual_tokens",
    "LlavaMetaModel", "LlavaMetaForCausalLM", "LlavaLlamaModel", "LlavaLlamaForCausalLM",
]

#: State-dict prefix of the CLIP tower: never saved in a checkpoint (loaded from mm_vision_tower).
VISION_TOWER_PREFIX = "model.vision_tower."


# -- 1. projector --------------------------------------------------------------------------
_MLP_GELU = re.compile(r"^mlp(\d+)x_gelu$")


def projector_types() -> tuple[str, ...]:
    """The accepted ``mm_projector_type`` spellings (``mlpNx_gelu`` for any N >= 1)."""
    return ("linear", "mlp2x_gelu", "mlpNx_gelu", "identity")


def build_vision_projector(config: Any, **kwargs: Any) -> nn.Module:
    """The projector named by ``config.mm_projector_type``: (B, T, mm_hidden_size) -> (B, T, hidden_size).

    ``linear`` is one Linear; ``mlpNx_gelu`` N Linears with GELU between (``mlp2x_gelu``,
    LLaVA-1.5's: state keys ``0.*`` and ``2.*``); ``identity`` needs equal widths.
    """
    kind = getattr(config, "mm_projector_type", None) or "linear"
    if getattr(config, "mm_hidden_size", None) is None:
        raise ValueError("projector: 'mm_hidden_size' is not set; it is the vision tower's width "
                         "(1024 for CLIP ViT-L/14-336)")
    d_in, d_out = int(config.mm_hidden_size), int(config.hidden_size)
    if kind == "linear":
        return nn.Linear(d_in, d_out)
    match = _MLP_GELU.match(kind)
    if match and int(match.group(1)) >= 1:
        layers: list[nn.Module] = [nn.Linear(d_in, d_out)]
        for _ in range(int(match.group(1)) - 1):
            layers += [nn.GELU(), nn.Linear(d_out, d_out)]
        return nn.Sequential(*layers)
    if kind == "identity":
        if d_in != d_out:
            raise ValueError(f"projector 'identity': mm_hidden_size {d_in} differs from hidden_size {d_out}; "
                             "use 'linear' or 'mlp2x_gelu'")
        return nn.Identity()
    check_option("mm_projector_type", kind, projector_types(), where="projector")
    raise AssertionError(f"projector type {kind!r} is listed but not built")  # pragma: no cover


# -- 2. splice -----------------------------------------------------------------------------
SlotsFn = Callable[[int, int], list[torch.Tensor]]


def splice_visual_tokens(input_ids: torch.LongTensor, attention_mask: torch.Tensor, labels: torch.LongTensor,
                         embed: nn.Module, slots_for: SlotsFn, keep_in_graph: Sequence[torch.Tensor],
                         max_length: int | None, padding_side: str, sample_ids: Sequence[str] | None = None,
                         ) -> tuple[torch.Tensor, torch.LongTensor, torch.Tensor, torch.LongTensor]:
    """Replace each sample's placeholders by its visual blocks; pad the batch again.

    ``input_ids``/``labels``/``attention_mask`` (B, L); ``slots_for(b, n_tags)`` gives sample
    ``b``'s blocks (T_i, hidden). Returns ``inputs_embeds`` (B, L', hidden), labels (visual
    positions ``IGNORE_INDEX``), mask and positions (B, L'). A spliced sample longer than
    ``max_length`` raises naming the sample, its length and the limit (never cut).
    """
    mask = attention_mask.bool()
    embeds, new_labels = [], []
    for b in range(input_ids.shape[0]):
        ids, labs = input_ids[b][mask[b]], labels[b][mask[b]]
        where = torch.nonzero(ids == IMAGE_TOKEN_INDEX, as_tuple=True)[0].tolist()
        blocks = slots_for(b, len(where))
        bounds = [-1] + where + [ids.shape[0]]
        pieces = [slice(bounds[i] + 1, bounds[i + 1]) for i in range(len(bounds) - 1)]
        text = embed(torch.cat([ids[p] for p in pieces])).split([p.stop - p.start for p in pieces])
        parts, part_labels = [], []
        for i, (emb, piece) in enumerate(zip(text, pieces)):
            parts.append(emb)
            part_labels.append(labs[piece])
            if i < len(blocks):
                parts.append(blocks[i].to(device=emb.device, dtype=emb.dtype))
                part_labels.append(labs.new_full((blocks[i].shape[0],), IGNORE_INDEX))
        if not where:  # text-only sample: keep the projector in the graph (distributed training
            parts += [t[:0].to(device=parts[0].device, dtype=parts[0].dtype) for t in keep_in_graph]
        embeds.append(torch.cat(parts))
        new_labels.append(torch.cat(part_labels))
        if max_length is not None and embeds[-1].shape[0] > max_length:
            name = f"sample {b}" + (f" ({sample_ids[b]!r})" if sample_ids is not None else "")
            raise ValueError(
                f"{name}: {embeds[-1].shape[0]} tokens after splicing {sum(x.shape[0] for x in blocks)} visual "
                f"tokens exceed tokenizer_model_max_length {max_length}; shorten the text or raise "
                "--model_max_length (sequences are never cut)")
    return _pad_batch(embeds, new_labels, padding_side)


def _pad_batch(embeds: list[torch.Tensor], labels: list[torch.Tensor], side: str
               ) -> tuple[torch.Tensor, torch.LongTensor, torch.Tensor, torch.LongTensor]:
    """Pad per-sample (L_i, hidden) embeddings to (B, L, hidden), with labels, mask and positions."""
    check_option("tokenizer_padding_side", side, ("right", "left"), where="config")
    batch, longest, ref = len(embeds), max(e.shape[0] for e in embeds), embeds[0]
    out = ref.new_zeros((batch, longest, ref.shape[-1]))
    labels_out = torch.full((batch, longest), IGNORE_INDEX, dtype=labels[0].dtype, device=ref.device)
    mask = torch.zeros((batch, longest), dtype=torch.bool, device=ref.device)
    positions = torch.zeros((batch, longest), dtype=torch.long, device=ref.device)
    for b, (emb, lab) in enumerate(zip(embeds, labels)):
        n = emb.shape[0]
        sl = slice(0, n) if side == "right" else slice(longest - n, longest)
        out[b, sl], labels_out[b, sl], mask[b, sl] = emb, lab, True
        positions[b, sl] = torch.arange(n, dtype=torch.long, device=ref.device)
    return out, labels_out, mask, positions


# -- 3. multimodal mixins -------------------------------------------------------------------
class LlavaMetaModel:
    """Mixin for the bare language model: adds ``vision_tower`` and ``mm_projector``.

    When the config names a vision tower (``mm_vision_tower``) the tower is created without
    weights (base checkpoints do not carry CLIP; :meth:`CLIPVisionTower.load_model` reads
    them) and the projector is built from the config.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if getattr(config, "mm_vision_tower", None):
            self.vision_tower = build_vision_tower(config, delay_load=True)
            self.mm_projector = build_vision_projector(config)
            if "unpad" in (getattr(config, "mm_patch_merge_type", "") or ""):  # LLaVA-NeXT: (hidden,)
                self.image_newline = nn.Parameter(torch.randn(config.hidden_size) * config.hidden_size ** -0.5)

    def _init_weights(self, module: nn.Module) -> None:
        """As the decoder's, and ``image_newline`` ~ N(0, 1/hidden) when it is not in the weights."""
        super()._init_weights(module)
        if module is self and getattr(self, "image_newline", None) is not None:
            init.normal_(self.image_newline, mean=0.0, std=self.config.hidden_size ** -0.5)

    def get_vision_tower(self) -> CLIPVisionTower | None:
        """The vision tower, or None for a text-only model."""
        tower = getattr(self, "vision_tower", None)
        if isinstance(tower, (list, tuple)):  # FSDP keeps it out of the module tree
            tower = tower[0]
        return tower

    def initialize_vision_modules(self, model_args: Any, fsdp: Any = None) -> None:
        """Create or load tower and projector from training arguments (:mod:`llava.model.vision_setup`)."""
        from .vision_setup import initialize_vision_modules

        initialize_vision_modules(self, model_args, fsdp)


class LlavaMetaForCausalLM:
    """Mixin for the model with the LM head: encoding, splicing, forward and generate.

    Put it BEFORE the transformers causal-LM class in the bases; the concrete class sets
    ``self.model`` to a :class:`LlavaMetaModel` language model.
    """

    def attach_decoder(self, config: Any, decoder_cls: type) -> None:
        """``self.model`` = ``decoder_cls(config)`` (B, L, hidden), ``lm_head`` -> (B, L, vocab); post_init."""
        self.model = decoder_cls(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_model(self) -> LlavaMetaModel:
        return self.model

    def get_vision_tower(self) -> CLIPVisionTower | None:
        return self.get_model().get_vision_tower()

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) -> projected patch tokens ``Hv`` (B, P, hidden)."""
        return self._project(self.get_vision_tower()(images))  # (B, P, mm_hidden) -> (B, P, hidden)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        """The shared projector on (.., mm_hidden), cast to its device and dtype."""
        ref = next(self.get_model().mm_projector.parameters(), None)
        return self.get_model().mm_projector(x if ref is None else x.to(device=ref.device, dtype=ref.dtype))

    def encode_eeg_features(self, eeg_features: torch.Tensor) -> torch.Tensor:
        """High-level features ``Zf`` (B, 1, D) -> ``Hf`` (B, 1, hidden) via the shared projector."""
        fusion = EEGFusion(context=int(getattr(self.config, "eeg_context", 0) or 0))
        return self._project(fusion.check_features(eeg_features, eeg_features.shape[0], self._feature_width()))

    def _feature_width(self) -> int:
        return int(getattr(self.config, "eeg_feature_dim", None) or getattr(self.config, "mm_hidden_size", 0) or 0)

    def encode_visual(self, images: Any, image_sizes: Any, batch: int
                      ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Per sample: its visual tokens ``Hv`` (P, hidden) and which are CLIP patch tokens (None: all).

        (B, 3, H, W): one view per sample (LLaVA-1.5). A list of (n_tiles, 3, H, W) or a
        (B, max_tiles, 3, H, W) tensor with ``image_sizes`` [(width, height), ...]: LLaVA-NeXT
        anyres tiles, packed by :func:`llava.model.anyres.pack_tiles` (``mm_patch_merge_type``).
        """
        if not (isinstance(images, (list, tuple)) or images.dim() == 5):
            hv = self.encode_images(_stack_images(images, batch))  # (B, P, hidden)
            return [(hv[b], None) for b in range(batch)]
        tower = self.get_vision_tower()
        geometry = AnyresGeometry.from_config(self.config, int(tower.config.image_size), int(tower.config.patch_size))
        sizes = image_sizes_list(image_sizes, len(images))
        tiles = [images[b][:geometry.num_tiles(sizes[b])] for b in range(len(images))]  # (n_b, 3, H, W) each
        if len(tiles) != batch:
            raise ValueError(f"images: {len(tiles)} images for a batch of {batch} samples (one image per sample)")
        hv = self.encode_images(torch.cat(tiles)).split([t.shape[0] for t in tiles])  # (n_b, P, hidden) each
        newline = getattr(self.get_model(), "image_newline", None)
        return [geometry.pack(hv[b], sizes[b], newline) for b in range(batch)]

    def prepare_inputs_labels_for_multimodal(
        self, input_ids: torch.LongTensor | None, position_ids: torch.LongTensor | None,
        attention_mask: torch.Tensor | None, past_key_values: Any, labels: torch.LongTensor | None,
        images: torch.Tensor | list[torch.Tensor] | None, image_sizes: Any = None,
        eeg_features: torch.Tensor | None = None, sample_ids: Sequence[str] | None = None,
    ) -> tuple[None, torch.LongTensor | None, torch.Tensor | None, Any, torch.Tensor | None,
               torch.LongTensor | None]:
        """Replace the placeholders of ``input_ids`` (B, L) by visual tokens (upstream's name and order).

        Returns ``(None, position_ids, attention_mask, past_key_values, inputs_embeds (B, L',
        hidden), labels)``, padded on ``config.tokenizer_padding_side``. With nothing to splice
        (no tower, no images, a one-token decoding step) the inputs come back unchanged.
        """
        tower = self.get_vision_tower()
        if input_ids is None or tower is None or images is None or input_ids.shape[1] == 1:
            if input_ids is not None and images is None and bool((input_ids == IMAGE_TOKEN_INDEX).any()):
                n = int((input_ids == IMAGE_TOKEN_INDEX).sum())
                raise ValueError(f"input_ids: {n} <image> placeholder(s) found but no images were given")
            return input_ids, position_ids, attention_mask, past_key_values, None, labels
        if not tower.is_loaded:
            raise RuntimeError("vision tower weights are not loaded; call "
                               "model.get_vision_tower().load_model() (load_pretrained_model does it)")
        batch = input_ids.shape[0]
        fusion = EEGFusion(getattr(self.config, "eeg_fusion", "add"), int(getattr(self.config, "eeg_context", 0) or 0))
        visual = self.encode_visual(images, image_sizes, batch)
        hf = None  # (B, 1, hidden)
        if eeg_features is not None:
            hf = self.encode_eeg_features(fusion.check_features(eeg_features, batch, self._feature_width()))
            if not fusion.uses_features:
                logger.debug("eeg_fusion is 'none': eeg_features ignored")
                hf = None

        def slots_for(b: int, n_tags: int) -> list[torch.Tensor]:
            hv, patch = visual[b]
            return fusion.slots(b, n_tags, hv, patch, None if hf is None else hf[b], eeg_features is not None)

        mask_in = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask
        labels_in = torch.full_like(input_ids, IGNORE_INDEX) if labels is None else labels
        side = getattr(self.config, "tokenizer_padding_side", "right")
        embeds, labels_out, mask_out, pos_out = splice_visual_tokens(
            input_ids, mask_in, labels_in, self.get_model().embed_tokens, slots_for, [visual[0][0]],
            getattr(self.config, "tokenizer_model_max_length", None), side, sample_ids)
        mask_out = mask_out.to(attention_mask.dtype if attention_mask is not None else torch.long)
        # right padding: the default positions (0..L'-1) are right for every real token
        keep_positions = position_ids is not None or side == "left"
        return (None, pos_out if keep_positions else None, mask_out, past_key_values, embeds,
                labels_out if labels is not None else None)

    def initialize_vision_tokenizer(self, model_args: Any, tokenizer: Any) -> None:
        """Add ``<im_patch>`` / ``<im_start>``, ``<im_end>`` when asked (:mod:`llava.model.vision_setup`)."""
        from .vision_setup import initialize_vision_tokenizer

        initialize_vision_tokenizer(self, model_args, tokenizer)

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.LongTensor | None = None, past_key_values: Any = None,
                inputs_embeds: torch.FloatTensor | None = None, labels: torch.LongTensor | None = None,
                use_cache: bool | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, images: torch.Tensor | None = None,
                image_sizes: Any = None, eeg_features: torch.Tensor | None = None,
                return_dict: bool | None = None, sample_ids: Sequence[str] | None = None, **kwargs: Any):
        """Causal-LM forward; ``images`` and ``eeg_features`` (B, 1, D) are spliced in first.

        ``images``: (B, 3, H, W), or for ``anyres`` one (n_tiles, 3, H, W) per sample with
        ``image_sizes`` [(width, height), ...]. Extra keyword arguments of current
        transformers (``cache_position``, ``logits_to_keep``, ``num_items_in_batch``...) pass on.
        """
        if inputs_embeds is None:
            (input_ids, position_ids, attention_mask, past_key_values, inputs_embeds,
             labels) = self.prepare_inputs_labels_for_multimodal(
                input_ids, position_ids, attention_mask, past_key_values, labels, images, image_sizes,
                eeg_features=eeg_features, sample_ids=sample_ids)
        for key, value in (("output_attentions", output_attentions), ("past_key_values", past_key_values),
                           ("output_hidden_states", output_hidden_states), ("return_dict", return_dict)):
            if value is not None:  # (transformers 5.24 renames past_key_values to cache: pass only when set)
                kwargs[key] = value
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               inputs_embeds=inputs_embeds, labels=labels, use_cache=use_cache, **kwargs)

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, images: torch.Tensor | None = None,
                 image_sizes: Any = None, eeg_features: torch.Tensor | None = None, **kwargs: Any):
        """Generate from a prompt (B, L); the result holds ONLY the new tokens (B, n_new), as upstream."""
        if "inputs_embeds" in kwargs:
            raise NotImplementedError("generate(): pass input ids as 'inputs', not 'inputs_embeds'")
        inputs = kwargs.pop("input_ids", None) if inputs is None else inputs
        if inputs is None:
            raise ValueError("generate(): 'inputs' (input ids) is required")
        position_ids, attention_mask = kwargs.pop("position_ids", None), kwargs.pop("attention_mask", None)
        if images is not None:
            (_, position_ids, attention_mask, _, inputs_embeds, _) = self.prepare_inputs_labels_for_multimodal(
                inputs, position_ids, attention_mask, None, None, images, image_sizes, eeg_features=eeg_features)
        else:
            n_tags = int((inputs == IMAGE_TOKEN_INDEX).sum())
            if n_tags:
                raise ValueError(f"generate(): {n_tags} <image> placeholder(s) in the prompt but no images were given")
            inputs_embeds = self.get_model().embed_tokens(inputs)
        if attention_mask is not None:
            position_ids = None  # generate() derives positions from the attention mask (left padding too)
        return super().generate(position_ids=position_ids, attention_mask=attention_mask,
                                inputs_embeds=inputs_embeds, **kwargs)

    def save_pretrained(self, save_directory: Any, *args: Any, state_dict: dict | None = None, **kwargs: Any):
        """As transformers' ``save_pretrained``, leaving out the CLIP tower's weights."""
        state_dict = self.state_dict() if state_dict is None else state_dict
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(VISION_TOWER_PREFIX)}
        return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)


def _stack_images(images: torch.Tensor | list[torch.Tensor], batch: int) -> torch.Tensor:
    """One image per sample -> (B, 3, H, W); a list of (3, H, W) or (1, 3, H, W) is stacked."""
    if isinstance(images, (list, tuple)):
        images = torch.cat([im.unsqueeze(0) if im.dim() == 3 else im for im in images])
    if images.dim() != 4:
        raise ValueError("images: expected (batch, 3, H, W) with one image per sample, "
                         f"got shape {tuple(images.shape)}")
    if images.shape[0] != batch:
        raise ValueError(f"images: {images.shape[0]} images for a batch of {batch} samples (one image per sample)")
    return images


# -- 4. Llama --------------------------------------------------------------------------------
class LlavaLlamaModel(LlavaMetaModel, LlamaModel):
    """The Llama decoder with the vision tower and projector attached."""

    config_class = LlavaConfig


class LlavaLlamaForCausalLM(LlavaMetaForCausalLM, LlamaForCausalLM):
    """Llama (LLaVA-1.5 / Vicuna, LLaVA-NeXT-8B / Llama-3) causal LM with visual tokens and EEG features.

    Saved checkpoints leave out the CLIP tower (loaded from ``mm_vision_tower``), as upstream's.
    """

    config_class = LlavaConfig
    _keys_to_ignore_on_load_unexpected = [r"model\.vision_tower\..*"]

    def __init__(self, config: LlavaConfig) -> None:
        LlamaPreTrainedModel.__init__(self, config)
        self.attach_decoder(config, LlavaLlamaModel)


AutoModelForCausalLM.register(LlavaConfig, LlavaLlamaForCausalLM, exist_ok=True)
