"""The specialized vision module of EEG-VLM: train an image classifier on sleep-epoch images
and export its high-level features ``[N, 1, 1024]`` for the language model.

Standalone: it reads images and labels and writes checkpoints and ``.npy`` features; it
knows nothing about the language model. Entry points: ``python -m feature_extractor.train``
and ``python -m feature_extractor.extract``. New backbones plug in through
:func:`feature_extractor.registry.register_backbone`.
"""

from feature_extractor.registry import FeatureClassifier, build_backbone, list_backbones, register_backbone
from feature_extractor.stages import STAGES

__all__ = ["STAGES", "FeatureClassifier", "build_backbone", "list_backbones", "register_backbone"]
