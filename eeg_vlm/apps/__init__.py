"""Applications over the pipeline: whole-night staging and the demo."""
