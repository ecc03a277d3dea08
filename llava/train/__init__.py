"""Training of the LLaVA-1.5 fork: arguments, labels, dataset, collator, trainer, ``train()``.

``llava/train/train_mem.py`` is the entry point users run (``deepspeed
llava/train/train_mem.py ...`` or plain ``python``); the modules here stay importable
without DeepSpeed.
"""

__all__: list[str] = []
