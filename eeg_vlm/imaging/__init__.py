"""From epochs to 336x336 waveform images: the rasteriser, ``eeg-vlm convert`` and the
channel-failure rebuild of PSG-LLaVA's robustness set."""
