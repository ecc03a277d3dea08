"""``LLaVATrainer``: the HF Trainer with upstream LLaVA's sampler, optimizer groups and saving.

- ``--group_by_modality_length``: batches hold only image samples or only text-only
  samples, each grouped by length (:class:`LengthGroupedSampler`). The order is a pure
  function of ``(seed, epoch)``, so a resumed run skips exactly the batches it had seen.
- ``--mm_projector_lr``: the projector gets its own learning rate; every group is split
  into weight-decay / no-decay parameters.
- Intermediate ``checkpoint-*`` folders of a LoRA run also hold ``config.json`` and
  ``non_lora_trainables.safetensors`` (the projector), so each is a loadable LoRA folder
  and a resumed run without DeepSpeed gets its projector back (PEFT alone would restore
  only the adapter).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Sampler
from transformers import Trainer

from llava.train.checkpointing import (
    NON_LORA_NAME,
    load_non_lora_into,
    non_lora_trainable_state,
    save_config,
    with_peft_prefix,
)

logger = logging.getLogger(__name__)

__all__ = ["LengthGroupedSampler", "length_grouped_indices", "modality_grouped_indices", "LLaVATrainer"]


def _balanced_split(indices: list[int], lengths: Sequence[int], parts: int) -> list[list[int]]:
    """Split ``indices`` into ``parts`` groups of equal count with similar total length."""
    if len(indices) % parts:
        return [indices[i::parts] for i in range(parts)]
    per = len(indices) // parts
    groups: list[list[int]] = [[] for _ in range(parts)]
    totals = [0] * parts
    for i in indices:
        k = min((g for g in range(parts) if len(groups[g]) < per), key=lambda g: totals[g])
        groups[k].append(i)
        totals[k] += lengths[i]
    return groups


def length_grouped_indices(lengths: Sequence[int], batch_size: int, world_size: int,
                           generator: torch.Generator) -> list[int]:
    """A random order in which each run of ``world_size * batch_size`` indices has similar lengths.

    Each mega-batch (sorted longest first) is cut into ``world_size`` consecutive batches of
    balanced total length, one per rank.
    """
    perm = torch.randperm(len(lengths), generator=generator).tolist()
    mega = max(1, world_size * batch_size)
    out: list[int] = []
    for start in range(0, len(perm), mega):
        chunk = sorted(perm[start:start + mega], key=lambda i: lengths[i], reverse=True)
        for group in _balanced_split(chunk, lengths, world_size):
            out.extend(group)
    return out


def modality_grouped_indices(lengths: Sequence[int], batch_size: int, world_size: int,
                             generator: torch.Generator) -> list[int]:
    """Like :func:`length_grouped_indices`, but image (length > 0) and text-only (< 0) samples
    never share a mega-batch; the partial mega-batches of the two go last."""
    image = [i for i, n in enumerate(lengths) if n > 0]
    text = [i for i, n in enumerate(lengths) if n < 0]
    absolute = [abs(n) for n in lengths]
    if not image or not text:
        return length_grouped_indices(absolute, batch_size, world_size, generator)
    mega = max(1, world_size * batch_size)

    def ordered(subset: list[int]) -> list[list[int]]:
        order = length_grouped_indices([absolute[i] for i in subset], batch_size, world_size, generator)
        flat = [subset[i] for i in order]
        return [flat[s:s + mega] for s in range(0, len(flat), mega)]

    image_megas, text_megas = ordered(image), ordered(text)
    tail = []
    if len(image_megas[-1]) < mega:
        tail += image_megas.pop()
    if len(text_megas[-1]) < mega:
        tail += text_megas.pop()
    megas = image_megas + text_megas
    shuffled = [megas[k] for k in torch.randperm(len(megas), generator=generator).tolist()]
    return [i for m in shuffled for i in m] + tail


class LengthGroupedSampler(Sampler[int]):
    """Length-grouped (optionally modality-grouped) order, reproducible from ``seed`` and epoch.

    Yields indices for ALL ranks (as upstream); the Trainer's data loader hands batch ``k``
    to rank ``k % world_size``.
    """

    def __init__(self, batch_size: int, world_size: int, lengths: Sequence[int], seed: int = 0,
                 group_by_modality: bool = True) -> None:
        if not lengths:
            raise ValueError("LengthGroupedSampler: 'lengths' is empty")
        self.batch_size = int(batch_size)
        self.world_size = int(world_size)
        self.lengths = list(lengths)
        self.seed = int(seed)
        self.epoch = 0
        self.group_by_modality = group_by_modality

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        fn = modality_grouped_indices if self.group_by_modality else length_grouped_indices
        lengths = self.lengths if self.group_by_modality else [abs(n) for n in self.lengths]
        return iter(fn(lengths, self.batch_size, self.world_size, gen))


class LLaVATrainer(Trainer):
    """Trainer with the modality-grouped sampler, projector learning rate and LoRA-aware saving."""

    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler | None:
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if dataset is None or not getattr(self.args, "group_by_modality_length", False):
            return super()._get_train_sampler(train_dataset)
        return LengthGroupedSampler(
            self.args.train_batch_size,
            world_size=self.args.world_size * self.args.gradient_accumulation_steps,
            lengths=dataset.modality_lengths,
            seed=self.args.data_seed if self.args.data_seed is not None else self.args.seed,
            group_by_modality=True,
        )

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        projector_lr = getattr(self.args, "mm_projector_lr", None)
        if self.optimizer is not None or projector_lr is None:
            return super().create_optimizer(model) if model is not None else super().create_optimizer()
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, param in opt_model.named_parameters():
            if not param.requires_grad:
                continue
            groups.setdefault(("mm_projector" in name, name in decay), []).append(param)
        param_groups = []
        for (is_projector, has_decay), params in sorted(groups.items()):
            group: dict[str, Any] = {"params": params, "weight_decay": self.args.weight_decay if has_decay else 0.0}
            if is_projector:
                group["lr"] = projector_lr
            param_groups.append(group)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(param_groups, **optimizer_kwargs)
        logger.info("optimizer %s: %s", optimizer_cls.__name__, ", ".join(
            f"{'projector' if p else 'model'}/{'decay' if d else 'no-decay'}: {len(v)} tensors"
            for (p, d), v in sorted(groups.items())))
        return self.optimizer

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict=state_dict)
        model = self.model
        if not hasattr(model, "peft_config"):
            return
        out = Path(output_dir if output_dir is not None else self.args.output_dir)
        if state_dict is not None and not state_dict:
            return  # HF's placeholder save when 16-bit gathering is off
        extra = non_lora_trainable_state(model, state_dict)
        if self.args.should_save:
            from safetensors.torch import save_file

            save_config(model, out)
            save_file(with_peft_prefix(extra), str(out / NON_LORA_NAME), metadata={"format": "pt"})

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        target = model if model is not None else self.model
        if hasattr(target, "peft_config"):
            n = load_non_lora_into(target, resume_from_checkpoint)
            if n:
                logger.info("resumed %d non-LoRA tensors from %s", n, resume_from_checkpoint)
