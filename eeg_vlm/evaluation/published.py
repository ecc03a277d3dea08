"""Published figures from the source papers and the field, as data, each with its source.

Only figures printed in the project's sources are here:

- EEG-VLM (arXiv 2511.19155): Table I headline figures, two per-class F1s, and the ablation
  figures quoted from Table II and Section IV.E.
- PSG-LLaVA (the paper that fine-tunes LLaVA-NeXT on PSG waveform images of ISRUC, MASS and
  SHHS): Table 1 (every row) and Figure 3 (CLIP vision encoder alone vs the full model).
- Reference figures of the field, each under its own paper: SleePyCo, L-SeqSleepNet,
  TinySleepNet, SleepVLM, and human inter-scorer agreement.

Each row states its protocol as its source gives it. Neither paper says its test split is
subject-independent: EEG-VLM states no protocol (its N1 F1 above its
accuracy suggests a class-balanced, epoch-level test set); PSG-LLaVA splits "the sample set"
8:2 with five seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "PublishedRow", "PROTOCOL_SUBJECT", "PROTOCOL_EPOCH", "EEG_VLM_MAIN", "EEG_VLM_ABLATION",
    "PSG_LLAVA_TABLE1", "FIELD_ANCHORS", "PSG_LLAVA_DATASETS", "SOURCES",
]

PROTOCOL_SUBJECT = "subject-wise"
PROTOCOL_EPOCH = "epoch-level"

#: Where each ``source`` key comes from.
SOURCES: dict[str, str] = {
    "EEG-VLM": "EEG-VLM: A Hierarchical Vision-Language Model with Multi-Level Feature Alignment and "
               "Visually Enhanced Language-Guided Reasoning for EEG Image-Based Sleep Stage Prediction, "
               "arXiv 2511.19155 (Table I, Table II, Sec. IV.E)",
    "PSG-LLaVA": "PSG-LLaVA: sleep staging by fine-tuning LLaVA-NeXT on PSG waveform images "
                 "(ISRUC, MASS, SHHS; Table 1, Fig. 3, Sec. 3.2 protocol)",
    "SleePyCo": "Lee et al., SleePyCo: automatic sleep scoring with feature pyramid and contrastive "
                "learning, Expert Systems with Applications 2024",
    "L-SeqSleepNet": "Phan et al., L-SeqSleepNet: whole-cycle long sequence modelling for automatic sleep "
                     "staging, IEEE J. Biomed. Health Inform. 2023",
    "TinySleepNet": "Supratak & Guo, TinySleepNet: an efficient deep learning model for sleep stage scoring "
                    "based on raw single-channel EEG, IEEE EMBC 2020",
    "SleepVLM": "SleepVLM (Qwen2.5-VL-3B with LoRA on PSG images), MASS-SS1 figures as reported by its authors",
    "AASM ISR": "Rosenberg & Van Hout, The American Academy of Sleep Medicine inter-scorer reliability "
                "program: sleep stage scoring, J. Clin. Sleep Med. 2013; Danker-Hopfe et al., "
                "J. Sleep Res. 2009",
}

_EEG_VLM_PROTOCOL = "not stated (likely epoch-level, class-balanced)"
_PSG_LLAVA_PROTOCOL = "8:2 split of the sample set, 5 seeds; subject independence not stated"


@dataclass(frozen=True)
class PublishedRow:
    """One published result.

    Attributes
    ----------
    system : str
        Model name as the source prints it.
    dataset : str
        Dataset (and channel/setting) the figure is on.
    protocol : str
        Evaluation protocol as the source states it (``subject-wise``, ``LOSO`` ...).
    printed : dict
        Metric name -> the figure exactly as the source prints it (``"0.80"`` keeps its
        digits). Names: ``accuracy``, ``macro_f1``, ``kappa``, ``balanced_accuracy``,
        ``weighted_f1``, ``f1_<stage>``. :attr:`metrics` gives them as floats.
    source : str
        Key of :data:`SOURCES`, plus the table/figure.
    group : str
        Row group in the source table (``Image based``, ``Ours`` ...), or ``""``.
    fusion, cot : str or None
        Ablation settings (fusion mode, chain-of-thought variant) where the source fixes them.
    """

    system: str
    dataset: str
    protocol: str
    printed: dict[str, str]
    source: str
    group: str = ""
    fusion: str | None = None
    cot: str | None = None
    note: str = field(default="")

    def __post_init__(self) -> None:
        for k, v in self.printed.items():
            if not isinstance(v, str) or not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"published row {self.system!r}: {k} must be a printed figure in [0, 1], got {v!r}")

    @property
    def metrics(self) -> dict[str, float]:
        """The printed figures as floats."""
        return {k: float(v) for k, v in self.printed.items()}


#: EEG-VLM Table I (headline row) on Sleep-EDFx (Fpz-Cz images), LLaVA-1.5-13B.
EEG_VLM_MAIN: tuple[PublishedRow, ...] = (
    PublishedRow("EEG-VLM (LLaVA-1.5-13B)", "Sleep-EDFx (Fpz-Cz)", _EEG_VLM_PROTOCOL,
                 {"accuracy": "0.811", "macro_f1": "0.816", "kappa": "0.763", "f1_N1": "0.811", "f1_REM": "0.787"},
                 "EEG-VLM, Table I", fusion="add", cot="stagewise",
                 note="per-class F1 printed only for N1 and REM"),
)

#: EEG-VLM ablation figures (accuracy only is quoted); settings the source does not fix are None.
EEG_VLM_ABLATION: tuple[PublishedRow, ...] = (
    PublishedRow("Raw Hf embedding", "Sleep-EDFx (Fpz-Cz)", _EEG_VLM_PROTOCOL, {"accuracy": "0.264"},
                 "EEG-VLM, Table II", fusion="raw", note="CoT setting not stated"),
    PublishedRow("Patch-aligned fusion", "Sleep-EDFx (Fpz-Cz)", _EEG_VLM_PROTOCOL, {"accuracy": "0.784"},
                 "EEG-VLM, Table II", fusion="add", note="CoT setting not stated"),
    PublishedRow("With CoT reasoning", "Sleep-EDFx (Fpz-Cz)", _EEG_VLM_PROTOCOL, {"accuracy": "0.792"},
                 "EEG-VLM, Sec. IV.E", cot="stagewise", note="fusion setting not stated"),
    PublishedRow("Without CoT reasoning", "Sleep-EDFx (Fpz-Cz)", _EEG_VLM_PROTOCOL, {"accuracy": "0.728"},
                 "EEG-VLM, Sec. IV.E", cot="none", note="fusion setting not stated"),
    PublishedRow("Full model (Table I)", "Sleep-EDFx (Fpz-Cz)", _EEG_VLM_PROTOCOL,
                 {"accuracy": "0.811", "macro_f1": "0.816", "kappa": "0.763"}, "EEG-VLM, Table I",
                 fusion="add", cot="stagewise"),
)

#: Dataset column groups of PSG-LLaVA Table 1, in order.
PSG_LLAVA_DATASETS: tuple[str, ...] = ("ISRUC", "MASS", "SHHS")

# Table 1 of PSG-LLaVA, as printed: group | model | ISRUC, MASS, SHHS x (Acc, B-Acc, Kappa, W-F1).
_T1_TEXT = """
Image based | ConvNext | 0.7558 0.7150 0.6815 0.7496 0.7761 0.6828 0.6616 0.7687 0.8074 0.7016 0.7300 0.8043
Image based | MaxViT | 0.7875 0.7500 0.7231 0.7839 0.8281 0.7504 0.7436 0.8222 0.8474 0.7474 0.7863 0.8447
Image based | Resnet101 | 0.7940 0.7528 0.7310 0.7907 0.8510 0.7959 0.7802 0.8482 0.8562 0.7574 0.7984 0.8535
Image based | Resnet152 | 0.7958 0.7528 0.7330 0.7894 0.8475 0.7813 0.7718 0.8446 0.8590 0.7602 0.8023 0.8564
Image based | Swin-ViT | 0.7551 0.7009 0.6779 0.7458 0.8007 0.7061 0.6985 0.7896 0.7734 0.6355 0.6769 0.7613
Image based | ViM | 0.7759 0.7280 0.7064 0.7700 0.8118 0.7386 0.7197 0.8079 0.8382 0.7364 0.7738 0.8354
Image based | ViT | 0.7022 0.6517 0.6108 0.6966 0.7710 0.6677 0.6533 0.7605 0.7348 0.6026 0.6228 0.7233
Signal based | MultiSleepNet | 0.7169 0.6554 0.6278 0.7032 0.8079 0.7360 0.7178 0.8003 0.7815 0.7033 0.7014 0.7778
Signal based | TinySleepNet | 0.7896 0.7553 0.7422 0.7890 0.8321 0.7860 0.7741 0.8360 0.8584 0.7245 0.7996 0.8511
Signal based | SleepWaveNet | 0.7765 0.7121 0.6924 0.7128 0.8012 0.7293 0.7061 0.7161 0.8102 0.6971 0.7203 0.6927
Foundation | LaBraM | 0.7917 0.7503 0.7279 0.7886 0.8565 0.7965 0.7864 0.8544 0.8219 0.7216 0.7525 0.8207
Foundation | CBraMod | 0.8384 0.7891 0.7889 0.8290 0.8806 0.8065 0.8216 0.8720 0.8751 0.7613 0.8258 0.8714
Ours | PSG-LLaVA | 0.8596 0.8301 0.8172 0.8588 0.8879 0.8393 0.8337 0.8865 0.8782 0.7815 0.8291 0.8754
"""
# Figure 3 of PSG-LLaVA: CLIP vision encoder with a classification head (Acc, B-Acc, Kappa, W-F1).
_FIG3_CLIP = {"ISRUC": ("0.770", "0.754", "0.704", "0.776"), "MASS": ("0.813", "0.718", "0.715", "0.799"),
              "SHHS": ("0.813", "0.692", "0.738", "0.805")}
_T1_KEYS = ("accuracy", "balanced_accuracy", "kappa", "weighted_f1")


def _table1() -> tuple[PublishedRow, ...]:
    rows = []
    for line in _T1_TEXT.strip().splitlines():
        group, model, figures = (x.strip() for x in line.split("|"))
        values = figures.split()
        for i, ds in enumerate(PSG_LLAVA_DATASETS):
            rows.append(PublishedRow(model, ds, _PSG_LLAVA_PROTOCOL, dict(zip(_T1_KEYS, values[4 * i:4 * i + 4])),
                                     "PSG-LLaVA, Table 1", group=group))
    for ds in PSG_LLAVA_DATASETS:
        rows.append(PublishedRow("CLIP (vision encoder)", ds, _PSG_LLAVA_PROTOCOL,
                                 dict(zip(_T1_KEYS, _FIG3_CLIP[ds])), "PSG-LLaVA, Fig. 3", group="Ablation"))
    return tuple(rows)


#: PSG-LLaVA Table 1, one row per (model, dataset), plus the Fig. 3 CLIP-only rows.
PSG_LLAVA_TABLE1: tuple[PublishedRow, ...] = _table1()

#: Reference figures of the field (EEG-VLM and PSG-LLaVA rows live above), each under its paper.
FIELD_ANCHORS: tuple[PublishedRow, ...] = (
    PublishedRow("SleePyCo", "Sleep-EDF-20", PROTOCOL_SUBJECT,
                 {"accuracy": "0.868", "macro_f1": "0.812", "kappa": "0.820"}, "SleePyCo"),
    PublishedRow("SleePyCo", "Sleep-EDF-78", PROTOCOL_SUBJECT,
                 {"accuracy": "0.846", "macro_f1": "0.790", "kappa": "0.787"}, "SleePyCo"),
    PublishedRow("L-SeqSleepNet (SHHS-pretrained)", "Sleep-EDF-20", "subject-wise (LOSO)",
                 {"accuracy": "0.886", "macro_f1": "0.829", "kappa": "0.845"}, "L-SeqSleepNet"),
    PublishedRow("TinySleepNet", "Sleep-EDF-20", "not stated in the figures quoted here",
                 {"accuracy": "0.854", "macro_f1": "0.805", "kappa": "0.80"}, "TinySleepNet"),
    PublishedRow("TinySleepNet", "Sleep-EDF-78", "not stated in the figures quoted here",
                 {"accuracy": "0.831", "macro_f1": "0.781", "kappa": "0.77"}, "TinySleepNet"),
    PublishedRow("SleepVLM (Qwen2.5-VL-3B LoRA)", "MASS-SS1", "not stated in the figures quoted here",
                 {"accuracy": "0.835", "macro_f1": "0.793", "kappa": "0.767"}, "SleepVLM"),
    PublishedRow("Human scorers (inter-scorer)", "AASM ISR / Danker-Hopfe 2009", "inter-scorer agreement",
                 {"accuracy": "0.826", "kappa": "0.76"}, "AASM ISR",
                 note="accuracy column is the percentage agreement between scorers"),
)
