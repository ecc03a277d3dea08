"""Evaluation: ``model_vqa`` answers a question file; label scoring ranks fixed answers.

Modules are imported on demand (``llava.eval.model_vqa``, ``llava.eval.questions``,
``llava.eval.label_scoring``) so that importing the package stays cheap.
"""

__all__: list[str] = []
