"""The converted dataset: ``manifest.csv``, subject-wise splits and synthetic nights."""
