"""Signal models of PSG-LLaVA Table 1: sleep-staging networks and EEG foundation models on raw epochs.

They read the same converted dataset as the image models (``manifest.csv`` and
``signals/<record>.npy`` from ``eeg-vlm convert``), with the same splits and stages, so
their predictions compare with the image rows epoch for epoch:

- :mod:`signal_models.tinysleepnet`, :mod:`signal_models.multisleepnet`,
  :mod:`signal_models.sleepwavenet`: signal-based baselines;
- :mod:`signal_models.labram`, :mod:`signal_models.cbramod`: EEG foundation models with
  loaders for their released checkpoints (:mod:`signal_models.checkpoints`);
- :mod:`signal_models.registry`: what each model reads; :mod:`signal_models.train`:
  training with PSG-LLaVA Table 3 settings, predictions CSV, metrics.

Depends on torch, numpy and :mod:`feature_extractor`'s format helpers (presets, metrics,
predictions CSV); never on ``llava`` or ``eeg_vlm``.
"""

__all__ = ["data", "registry", "train", "checkpoints"]
