"""The project's on-disk formats, each implemented once.

A leaf package: standard library and numpy only, nothing about sleep or models, so that
:mod:`eeg_vlm`, :mod:`feature_extractor` and :mod:`llava` can all import it without importing
each other.

- :mod:`ondisk.atomic`: atomic writes whose files get the modes ``open()`` gives under the
  user's umask.
- :mod:`ondisk.paths`: the one rule for joining a path read from a data file onto its folder.
- :mod:`ondisk.features`: the ``(N, 1, D)`` float32 features file, its ``.ids.json``
  sidecar, default names, memory-mapped loading and alignment checks.
- :mod:`ondisk.convert_json`: the ``convert.json`` beside a converted manifest.
- :mod:`ondisk.records`: ``eeg_eval.jsonl``, ``eeg_ft.json``, answers lines and
  ``manifest.csv`` readers and writers, with one set of required fields each.

Errors read ``<where>: <what> <problem>; <context>`` and name the file (and line or row).
"""

from ondisk.atomic import (
    atomic_path,
    atomic_write,
    replace_with_link,
    save_npy_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from ondisk.convert_json import CONVERT_JSON, read_convert_json
from ondisk.features import (
    EVAL_FEATURES_NAME,
    TRAIN_FEATURES_NAME,
    FeatureStore,
    check_alignment,
    default_features_path,
    load_features,
    read_sidecar,
    sidecar_path,
    write_ids_file,
    write_sidecar,
)
from ondisk.paths import UnsafePathError, check_relative, join_inside
from ondisk.records import (
    ANSWER_FIELDS,
    ANSWER_REQUIRED,
    EVAL_REQUIRED,
    FT_REQUIRED,
    MANIFEST_COLUMNS,
    read_answers,
    read_eval_questions,
    read_ft_json,
    read_jsonl,
    read_manifest_rows,
    read_text,
    write_answers_line,
    write_jsonl_atomic,
    write_manifest_rows,
)

__all__ = [
    "atomic_path", "atomic_write", "replace_with_link", "save_npy_atomic", "write_bytes_atomic", "write_json_atomic",
    "write_text_atomic",
    "UnsafePathError", "check_relative", "join_inside",
    "CONVERT_JSON", "read_convert_json",
    "TRAIN_FEATURES_NAME", "EVAL_FEATURES_NAME", "FeatureStore", "check_alignment", "default_features_path",
    "load_features", "read_sidecar", "sidecar_path", "write_ids_file", "write_sidecar",
    "ANSWER_FIELDS", "ANSWER_REQUIRED", "EVAL_REQUIRED", "FT_REQUIRED", "MANIFEST_COLUMNS",
    "read_answers", "read_eval_questions", "read_ft_json", "read_jsonl", "read_manifest_rows", "read_text",
    "write_answers_line", "write_jsonl_atomic", "write_manifest_rows",
]
