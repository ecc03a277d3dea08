"""PSG-LLaVA Table 3 training configurations as named presets (``--preset NAME``).

Table 3 of the PSG-LLaVA paper (seed 001, appendix G) lists, per baseline, the training
strategy, the layers unfrozen, batch size, learning rate, weight decay and epochs. Every
row is here once, image, signal and foundation models alike, so a command names a row
instead of retyping its numbers. A preset fills only the options the command did not give.

| preset | input | strategy | unfrozen | batch | lr | wd | epochs |
| --- | --- | --- | --- | --- | --- | --- | --- |
| convnext | image | partial fine-tuning | last stage / subsequent layers | 64 | 1e-3 | 1e-4 | 30 |
| vit | image | partial fine-tuning | final three encoder blocks / head | 64 | 1e-3 | 1e-4 | 50 |
| maxvit | image | partial fine-tuning | last stage / subsequent layers | 64 | 1e-3 | 1e-4 | 30 |
| resnet | image | partial fine-tuning | layers 3 & 4 / head | 64 | 1e-3 | 1e-4 | 30 |
| swin | image | partial fine-tuning | last stage / subsequent layers | 64 | 1e-3 | 1e-4 | 50 |
| vim | image | partial fine-tuning | last stage / subsequent layers | 64 | 1e-3 | 1e-4 | 30 |
| multisleepnet | signal | full training | — | 100 | 1e-3 | 1e-4 | 30 |
| tinysleepnet | signal | full training | — | 32 | 1e-4 | 1e-3 | 200 |
| sleepwavenet | signal | full training | — | 8 | 1e-3 | 1e-4 | 10 |
| labram | foundation | fine-tuning | all | 128 | 5e-4 | 5e-2 | 30 |
| cbramod | foundation | fine-tuning | all | 32 | 1e-4 | 5e-2 | 30 |

``table3`` stands for the row of the model being trained (:data:`IMAGE_MODEL_ROWS` for the
built-in image backbones; the Fig. 3 CLIP vision tower, itself a ViT, trains with the ViT row).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = ["Preset", "TABLE3", "IMAGE_MODEL_ROWS", "get_preset", "preset_for_model", "fill_from_preset"]


@dataclass(frozen=True)
class Preset:
    """One row of PSG-LLaVA Table 3."""

    name: str
    input: str  # 'image', 'signal' or 'foundation'
    strategy: str
    unfrozen: str  # the paper's wording
    batch_size: int
    lr: float
    weight_decay: float
    epochs: int

    @property
    def unfreeze(self) -> str:
        """``--unfreeze`` value of the row: ``table3`` for partial fine-tuning, else ``all``."""
        return "table3" if self.strategy == "partial fine-tuning" else "all"

    def options(self) -> dict[str, object]:
        """The training options this row sets."""
        return {"batch_size": self.batch_size, "lr": self.lr, "weight_decay": self.weight_decay,
                "epochs": self.epochs}


def _rows() -> dict[str, Preset]:
    partial, last = "partial fine-tuning", "last stage / subsequent layers"
    rows = [
        Preset("convnext", "image", partial, last, 64, 1e-3, 1e-4, 30),
        Preset("vit", "image", partial, "final three encoder blocks / classification head", 64, 1e-3, 1e-4, 50),
        Preset("maxvit", "image", partial, last, 64, 1e-3, 1e-4, 30),
        Preset("resnet", "image", partial, "layers 3 & 4 / classification head", 64, 1e-3, 1e-4, 30),
        Preset("swin", "image", partial, last, 64, 1e-3, 1e-4, 50),
        Preset("vim", "image", partial, last, 64, 1e-3, 1e-4, 30),
        Preset("multisleepnet", "signal", "full training", "—", 100, 1e-3, 1e-4, 30),
        Preset("tinysleepnet", "signal", "full training", "—", 32, 1e-4, 1e-3, 200),
        Preset("sleepwavenet", "signal", "full training", "—", 8, 1e-3, 1e-4, 10),
        Preset("labram", "foundation", "fine-tuning", "all", 128, 5e-4, 5e-2, 30),
        Preset("cbramod", "foundation", "fine-tuning", "all", 32, 1e-4, 5e-2, 30),
    ]
    return {r.name: r for r in rows}


#: every row of Table 3, by preset name
TABLE3: dict[str, Preset] = _rows()

#: built-in image backbone -> its Table 3 row
IMAGE_MODEL_ROWS: dict[str, str] = {
    **{n: "resnet" for n in ("resnet18_1024", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152")},
    **{n: "convnext" for n in ("convnext_tiny", "convnext_small", "convnext_base")},
    **{n: "maxvit" for n in ("maxvit_tiny", "maxvit_small", "maxvit_base", "maxvit_large")},
    **{n: "vim" for n in ("vim_tiny", "vim_small", "vim_base")},
    "vit_base": "vit", "swin_tiny": "swin", "swin_base": "swin",
    "clip_vit_l14_336": "vit",  # Fig. 3 gives no row of its own; the CLIP tower is a ViT
}


def get_preset(name: str) -> Preset:
    """The Table 3 row called ``name``; an unknown name lists the rows."""
    if name not in TABLE3:
        raise ValueError(f"--preset: unknown preset {name!r}; available: table3, {', '.join(TABLE3)}")
    return TABLE3[name]


def preset_for_model(name: str, model: str, rows: dict[str, str] | None = None) -> Preset:
    """Resolve ``--preset``: a row name, or ``table3`` for ``model``'s own row."""
    if name != "table3":
        return get_preset(name)
    rows = IMAGE_MODEL_ROWS if rows is None else rows
    if model not in rows:
        raise ValueError(f"--preset table3: model {model!r} has no row in PSG-LLaVA Table 3; "
                         f"name a row instead ({', '.join(TABLE3)})")
    return TABLE3[rows[model]]


def fill_from_preset(args: argparse.Namespace, default_model: str = "resnet18_1024") -> argparse.Namespace:
    """Copy of ``args`` with the options its ``preset`` sets and the command did not give.

    Options given on the command line win; ``unfreeze`` is filled (``table3`` or ``all``)
    unless ``--unfreeze`` or ``--trainable`` was given.
    """
    values = dict(vars(args))
    name = values.get("preset")
    if not name:
        return args
    row = preset_for_model(name, values.get("model", default_model))
    for key, value in row.options().items():
        values.setdefault(key, value)
    if "unfreeze" not in values and not values.get("trainable"):
        values["unfreeze"] = row.unfreeze
    logger.info("preset %s (PSG-LLaVA Table 3 row %r): %s", name, row.name,
                {k: values[k] for k in (*row.options(), "unfreeze") if k in values})
    return argparse.Namespace(**values)
