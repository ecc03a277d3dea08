"""Check every training sample's files before the first step, in one pass.

Without this, a missing image or a path that leaves ``--image_folder`` is found only when
the sampler draws that sample (a crash at step 2, or after hours). :func:`check_samples`
visits every sample once and reports all bad ones in one ``ValueError``:

- each image path is inside the image folder (:func:`llava.mm_utils.resolve_image_path`:
  no absolute paths, no ``..``, no symbolic link out of it), the placeholder included;
- the first image of each sample (the one that is loaded) is an existing, non-empty file;
- the number of ``<image>`` tags matches the image list (one tag per entry);
- with a features file: every row a sample uses is finite (the row count and the sidecar's
  ids are checked when the :class:`llava.eeg_features.FeatureStore` is opened).

Cost: one ``stat`` per image and one pass over the used feature rows (read in blocks of
4,096 rows from the memory map); no image is decoded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.mm_utils import resolve_image_path
from ondisk.features import non_finite_rows

logger = logging.getLogger(__name__)

__all__ = ["sample_problems", "feature_problems", "check_samples"]

#: Problems listed in the error before "... and N more".
MAX_LISTED = 20


def _tag_count(sample: dict) -> int:
    return sum(str(t.get("value", "")).count(DEFAULT_IMAGE_TOKEN) for t in sample["conversations"])


def sample_problems(sample: dict, image_folder: str | None, n_tags: int) -> list[str]:
    """What is wrong with one sample's files and tags (empty when nothing)."""
    sid = sample["id"]
    problems = []
    for k, rel in enumerate(sample["images"]):
        try:
            path = resolve_image_path(image_folder or ".", rel, f"sample {sid!r}")
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if k == 0:
            if not path.is_file():
                problems.append(f"sample {sid!r}: image {str(path)!r} not found")
            elif path.stat().st_size == 0:
                problems.append(f"sample {sid!r}: image {str(path)!r} is empty")
    tags = _tag_count(sample)
    if tags < n_tags or (n_tags == 0 and tags):
        problems.append(f"sample {sid!r}: {tags} <image> tag(s) for {len(sample['images'])} image(s)")
    return problems


def feature_problems(features: Any, rows: Sequence[int], sample_ids: Sequence[str]) -> list[tuple[int, str]]:
    """``(row, problem)`` for the feature rows among ``rows`` holding NaN or infinite values."""
    return [(row, f"sample {sample_ids[row]!r}: features file {str(features.path)!r} row {row} holds NaN or "
                  "infinite values") for row in non_finite_rows(features.array, rows)]


def check_samples(samples: Sequence[dict], data_path: str | Path, image_folder: str | None,
                  n_tags: Any, features: Any = None) -> None:
    """Raise one ``ValueError`` listing every bad sample of ``data_path`` (see the module doc).

    ``n_tags(sample)`` is how many ``<image>`` tags the sample must carry; ``features`` is the
    opened feature store or None. Samples with two tags use their feature row.
    """
    start = time.perf_counter()
    problems: list[str] = []
    bad: set[int] = set()
    used_rows: list[int] = []
    for i, sample in enumerate(samples):
        tags = n_tags(sample)
        found = sample_problems(sample, image_folder, tags)
        if found:
            bad.add(i)
        problems.extend(found)
        if tags == 2 and features is not None:
            used_rows.append(i)
    if features is not None and used_rows:
        found = feature_problems(features, used_rows, [s["id"] for s in samples])
        bad.update(row for row, _ in found)
        problems.extend(text for _, text in found)
    logger.info("checked the files of %d samples in %.1f s", len(samples), time.perf_counter() - start)
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f"; ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise ValueError(f"data file {str(data_path)!r}: {len(bad)} of {len(samples)} samples have bad files or "
                         f"tags, found before training: {listed}{more}")
