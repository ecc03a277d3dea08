"""Find the recordings in a folder and pair each signal file with its scoring file.

Naming conventions recognised (searched recursively):

=========== ================================ =========================================
format      signal file                      scoring file
=========== ================================ =========================================
sleep-edf   ``SC4001E0-PSG.edf``             ``SC4001EC-Hypnogram.edf`` (same first 6
                                             characters)
shhs        ``shhs1-200001.edf``             ``shhs1-200001-nsrr.xml`` or
                                             ``shhs1-200001.xml`` (same stem)
isruc       ``1.rec``                        ``1_1.txt`` (scorer 1) or ``1_2.txt``
mass        ``01-03-0001 PSG.edf``           ``01-03-0001 Base.edf``
dreams      ``excerpt1.txt``                 ``Hypnogram_excerpt1.txt``
edf         any other ``.edf``/``.bdf``      embedded EDF+ annotations, or none
=========== ================================ =========================================

:class:`RecordingSource` is a small picklable description; ``.load()`` reads it, so a
process pool can receive sources and read in the workers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eeg_vlm.checks import check_option
from eeg_vlm.io.dreams import read_dreams
from eeg_vlm.io.edf import read_edf
from eeg_vlm.io.isruc import isruc_stage_path, read_isruc
from eeg_vlm.io.mass import mass_record_id, read_mass
from eeg_vlm.io.record import Recording
from eeg_vlm.io.shhs import read_shhs, shhs_identity
from eeg_vlm.io.sleep_edf import read_sleep_edf, sleep_edf_identity

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "RecordingSource", "find_recordings"]

#: Values of ``fmt`` accepted by :func:`find_recordings`.
FORMATS: tuple[str, ...] = ("auto", "sleep-edf", "shhs", "isruc", "mass", "dreams", "edf")


@dataclass(frozen=True)
class RecordingSource:
    """Where one recording lives and how to read it.

    Attributes
    ----------
    fmt : str
        One of ``'sleep-edf', 'shhs', 'isruc', 'mass', 'dreams', 'edf'``.
    record_id : str
        The night's id (``'SC4001E0'``), unique in the folder.
    paths : tuple of Path
        Signal file first, then the scoring file (absent for ``'edf'``).
    subject, night : str
        Identity, for subject-wise splits before anything is read.
    """

    fmt: str
    record_id: str
    paths: tuple[Path, ...]
    subject: str
    night: str = ""

    def load(self, channels: Sequence[str] | None = None, source_sfreq: float | None = None,
             source_rates: Mapping[str, float] | None = None, strict: bool = False) -> Recording:
        """Read the recording (only ``channels`` when given; DREAMS files hold one channel).

        ``source_rates`` (file name or stem -> Hz), then ``source_sfreq``, then the
        documented rate give the sampling rate of formats that do not store it (DREAMS
        text files); the other formats ignore them. ``strict`` refuses EDF files whose data
        holds more records than their header says (see :func:`eeg_vlm.io.read_edf`).
        """
        if self.fmt == "sleep-edf":
            return read_sleep_edf(self.paths[0], self.paths[1], channels=channels, strict=strict)
        if self.fmt == "shhs":
            return read_shhs(self.paths[0], self.paths[1], channels=channels, strict=strict)
        if self.fmt == "isruc":
            return read_isruc(self.paths[0], self.paths[1], channels=channels, strict=strict)
        if self.fmt == "mass":
            return read_mass(self.paths[0], self.paths[1], channels=channels, strict=strict)
        if self.fmt == "dreams":
            table = dict(source_rates or {})
            rate = next((float(table[k]) for k in (self.paths[0].name, self.paths[0].stem) if k in table),
                        source_sfreq)
            recording = read_dreams(self.paths[0], self.paths[1], sfreq=rate)
            for name in channels or ():
                recording.resolve_channel(name)  # a clear error for a channel it lacks
            return recording
        if self.fmt == "edf":
            return read_edf(self.paths[0], channels=channels, subject=self.subject, night=self.night,
                            record_id=self.record_id, strict=strict)
        raise ValueError(f"recording {self.record_id!r}: unknown format {self.fmt!r}")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _lower_suffix(p: Path) -> str:
    return p.suffix.lower()


def _sleep_edf(files: list[Path]) -> tuple[list[RecordingSource], set[Path]]:
    hyps: dict[tuple[Path, str], list[Path]] = {}
    for p in files:
        if p.name.lower().endswith("-hypnogram.edf"):
            hyps.setdefault((p.parent, p.name[:6]), []).append(p)
    out, used = [], set()
    for p in files:
        if not p.name.lower().endswith("-psg.edf"):
            continue
        matches = hyps.get((p.parent, p.name[:6]), [])
        if not matches:
            raise ValueError(
                f"folder {str(p.parent)!r}: PSG file {p.name!r} has no hypnogram; looked for "
                f"'{p.name[:6]}*-Hypnogram.edf' beside it"
            )
        if len(matches) > 1:
            raise ValueError(f"folder {str(p.parent)!r}: PSG file {p.name!r} matches several hypnograms: "
                             f"{', '.join(m.name for m in matches)}")
        record_id, subject, night = sleep_edf_identity(p)
        out.append(RecordingSource("sleep-edf", record_id, (p, matches[0]), subject, night))
        used.update({p, matches[0]})
    for group in hyps.values():
        for h in group:
            if h not in used:
                used.add(h)
                logger.warning("hypnogram %r has no PSG file beside it; skipped", str(h))
    return out, used


def _mass(files: list[Path]) -> tuple[list[RecordingSource], set[Path]]:
    out, used = [], set()
    for p in files:
        if not p.name.lower().endswith(" psg.edf"):
            continue
        base = p.with_name(p.name[: -len(" PSG.edf")] + " Base.edf")
        if not base.is_file():
            raise ValueError(f"folder {str(p.parent)!r}: MASS PSG file {p.name!r} has no annotations; looked for "
                             f"{base.name!r}")
        rid = mass_record_id(p)
        out.append(RecordingSource("mass", rid, (p, base), rid))
        used.update({p, base})
    used.update(p for p in files if p.name.lower().endswith(" base.edf"))
    return out, used


def _shhs(files: list[Path], strict: bool) -> tuple[list[RecordingSource], set[Path]]:
    xmls: dict[str, Path] = {}
    for p in files:
        if _lower_suffix(p) == ".xml":
            stem = p.stem[: -len("-nsrr")] if p.stem.lower().endswith("-nsrr") else p.stem
            xmls.setdefault(stem, p)
    out, used = [], set()
    for p in files:
        if _lower_suffix(p) != ".edf" or p.stem not in xmls:
            if strict and _lower_suffix(p) == ".edf":
                raise ValueError(f"folder {str(p.parent)!r}: EDF file {p.name!r} has no NSRR annotations; "
                                 f"looked for '{p.stem}-nsrr.xml' or '{p.stem}.xml' in {str(p.parent)!r} "
                                 "and below the searched folder")
            continue
        record_id, subject, night = shhs_identity(p)
        out.append(RecordingSource("shhs", record_id, (p, xmls[p.stem]), subject, night))
        used.update({p, xmls[p.stem]})
    return out, used


def _isruc(files: list[Path], scorer: int) -> tuple[list[RecordingSource], set[Path]]:
    out, used = [], set()
    for p in files:
        if _lower_suffix(p) != ".rec":
            continue
        txt = isruc_stage_path(p, scorer)
        if not txt.is_file():
            raise ValueError(f"folder {str(p.parent)!r}: ISRUC file {p.name!r} has no stage list; looked for "
                             f"{txt.name!r}")
        out.append(RecordingSource("isruc", p.stem, (p, txt), p.stem))
        used.update({p, txt})
    used.update(p for p in files if re.fullmatch(r".+_[12]\.txt", p.name) and p.with_name(
        p.name.rsplit("_", 1)[0] + ".rec").is_file())
    return out, used


def _dreams(files: list[Path]) -> tuple[list[RecordingSource], set[Path]]:
    out, used = [], set()
    for p in files:
        if not re.fullmatch(r"excerpt\d+\.txt", p.name, flags=re.IGNORECASE):
            continue
        hyp = p.with_name(f"Hypnogram_{p.name}")
        if not hyp.is_file():
            raise ValueError(f"folder {str(p.parent)!r}: DREAMS signal {p.name!r} has no hypnogram (needed for its "
                             f"sampling rate); looked for {hyp.name!r}")
        out.append(RecordingSource("dreams", p.stem, (p, hyp), p.stem))
        used.update({p, hyp})
    return out, used


def _plain_edf(files: list[Path], used: set[Path]) -> list[RecordingSource]:
    out = []
    for p in files:
        if p in used or _lower_suffix(p) not in (".edf", ".bdf"):
            continue
        if p.name.lower().endswith(("-hypnogram.edf", " base.edf")):
            continue
        rid = p.stem.replace("/", "_").lstrip(".") or "recording"
        out.append(RecordingSource("edf", rid, (p,), rid))
    return out


def find_recordings(folder: str | Path, fmt: str = "auto", isruc_scorer: int = 1) -> list[RecordingSource]:
    """List the recordings under ``folder``, each paired with its scoring file.

    Parameters
    ----------
    folder : str or Path
        Searched recursively (NSRR keeps EDFs and XMLs in sibling folders).
    fmt : str
        ``'auto'`` recognises every convention in the module table; a named format
        looks only for that one (``'edf'``: every ``.edf``/``.bdf``, scored by embedded
        annotations or unscored).
    isruc_scorer : {1, 2}
        Which ISRUC expert's stage list to pair with each ``.rec``.

    Returns
    -------
    list of RecordingSource
        Sorted by ``record_id``.

    Raises
    ------
    FileNotFoundError
        If ``folder`` is not a folder.
    ValueError
        If nothing is found (listing what was seen), a signal file lacks its scoring file
        (naming both the file and the name looked for), or two recordings share an id.
    """
    check_option("fmt", fmt, FORMATS, where="find_recordings")
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"folder {str(root)!r}: not found")
    files = _files(root)
    if not files:
        raise ValueError(f"folder {str(root)!r}: empty; no recordings to read")
    found: list[RecordingSource] = []
    used: set[Path] = set()
    # Paired formats in order; SHHS only looks at files no earlier format claimed.
    finders = {
        "sleep-edf": lambda: _sleep_edf(files),
        "mass": lambda: _mass(files),
        "isruc": lambda: _isruc(files, isruc_scorer),
        "dreams": lambda: _dreams(files),
        "shhs": lambda: _shhs([p for p in files if p not in used], strict=fmt == "shhs"),
    }
    for name, finder in finders.items():
        if fmt in ("auto", name):
            items, claimed = finder()
            found += items
            used |= claimed
    if fmt in ("auto", "edf"):
        found += _plain_edf(files, used if fmt == "auto" else set())
    if not found:
        seen = ", ".join(repr(p.name) for p in files[:8]) + (" ..." if len(files) > 8 else "")
        raise ValueError(f"folder {str(root)!r}: no {'' if fmt == 'auto' else fmt + ' '}recordings found "
                         f"among {len(files)} files ({seen})")
    by_id: dict[str, RecordingSource] = {}
    for src in found:
        if src.record_id in by_id:
            raise ValueError(f"folder {str(root)!r}: record id {src.record_id!r} appears twice: "
                             f"{str(by_id[src.record_id].paths[0])!r} and {str(src.paths[0])!r}")
        by_id[src.record_id] = src
    return [by_id[k] for k in sorted(by_id)]
