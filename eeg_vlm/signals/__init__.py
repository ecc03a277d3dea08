"""From a read recording to 30-s epochs: labels, resampling and per-epoch scaling."""
