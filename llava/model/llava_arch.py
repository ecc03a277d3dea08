"""LLaVA-1.5 multimodal glue, with the EEG-VLM feature slot.

Two mixins, as in upstream LLaVA's module layout:

- :class:`LlavaMetaModel` (mixed into the bare language model) owns the vision tower and
  the ``mm_projector`` and builds them from the config or from training arguments.
- :class:`LlavaMetaForCausalLM` (mixed into the model with the LM head) turns
  ``input_ids`` holding ``IMAGE_TOKEN_INDEX`` placeholders into input embeddings with the
  visual tokens spliced in (:meth:`~LlavaMetaForCausalLM.prepare_inputs_labels_for_multimodal`).

The EEG-VLM slot
----------------
A batch carries ONE real image per sample, ``images`` (B, 3, H, W), and optionally the
sample's high-level features ``eeg_features`` (B, 1, D). CLIP runs once per sample:

- ``Zv = tower(images)`` (B, 576, mm_hidden) -> ``Hv = mm_projector(Zv)`` (B, 576, hidden)
- ``Zf = eeg_features`` (B, 1, D), ``D == mm_hidden_size`` -> ``Hf = mm_projector(Zf)``
  (B, 1, hidden): the SAME projector (shared W).

The first ``<image>`` placeholder of a sample receives ``Hv``. The second one, present only
for EEG-VLM samples, is filled according to ``config.eeg_fusion``:

- ``'add'`` (default): ``Hv + Expand(Hf)``, the projected feature broadcast-added to each of
  the 576 patch tokens (1,152 visual tokens per sample);
- ``'raw'``: ``Hf`` alone (one token; 577 visual tokens per sample);
- ``'none'``: no second slot; a sample must hold a single ``<image>`` (vanilla LLaVA-1.5).

Counts never get truncated or guessed: a sample with two placeholders and no features, one
placeholder while features were given, or a features batch of the wrong size raises an
error naming both numbers. Without features and with single images the model behaves
exactly as vanilla LLaVA-1.5.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..constants import (
    DEFAULT_IM_END_TOKEN,
    DEFAULT_IM_START_TOKEN,
    DEFAULT_IMAGE_PATCH_TOKEN,
    EEG_FUSION_MODES,
    IGNORE_INDEX,
    IMAGE_TOKEN_INDEX,
)
from .multimodal_encoder.builder import build_vision_tower
from .multimodal_encoder.clip_encoder import CLIPVisionTower
from .multimodal_projector.builder import build_vision_projector

logger = logging.getLogger(__name__)

__all__ = ["LlavaMetaModel", "LlavaMetaForCausalLM", "load_weights_file", "projector_state"]


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file, or a pickled ``.bin`` read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path}: not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path}: expected a mapping of names to tensors, got {type(state).__name__}")
    return state


def projector_state(state: dict[str, torch.Tensor], source: str = "weights") -> dict[str, torch.Tensor]:
    """The ``mm_projector`` entries of ``state``, keyed relative to the projector (``0.weight``...)."""
    out = {k.split("mm_projector.", 1)[1]: v for k, v in state.items() if "mm_projector." in k}
    if not out:
        raise ValueError(f"{source}: no 'mm_projector.*' weights found; keys: {sorted(state)[:8]}")
    return out


class LlavaMetaModel:
    """Mixin for the bare language model: adds ``vision_tower`` and ``mm_projector``.

    When the config names a vision tower (``mm_vision_tower``), the tower is created
    without weights (loaded later by :meth:`CLIPVisionTower.load_model`, since base
    checkpoints do not carry CLIP) and the projector is built from the config.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if getattr(config, "mm_vision_tower", None):
            self.vision_tower = build_vision_tower(config, delay_load=True)
            self.mm_projector = build_vision_projector(config)

    def get_vision_tower(self) -> CLIPVisionTower | None:
        """The vision tower, or None for a text-only model."""
        tower = getattr(self, "vision_tower", None)
        if isinstance(tower, (list, tuple)):  # FSDP keeps it out of the module tree
            tower = tower[0]
        return tower

    def initialize_vision_modules(self, model_args: Any, fsdp: Any = None) -> None:
        """Create or load the vision tower and projector from training arguments.

        ``model_args`` carries ``vision_tower``, ``mm_vision_select_layer``,
        ``mm_vision_select_feature``, ``pretrain_mm_mlp_adapter``, ``mm_projector_type``,
        ``mm_patch_merge_type`` and optionally ``eeg_fusion``. The config is updated so
        that a saved checkpoint rebuilds the same modules. With ``fsdp`` set, the tower is
        kept in a list, outside the module tree, as upstream does.
        """
        config = self.config
        name = getattr(model_args, "vision_tower", None) or getattr(config, "mm_vision_tower", None)
        if not name:
            raise ValueError("initialize_vision_modules: 'vision_tower' is not set")
        config.mm_vision_tower = str(name)
        layer = getattr(model_args, "mm_vision_select_layer", None)
        config.mm_vision_select_layer = -2 if layer is None else int(layer)
        config.mm_vision_select_feature = getattr(model_args, "mm_vision_select_feature", "patch") or "patch"
        config.mm_patch_merge_type = getattr(model_args, "mm_patch_merge_type", "flat") or "flat"
        fusion = getattr(model_args, "eeg_fusion", None)
        if fusion is not None:
            _check_fusion(fusion)
            config.eeg_fusion = fusion

        tower = self.get_vision_tower()
        if tower is None or tower.vision_tower_name != str(name):
            tower = build_vision_tower(config)
        else:
            tower.select_layer = config.mm_vision_select_layer
            tower.select_feature = config.mm_vision_select_feature
            tower.load_model()
        if fsdp:
            self._modules.pop("vision_tower", None)  # kept outside the module tree, as upstream
            self.vision_tower = [tower]
        else:
            self.vision_tower = tower

        config.use_mm_proj = True
        config.mm_projector_type = getattr(model_args, "mm_projector_type", None) or "linear"
        config.mm_hidden_size = tower.hidden_size
        projector = getattr(self, "mm_projector", None)
        if projector is None or _projector_in_width(projector) != tower.hidden_size:
            if projector is not None:
                logger.warning("rebuilding mm_projector: its input width %s differs from the tower's %d",
                               _projector_in_width(projector), tower.hidden_size)
            ref = next(self.parameters())
            self.mm_projector = build_vision_projector(config).to(device=ref.device, dtype=ref.dtype)
        else:
            # LoRA wrapping may have frozen it; the projector trains unless told otherwise
            self.mm_projector.requires_grad_(True)

        adapter = getattr(model_args, "pretrain_mm_mlp_adapter", None)
        if adapter:
            weights = projector_state(load_weights_file(adapter), source=f"pretrain_mm_mlp_adapter {adapter}")
            self.mm_projector.load_state_dict(weights)
            logger.info("loaded projector weights from %s", adapter)


def _projector_in_width(projector: nn.Module) -> int | None:
    for module in projector.modules():
        if isinstance(module, nn.Linear):
            return int(module.in_features)
    return None


def _check_fusion(fusion: Any) -> str:
    if fusion not in EEG_FUSION_MODES:
        raise ValueError(f"config: invalid value for 'eeg_fusion'. Allowed values are "
                         f"{', '.join(map(repr, EEG_FUSION_MODES))}, but got {fusion!r} instead")
    return fusion


class LlavaMetaForCausalLM:
    """Mixin for the model with the LM head: image encoding and token splicing."""

    def get_model(self) -> LlavaMetaModel:  # pragma: no cover - provided by the concrete class
        raise NotImplementedError

    def get_vision_tower(self) -> CLIPVisionTower | None:
        return self.get_model().get_vision_tower()

    # -- encoders -------------------------------------------------------------------
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) -> projected patch tokens ``Hv`` (B, P, hidden)."""
        projector = self.get_model().mm_projector
        zv = self.get_vision_tower()(images)  # (B, P, mm_hidden)
        return projector(zv.to(device=_param_device(projector, zv.device), dtype=_param_dtype(projector, zv.dtype)))

    def encode_eeg_features(self, eeg_features: torch.Tensor) -> torch.Tensor:
        """High-level features ``Zf`` (B, 1, D) -> ``Hf`` (B, 1, hidden) via the shared projector."""
        width = int(getattr(self.config, "mm_hidden_size", 0) or 0)
        if eeg_features.shape[-1] != width:
            raise ValueError(
                f"eeg_features: feature width {eeg_features.shape[-1]} does not match the projector's input "
                f"width mm_hidden_size={width}; the features pass through the same mm_projector as the "
                "CLIP patch features, so both widths must be equal")
        projector = self.get_model().mm_projector
        return projector(eeg_features.to(device=_param_device(projector, eeg_features.device),
                                         dtype=_param_dtype(projector, torch.float32)))

    # -- splicing -------------------------------------------------------------------
    def prepare_inputs_labels_for_multimodal(
        self,
        input_ids: torch.LongTensor | None,
        position_ids: torch.LongTensor | None,
        attention_mask: torch.Tensor | None,
        past_key_values: Any,
        labels: torch.LongTensor | None,
        images: torch.Tensor | list[torch.Tensor] | None,
        image_sizes: Any = None,
        eeg_features: torch.Tensor | None = None,
    ) -> tuple[None, torch.LongTensor | None, torch.Tensor | None, Any, torch.Tensor | None,
               torch.LongTensor | None]:
        """Replace the image placeholders of ``input_ids`` (B, L) by visual tokens.

        Returns ``(None, position_ids, attention_mask, past_key_values, inputs_embeds,
        labels)`` with ``inputs_embeds`` (B, L', hidden); labels at visual positions are
        ``IGNORE_INDEX``; sequences are cut to ``config.tokenizer_model_max_length`` (when
        set) and padded on ``config.tokenizer_padding_side`` (default right). When there is
        nothing to splice (no tower, no images, or a one-token decoding step) the inputs
        are returned unchanged.
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
        images = _stack_images(images, batch)
        fusion = _check_fusion(getattr(self.config, "eeg_fusion", "add"))
        if eeg_features is not None:
            if eeg_features.dim() == 2:
                eeg_features = eeg_features.unsqueeze(1)
            if eeg_features.dim() != 3 or eeg_features.shape[1] != 1:
                raise ValueError(f"eeg_features: expected shape (batch, 1, D), got {tuple(eeg_features.shape)}")
            if eeg_features.shape[0] != batch:
                raise ValueError(f"eeg_features: {eeg_features.shape[0]} feature rows for a batch of {batch} samples")

        hv = self.encode_images(images)  # (B, P, hidden)
        use_features = eeg_features is not None and fusion != "none"
        hf = self.encode_eeg_features(eeg_features) if use_features else None  # (B, 1, hidden)
        if eeg_features is not None and fusion == "none":
            logger.debug("eeg_fusion is 'none': eeg_features ignored")

        _labels, _position_ids, _attention_mask = labels, position_ids, attention_mask
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        else:
            attention_mask = attention_mask.bool()
        if labels is None:
            labels = torch.full_like(input_ids, IGNORE_INDEX)

        embed = self.get_model().embed_tokens
        new_embeds: list[torch.Tensor] = []
        new_labels: list[torch.Tensor] = []
        for b in range(batch):
            ids = input_ids[b][attention_mask[b]]
            labs = labels[b][attention_mask[b]]
            where = torch.nonzero(ids == IMAGE_TOKEN_INDEX, as_tuple=True)[0].tolist()
            slots = self._visual_slots(b, len(where), hv[b], None if hf is None else hf[b], fusion,
                                       eeg_features is not None)
            bounds = [-1] + where + [ids.shape[0]]
            text_ids = [ids[bounds[i] + 1: bounds[i + 1]] for i in range(len(bounds) - 1)]
            text_labs = [labs[bounds[i] + 1: bounds[i + 1]] for i in range(len(bounds) - 1)]
            text_emb = embed(torch.cat(text_ids)).split([t.shape[0] for t in text_ids])
            parts, part_labels = [], []
            for i, (emb, lab) in enumerate(zip(text_emb, text_labs)):
                parts.append(emb)
                part_labels.append(lab)
                if i < len(slots):
                    vis = slots[i].to(device=emb.device, dtype=emb.dtype)
                    parts.append(vis)
                    part_labels.append(torch.full((vis.shape[0],), IGNORE_INDEX, dtype=lab.dtype, device=lab.device))
            if not where:
                # text-only sample: keep the projector in the graph (distributed training needs
                # every trainable parameter to receive a gradient)
                parts.append(hv[b][:0].to(device=parts[0].device, dtype=parts[0].dtype))
            new_embeds.append(torch.cat(parts))
            new_labels.append(torch.cat(part_labels))

        max_len = getattr(self.config, "tokenizer_model_max_length", None)
        if max_len is not None:
            new_embeds = [e[:max_len] for e in new_embeds]
            new_labels = [lab[:max_len] for lab in new_labels]

        side = getattr(self.config, "tokenizer_padding_side", "right")
        inputs_embeds, labels_out, mask_out, pos_out = _pad_batch(new_embeds, new_labels, side)
        mask_out = mask_out.to(_attention_mask.dtype if _attention_mask is not None else torch.long)
        # right padding: the default positions (0..L'-1) are right for every real token
        keep_positions = _position_ids is not None or side == "left"
        return (None, pos_out if keep_positions else None, mask_out, past_key_values, inputs_embeds,
                labels_out if _labels is not None else None)

    def _visual_slots(self, b: int, n_tags: int, hv: torch.Tensor, hf: torch.Tensor | None, fusion: str,
                      has_features: bool) -> list[torch.Tensor]:
        """The visual token blocks for sample ``b``'s ``n_tags`` placeholders, in order."""
        if n_tags == 0:
            return []
        if n_tags == 1:
            if hf is not None:
                raise ValueError(
                    f"sample {b}: 1 <image> placeholder but eeg_features were given; with eeg_fusion "
                    f"{fusion!r} an EEG-VLM sample carries 2 <image> placeholders (image, then features)")
            return [hv]
        if n_tags == 2:
            if fusion == "none":
                raise ValueError(f"sample {b}: 2 <image> placeholders but eeg_fusion 'none' takes 1 per sample")
            if hf is None:
                raise ValueError(f"sample {b}: 2 <image> placeholders but no eeg_features were given "
                                 f"(0 feature rows for 1 feature slot); eeg_fusion is {fusion!r}")
            second = hv + hf if fusion == "add" else hf  # (P, hidden) + (1, hidden) broadcast, or (1, hidden)
            return [hv, second]
        expected = 2 if has_features and fusion != "none" else 1
        raise ValueError(f"sample {b}: {n_tags} <image> placeholders but at most {expected} expected "
                         f"(eeg_fusion {fusion!r}, features {'given' if has_features else 'absent'})")

    # -- tokenizer --------------------------------------------------------------------
    def initialize_vision_tokenizer(self, model_args: Any, tokenizer: Any) -> None:
        """Add ``<im_patch>`` / ``<im_start>``, ``<im_end>`` when asked, as upstream LLaVA.

        New input embeddings start at the mean of the existing ones. With
        ``tune_mm_mlp_adapter`` the input embeddings train and the output ones stay fixed;
        with ``pretrain_mm_mlp_adapter`` the new tokens' embeddings are read from it.
        """
        if getattr(model_args, "mm_use_im_patch_token", False):
            tokenizer.add_tokens([DEFAULT_IMAGE_PATCH_TOKEN], special_tokens=True)
            self.resize_token_embeddings(len(tokenizer))
        if getattr(model_args, "mm_use_im_start_end", False):
            added = tokenizer.add_tokens([DEFAULT_IM_START_TOKEN, DEFAULT_IM_END_TOKEN], special_tokens=True)
            self.resize_token_embeddings(len(tokenizer))
            if added > 0:
                inp = self.get_input_embeddings().weight.data
                out = self.get_output_embeddings().weight.data
                inp[-added:] = inp[:-added].mean(dim=0, keepdim=True)
                out[-added:] = out[:-added].mean(dim=0, keepdim=True)
            if getattr(model_args, "tune_mm_mlp_adapter", False):
                self.get_input_embeddings().requires_grad_(True)
                self.get_output_embeddings().requires_grad_(False)
            adapter = getattr(model_args, "pretrain_mm_mlp_adapter", None)
            if adapter and added > 0:
                state = load_weights_file(adapter)
                key = next((k for k in state if k.endswith("embed_tokens.weight")), None)
                if key is None:
                    raise ValueError(f"pretrain_mm_mlp_adapter {adapter}: no embed_tokens.weight for the "
                                     f"{added} added tokens")
                weight = state[key]
                inp = self.get_input_embeddings().weight.data
                if weight.shape == inp.shape:
                    inp[-added:] = weight[-added:]
                elif weight.shape[0] == added:
                    inp[-added:] = weight
                else:
                    raise ValueError(f"pretrain_mm_mlp_adapter {adapter}: embed_tokens.weight has shape "
                                     f"{tuple(weight.shape)}; expected {tuple(inp.shape)} or ({added}, {inp.shape[1]})")
        elif getattr(model_args, "mm_use_im_patch_token", False) and getattr(model_args, "tune_mm_mlp_adapter", False):
            self.get_input_embeddings().requires_grad_(False)
            self.get_output_embeddings().requires_grad_(False)


def _param_dtype(module: nn.Module, default: torch.dtype) -> torch.dtype:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return default


def _param_device(module: nn.Module, default: torch.device) -> torch.device:
    for p in module.parameters():
        return p.device
    return default


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


def _pad_batch(embeds: list[torch.Tensor], labels: list[torch.Tensor], side: str
               ) -> tuple[torch.Tensor, torch.LongTensor, torch.Tensor, torch.LongTensor]:
    """Pad per-sample (L_i, hidden) embeddings to (B, L, hidden), with labels, mask and positions."""
    if side not in ("right", "left"):
        raise ValueError(f"config: invalid value for 'tokenizer_padding_side'. Allowed values are 'right', "
                         f"'left', but got {side!r} instead")
    batch, longest = len(embeds), max(e.shape[0] for e in embeds)
    ref = embeds[0]
    out = ref.new_zeros((batch, longest, ref.shape[-1]))
    labels_out = torch.full((batch, longest), IGNORE_INDEX, dtype=labels[0].dtype, device=ref.device)
    mask = torch.zeros((batch, longest), dtype=torch.bool, device=ref.device)
    positions = torch.zeros((batch, longest), dtype=torch.long, device=ref.device)
    for b, (emb, lab) in enumerate(zip(embeds, labels)):
        n = emb.shape[0]
        sl = slice(0, n) if side == "right" else slice(longest - n, longest)
        out[b, sl] = emb
        labels_out[b, sl] = lab
        mask[b, sl] = True
        positions[b, sl] = torch.arange(n, dtype=torch.long, device=ref.device)
    return out, labels_out, mask, positions
