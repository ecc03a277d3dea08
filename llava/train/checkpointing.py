"""Saving what training produced, in upstream LLaVA's checkpoint layout.

LoRA output folder (loadable with ``--model-path OUT --model-base BASE``)::

    OUT/config.json                          the model config (clean generation config)
    OUT/adapter_config.json                  PEFT
    OUT/adapter_model.safetensors            PEFT: the LoRA weights
    OUT/non_lora_trainables.safetensors      the other trained tensors (the projector),
                                             keys prefixed "base_model.model." as upstream's .bin

Projector-only pretraining (``--tune_mm_mlp_adapter``): ``OUT/mm_projector.safetensors``.

Under DeepSpeed ZeRO-3 every rank holds a slice of each parameter; the slices are gathered
(``deepspeed.zero.GatheredParameters``, a collective all ranks join) before the main
process writes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

__all__ = [
    "NON_LORA_NAME",
    "with_peft_prefix",
    "gather_named",
    "lora_state",
    "non_lora_trainable_state",
    "save_config",
    "save_lora_folder",
    "save_projector",
    "load_non_lora_into",
    "newest_checkpoint",
]

NON_LORA_NAME = "non_lora_trainables.safetensors"
PEFT_PREFIX = "base_model.model."


def _is_partitioned(param: torch.Tensor) -> bool:
    return hasattr(param, "ds_id")


def gather_named(named: Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Full CPU copies of ``(name, parameter)`` pairs, gathering ZeRO-3 partitions first.

    Every rank must call this with the same parameters (the gather is collective).
    """
    named = list(named)
    partitioned = [p for _, p in named if _is_partitioned(p)]
    if partitioned:
        import deepspeed

        with deepspeed.zero.GatheredParameters(partitioned, modifier_rank=None):
            return {n: p.detach().cpu().clone() for n, p in named}
    return {n: p.detach().cpu().clone() for n, p in named}


def lora_state(model: Any, bias: str = "none") -> dict[str, torch.Tensor]:
    """LoRA weights (and biases as ``--lora_bias`` says) of a PEFT model, gathered."""
    def wanted(name: str) -> bool:
        if "lora_" in name:
            return True
        if bias == "all":
            return name.endswith(".bias")
        if bias == "lora_only":
            stem = name.rsplit(".", 1)[0]
            return name.endswith(".bias") and any(
                other.startswith(stem + ".lora_") for other, _ in model.named_parameters()
            )
        return False

    return gather_named((n, p) for n, p in model.named_parameters() if wanted(n))


def non_lora_trainable_state(model: Any, state: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Trainable tensors that are not LoRA weights (the projector), keys as in the PEFT model.

    With ``state`` (an already consolidated state dict) the tensors are taken from it;
    otherwise they are gathered from the parameters.
    """
    names = [n for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]
    if state is not None:
        missing = [n for n in names if n not in state]
        if missing:
            raise ValueError(f"checkpoint state: trainable tensors {missing[:4]} missing from the consolidated state")
        return {n: state[n].detach().cpu().clone() for n in names}
    params = dict(model.named_parameters())
    return gather_named((n, params[n]) for n in names)


def with_peft_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys in upstream's form: ``base_model.model.<name in the LLaVA model>``."""
    return {(k if k.startswith(PEFT_PREFIX) else PEFT_PREFIX + k): v.contiguous() for k, v in state.items()}


def save_config(model: Any, output_dir: str | Path) -> None:
    """``config.json`` (+ a clean ``generation_config.json``) of the underlying LLaVA model."""
    from llava.model.builder import clean_generation_config

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    clean_generation_config(base)
    base.config.save_pretrained(str(output_dir))
    gen = getattr(base, "generation_config", None)
    if gen is not None:
        try:
            gen.save_pretrained(str(output_dir))
        except ValueError as exc:  # a config that still fails validation is not worth losing a run
            logger.warning("generation config not saved: %s", exc)


def save_lora_folder(model: Any, output_dir: str | Path, lora_bias: str = "none", is_main: bool = True) -> Path:
    """Write a LoRA output folder (see the module doc). All ranks call it; ``is_main`` writes."""
    from safetensors.torch import save_file

    adapter = lora_state(model, lora_bias)
    extra = non_lora_trainable_state(model)
    out = Path(output_dir)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(model, out)
        # the adapter is exactly ``adapter``: the embedding rows added for <im_patch> are not trained
        model.save_pretrained(str(out), state_dict=adapter, safe_serialization=True, save_embedding_layers=False)
        save_file(with_peft_prefix(extra), str(out / NON_LORA_NAME), metadata={"format": "pt"})
        logger.info("saved LoRA folder %s: %d adapter tensors, %d non-LoRA tensors (%s)", out, len(adapter),
                    len(extra), ", ".join(sorted({k.rsplit(".", 2)[0] for k in extra}))[:200])
    return out


def save_projector(model: Any, output_dir: str | Path, is_main: bool = True) -> Path:
    """Projector-only checkpoint (``mm_projector.safetensors``, keys ``model.mm_projector.*``)."""
    from safetensors.torch import save_file

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    named = [(n, p) for n, p in base.named_parameters() if "mm_projector" in n]
    state = gather_named(named)
    out = Path(output_dir)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(model, out)
        save_file({k: v.contiguous() for k, v in state.items()}, str(out / "mm_projector.safetensors"),
                  metadata={"format": "pt"})
    return out


def load_non_lora_into(model: Any, folder: str | Path) -> int:
    """Load ``non_lora_trainables`` of ``folder`` into a PEFT model (resume); returns the count."""
    from safetensors.torch import load_file

    file = Path(folder) / NON_LORA_NAME
    if not file.is_file():
        return 0
    state = load_file(str(file))
    own = dict(model.named_parameters())
    unknown = [k for k in state if k not in own]
    if unknown:
        raise ValueError(f"checkpoint {folder}: tensors {unknown[:4]} of {NON_LORA_NAME} are not in the model")
    with torch.no_grad():
        for k, v in state.items():
            if _is_partitioned(own[k]):
                raise RuntimeError(f"checkpoint {folder}: cannot load {k} into a ZeRO-3 partitioned parameter")
            own[k].copy_(v.to(own[k].dtype))
    return len(state)


def newest_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``checkpoint-<step>`` folder with the highest step in ``output_dir``, or None."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = []
    for child in folder.iterdir():
        name = child.name
        if child.is_dir() and name.startswith("checkpoint-") and name[len("checkpoint-"):].isdigit():
            steps.append((int(name[len("checkpoint-"):]), child))
    return max(steps)[1] if steps else None
