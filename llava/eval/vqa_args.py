"""The flags of ``llava/eval/model_vqa.py`` (upstream's spellings, ``_``/``-`` variants
accepted), their checks (every problem at once), and :func:`eval_settings` for callers in
Python. :mod:`llava.eval.model_vqa` re-exports these names."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from llava.constants import EEG_FUSION_MODES
from llava.eval.label_scoring import REDUCTIONS, make_candidates

__all__ = ["build_parser", "parse_args", "eval_settings", "changed_flags"]


def build_parser() -> argparse.ArgumentParser:
    """The command-line flags (upstream spellings; ``_``/``-`` variants accepted)."""
    p = argparse.ArgumentParser(prog="model_vqa.py", description="Answer a question file with a LLaVA-1.5 / LLaVA-NeXT / EEG-VLM checkpoint (upstream's model_vqa).")
    a = p.add_argument
    a("--model-path", "--model_path", required=True, help="checkpoint folder (a LoRA output folder needs --model-base)")
    a("--model-base", "--model_base", default=None, help="base checkpoint the LoRA/projector checkpoint was trained from")
    a("--image-folder", "--image_folder", default="sleep_data/eeg_images_eval",
      help="folder the questions' image paths are relative to (default: %(default)s)")
    a("--question-file", "--question_file", default="sleep_data/eeg_eval.jsonl",
      help="questions, one JSON object per line (default: %(default)s)")
    a("--answers-file", "--answers_file", default="sleep_data/answers/eeg_answers.jsonl",
      help="answers are appended here, one line per question (default: %(default)s)")
    a("--conv-mode", "--conv_mode", default="llava_v1", help="conversation template (llava/conversation.py)")
    a("--num-chunks", "--num_chunks", type=int, default=1, help="split the question file into this many chunks")
    a("--chunk-idx", "--chunk_idx", type=int, default=0, help="which chunk this process answers (0-based)")
    a("--temperature", type=float, default=0.2, help="sampling temperature; 0 = greedy")
    a("--top_p", "--top-p", type=float, default=None, help="nucleus sampling (only when temperature > 0)")
    a("--num_beams", "--num-beams", type=int, default=1, help="beam search width")
    a("--max_new_tokens", "--max-new-tokens", type=int, default=128, help="longest answer, in tokens")
    a("--load-8bit", "--load_8bit", action="store_true", help="load the language model in 8 bits (bitsandbytes)")
    a("--load-4bit", "--load_4bit", action="store_true", help="load the language model in 4 bits (bitsandbytes nf4)")
    a("--device", default="auto", help="'auto' (cuda when available, else cpu), 'cuda', 'cuda:1', 'cpu', ...")
    a("--seed", type=int, default=None, help="seed torch's generator (reproducible sampling)")
    eeg = p.add_argument_group("EEG-VLM")
    eeg.add_argument(
        "--high-level-features", "--high_level_features", default=None,
        help="[N,1,D] features of the question file's samples (default: eval_high_level_features.npy beside the question file)",
    )
    eeg.add_argument("--eeg-fusion", "--eeg_fusion", default=None, choices=EEG_FUSION_MODES, help="override the checkpoint's fusion switch")
    eeg.add_argument("--overwrite", action="store_true", help="start the answers file afresh instead of resuming it")
    sc = p.add_argument_group("label scoring (no generation)")
    sc.add_argument("--score-labels", "--score_labels", default=None, help="comma-separated answers to rank, e.g. W,N1,N2,N3,REM")
    sc.add_argument(
        "--score-template", "--score_template", default="{label}",
        help="text scored for each label, e.g. 'Sleep stage: {label}' (default: the label itself)",
    )
    sc.add_argument("--score-reduction", "--score_reduction", default="sum", choices=REDUCTIONS, help="sum (total log-likelihood) or mean per token")
    sc.add_argument("--batch-size", "--batch_size", type=int, default=8, help="questions per forward pass in label scoring")
    return p


def _problems(args: argparse.Namespace) -> list[str]:
    """Every contradiction or bad value among the settings, one phrase each."""
    problems = []
    if args.num_chunks < 1:
        problems.append(f"--num-chunks must be >= 1, got {args.num_chunks}")
    elif not 0 <= args.chunk_idx < args.num_chunks:
        problems.append(f"--chunk-idx must be in 0..{args.num_chunks - 1}, got {args.chunk_idx}")
    if args.temperature < 0:
        problems.append(f"--temperature must be >= 0, got {args.temperature}")
    if args.num_beams < 1 or args.max_new_tokens < 1 or args.batch_size < 1:
        problems.append("--num_beams, --max_new_tokens and --batch-size must be >= 1")
    if args.load_4bit and args.load_8bit:
        problems.append("--load-4bit and --load-8bit exclude each other")
    if args.score_labels is not None:
        try:
            make_candidates(args.score_labels, args.score_template)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def _require_quantization(args: argparse.Namespace) -> None:
    if args.load_4bit or args.load_8bit:
        from llava.utils import require

        require("bitsandbytes", "--load-4bit" if args.load_4bit else "--load-8bit")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the flags (all problems reported at once)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    problems = _problems(args)
    if problems:
        parser.error("; ".join(problems))
    _require_quantization(args)
    return args


def eval_settings(model_path: str, **values) -> argparse.Namespace:
    """The settings :func:`eval_model` reads, for callers in Python: the flags' defaults with
    ``values`` (keyword = the flag's ``dest``, e.g. ``question_file``) put over them, checked
    as the command line is.

    Raises
    ------
    ValueError
        An unknown setting (named) or a bad value (all problems at once).
    """
    args = build_parser().parse_args(["--model-path", str(model_path)])
    unknown = sorted(set(values) - set(vars(args)))
    if unknown:
        raise ValueError(f"model_vqa: unknown setting(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(sorted(vars(args)))}")
    for key, value in values.items():
        setattr(args, key, value)
    problems = _problems(args)
    if problems:
        raise ValueError("model_vqa: " + "; ".join(problems))
    _require_quantization(args)
    return args


def changed_flags(args: argparse.Namespace) -> str:
    """The flags that differ from their defaults, ``--name value`` each."""
    defaults = vars(build_parser().parse_args(["--model-path", args.model_path]))
    return " ".join(f"--{k} {v}" for k, v in vars(args).items() if defaults.get(k) != v or k == "model_path")
