"""EEG-VLM: sleep staging from polysomnography images with a LLaVA-1.5 fork."""

__version__ = "0.1.0"

__all__ = ["__version__"]
