"""Answer a question file with a LLaVA-1.5 / EEG-VLM checkpoint (upstream's ``model_vqa``).

    python llava/eval/model_vqa.py --model-path CKPT --model-base BASE \\
        --question-file sleep_data/eeg_eval.jsonl --image-folder sleep_data/eeg_images_eval \\
        --answers-file sleep_data/answers/eeg_answers.jsonl

Same flags and answer lines as upstream (``question_id, prompt, text, answer_id, model_id,
metadata``), plus:

- the EEG-VLM feature slot: ``--high-level-features`` (default
  ``eval_high_level_features.npy`` beside the question file), checked against the whole
  question file's sample ids; the row of a question is its line in the WHOLE file, so
  ``--num-chunks``/``--chunk-idx`` on several GPUs give the same answers as one process;
  ``--eeg-fusion`` overrides the checkpoint's fusion switch (``none`` = vanilla ablation);
- resume: answered questions already in ``--answers-file`` are skipped and a cut-off last
  line is redone (``--overwrite`` starts afresh);
- ``--score-labels W,N1,N2,N3,REM``: rank those answers by likelihood instead of
  generating (see :mod:`llava.eval.label_scoring`); the answer ``text`` is the best label
  and ``metadata`` gets ``probs`` and ``pred``.

``--model-path`` is required; the data flags default to the seed's ``sleep_data/`` layout.
An input error (missing or unreadable file, bad line, refused or missing image, bad flag)
ends the run with one line ``model_vqa.py: error: ...`` and status 1 (2 for bad flags),
without a traceback. bitsandbytes is loaded only for ``--load-4bit`` / ``--load-8bit``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    _ROOT = str(Path(__file__).resolve().parents[2])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import torch

from llava.eeg_features import FeatureStore, default_features_path
from llava.eval.label_scoring import (
    Candidates,
    answer_joiner,
    candidate_ids_after,
    candidate_probabilities,
    make_candidates,
    prefix_embeddings,
    score_candidates,
)
from llava.eval.prompting import build_prompt, count_image_tags, decode_new_tokens, question_with_tags, stop_string
from llava.eval.questions import AnswerWriter, Question, answer_record, read_answered, read_questions, select_chunk
from llava.eval.vqa_args import build_parser, changed_flags, eval_settings, parse_args

logger = logging.getLogger(__name__)

__all__ = [
    "build_parser", "parse_args", "eval_settings", "Session", "load_session", "checkpoint_fusion", "open_features",
    "answer_by_generation", "answer_by_label_scoring", "eval_model", "main",
]


@dataclass
class Session:
    """What answering needs: the loaded model and the checked feature store."""

    tokenizer: Any
    model: Any
    image_processor: Any
    model_id: str
    fusion: str | None = None
    features: FeatureStore | None = None

    def __post_init__(self) -> None:
        # one switch: the session's fusion is the model's (None = keep the checkpoint's)
        if self.fusion is None:
            self.fusion = getattr(self.model.config, "eeg_fusion", "add")
        self.model.config.eeg_fusion = self.fusion

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype images and features are fed in (the projector's)."""
        core = self.model.get_model() if hasattr(self.model, "get_model") else self.model
        proj = getattr(core, "mm_projector", None)
        if proj is not None:
            for param in proj.parameters():
                return param.dtype
        return self.model.dtype


def _resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def load_session(args: argparse.Namespace) -> Session:
    """Load the checkpoint with upstream's ``load_pretrained_model`` (features are opened per run)."""
    from llava.mm_utils import get_model_name_from_path
    from llava.model.builder import load_pretrained_model

    device = _resolve_device(args.device)
    model_path = str(Path(args.model_path).expanduser())
    model_name = get_model_name_from_path(model_path)
    tokenizer, model, image_processor, _ = load_pretrained_model(
        model_path, args.model_base, model_name, load_8bit=args.load_8bit, load_4bit=args.load_4bit,
        device_map="auto" if device == "cuda" else {"": device}, device=device,
    )
    model.eval()
    return Session(tokenizer, model, image_processor, model_name, args.eeg_fusion)


def checkpoint_fusion(model_path: str) -> str:
    """The fusion switch a checkpoint's ``config.json`` sets (``'add'`` when it sets none)."""
    from llava.model import load_llava_config

    return getattr(load_llava_config(Path(model_path).expanduser()), "eeg_fusion", "add")


def open_features(args: argparse.Namespace, questions: Sequence[Question], fusion: str) -> FeatureStore | None:
    """The features store when some question has a feature slot, checked against ALL questions."""
    if fusion == "none" or not any(len(q.images) == 2 for q in questions):
        return None
    path = Path(args.high_level_features) if args.high_level_features else default_features_path(args.question_file, "eval")
    if not path.is_file():
        raise FileNotFoundError(
            f"features file {str(path)!r}: not found; question file {str(args.question_file)!r} has 2-image "
            "(EEG-VLM) questions whose second slot needs features: pass --high-level-features, or "
            "--eeg-fusion none for the vanilla ablation"
        )
    return FeatureStore(path, [q.sample_id for q in questions], data_file=str(args.question_file))


def _check_images(questions: Sequence[Question], image_folder: str, question_file: str) -> None:
    """Before any model work: every image path stays inside the folder and every loaded image exists.

    All bad questions are listed in one error (the first 20).
    """
    from llava.mm_utils import resolve_image_path

    problems = []
    refused = False
    for q in questions:
        for k, rel in enumerate(q.images):
            try:
                path = Path(resolve_image_path(image_folder, rel, f"question {q.question_id!r}"))
            except ValueError as exc:
                problems.append(str(exc))
                refused = True
                continue
            if k == 0 and not path.is_file():
                problems.append(f"question {q.question_id!r}: image {str(path)!r} not found")
    if problems:
        more = f"; ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        error = ValueError if refused else FileNotFoundError
        raise error(f"question file {str(question_file)!r}: {len(problems)} bad image path(s): "
                    + "; ".join(problems[:20]) + more)


def _inputs(session: Session, q: Question, conv_mode: str, image_folder: str):
    """``(prompt, input_ids (L,), image | None, image_size | None, features (1,D) | None)``.

    The image is (3, H, W), or (1 + tiles, 3, H, W) for an anyres (LLaVA-NeXT) checkpoint;
    image_size is its (width, height).
    """
    from llava.mm_utils import load_image, process_images, resolve_image_path, tokenizer_image_token

    n_tags = count_image_tags(len(q.images), session.fusion)
    cfg = session.model.config
    prompt = build_prompt(question_with_tags(q.text, n_tags, bool(getattr(cfg, "mm_use_im_start_end", False))), conv_mode)
    ids = tokenizer_image_token(prompt, session.tokenizer, return_tensors="pt")
    image = size = feats = None
    if n_tags:
        img = load_image(resolve_image_path(image_folder, q.images[0]))
        image, size = process_images([img], session.image_processor, cfg)[0], img.size
    if n_tags == 2:
        if session.features is None:  # pragma: no cover - open_features guarantees it
            raise RuntimeError(f"question {q.question_id!r}: no features store for its feature slot")
        k = int(getattr(cfg, "eeg_context", 0) or 0)  # (2K + 1, D): the row, then its night's neighbours
        feats = torch.from_numpy(session.features.context_rows(q.index, k))
    return prompt, ids, image, size, feats


def _generation_config(args: argparse.Namespace, tokenizer):
    from transformers import GenerationConfig

    kw: dict[str, Any] = {"max_new_tokens": args.max_new_tokens, "num_beams": args.num_beams, "use_cache": True}
    if args.temperature > 0:
        kw.update(do_sample=True, temperature=args.temperature)
        if args.top_p is not None:
            kw["top_p"] = args.top_p
    else:
        kw["do_sample"] = False  # greedy: no sampling values at all (they fail validation)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return GenerationConfig(eos_token_id=eos, pad_token_id=pad, **kw)


def answer_by_generation(session: Session, questions: Sequence[Question], args: argparse.Namespace, writer: AnswerWriter, progress=None) -> None:
    """Generate an answer for each question and write it (one flushed line each)."""
    gen_cfg = _generation_config(args, session.tokenizer)
    stop = stop_string(args.conv_mode)
    extra: dict[str, Any] = {}
    if stop != session.tokenizer.eos_token:  # "</s>" is eos; other separators need string matching
        gen_cfg.stop_strings = [stop]
        extra["tokenizer"] = session.tokenizer
    device, dtype = session.device, session.dtype
    for q in questions:
        prompt, ids, image, size, feats = _inputs(session, q, args.conv_mode, args.image_folder)
        input_ids = ids.unsqueeze(0).to(device)
        kwargs: dict[str, Any] = {}
        if image is not None:
            kwargs.update(images=image.unsqueeze(0).to(device, dtype), image_sizes=[size])
        if feats is not None:
            kwargs["eeg_features"] = feats.unsqueeze(0).to(device, dtype)
        with torch.inference_mode():
            out = session.model.generate(input_ids, generation_config=gen_cfg, **kwargs, **extra)
        text = decode_new_tokens(session.tokenizer, out[0], input_ids[0], stop)
        writer.write(answer_record(q, prompt, text, session.model_id))
        if progress is not None:
            progress.update(1)


def _batches(questions: Sequence[Question], size: int, key):
    """Consecutive runs of at most ``size`` questions sharing ``key(q)``."""
    batch: list[Question] = []
    for q in questions:
        if batch and (len(batch) == size or key(batch[0]) != key(q)):
            yield batch
            batch = []
        batch.append(q)
    if batch:
        yield batch


def answer_by_label_scoring(session: Session, questions: Sequence[Question], args: argparse.Namespace, writer: AnswerWriter, progress=None) -> None:
    """Rank the candidate labels for each question (``--batch-size`` questions per pass)."""
    from llava.mm_utils import tokenizer_image_token

    cands: Candidates = make_candidates(args.score_labels, args.score_template)
    joiner = answer_joiner(_template(args.conv_mode))
    tok = session.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    device, dtype = session.device, session.dtype
    cache: dict[str, list[list[int]]] = {}
    for batch in _batches(questions, args.batch_size, key=lambda q: count_image_tags(len(q.images), session.fusion)):
        items = [_inputs(session, q, args.conv_mode, args.image_folder) for q in batch]
        cand_ids = []
        for prompt, ids, *_ in items:
            if prompt not in cache:
                plain = ids.tolist()
                cache[prompt] = [
                    candidate_ids_after(plain, tokenizer_image_token(prompt + joiner + text, tok), label)
                    for label, text in zip(cands.labels, cands.texts)
                ]
            cand_ids.append(cache[prompt])
        images = _batch_images([it[2] for it in items], device, dtype)
        feats = torch.stack([it[4] for it in items]).to(device, dtype) if items[0][4] is not None else None
        sizes = [it[3] for it in items] if images is not None else None
        with torch.inference_mode():
            embeds, mask = prefix_embeddings(session.model, [it[1] for it in items], images, sizes, feats, pad_id)
            scores = score_candidates(session.model, embeds, mask, cand_ids, args.score_reduction)
        probs = candidate_probabilities(scores).cpu()
        for q, (prompt, *_), p in zip(batch, items, probs):
            pred = cands.labels[int(p.argmax())]
            meta = {"probs": {lab: float(v) for lab, v in zip(cands.labels, p)}, "pred": pred}
            writer.write(answer_record(q, prompt, pred, session.model_id, meta))
        if progress is not None:
            progress.update(len(batch))


def _batch_images(images: list, device: torch.device, dtype: torch.dtype):
    """(B, 3, H, W) for single views; a list of (tiles, 3, H, W) for anyres (tile counts differ)."""
    if images[0] is None:
        return None
    if images[0].dim() == 4:
        return [im.to(device, dtype) for im in images]
    return torch.stack(images).to(device, dtype)


def _template(conv_mode: str):
    from llava.conversation import get_conv_template

    return get_conv_template(conv_mode)


def eval_model(args: argparse.Namespace, session: Session | None = None) -> dict[str, int]:
    """Answer this chunk's unanswered questions; returns counts (``answered``, ``skipped``, ``chunk``).

    ``session`` is loaded from ``args`` when not given (tests and benchmarks pass their own).
    """
    questions = read_questions(args.question_file)
    chunk = select_chunk(questions, args.num_chunks, args.chunk_idx)
    done = set() if args.overwrite else read_answered(args.answers_file)
    todo = [q for q in chunk if q.key not in done]
    logger.info(
        "questions: %d in %s, %d in chunk %d/%d, %d already answered, %d to do",
        len(questions), args.question_file, len(chunk), args.chunk_idx, args.num_chunks, len(chunk) - len(todo), len(todo),
    )
    if not todo and not args.overwrite:
        return {"answered": 0, "skipped": len(chunk), "chunk": len(chunk)}
    for q in todo:
        count_image_tags(len(q.images), "add")  # reject malformed image lists before loading anything
    _check_images(todo, args.image_folder, args.question_file)
    fusion = session.fusion if session is not None else (args.eeg_fusion or checkpoint_fusion(args.model_path))
    features = open_features(args, questions, fusion)  # checked before the (slow) model load
    if args.seed is not None:
        torch.manual_seed(args.seed)
    if session is None:
        session = load_session(args)
    session.features = features
    progress = _progress(len(todo))
    with AnswerWriter(args.answers_file, overwrite=args.overwrite) as writer:
        run = answer_by_label_scoring if args.score_labels else answer_by_generation
        try:
            run(session, todo, args, writer, progress)
        finally:
            if progress is not None:
                progress.close()
    return {"answered": writer.count, "skipped": len(chunk) - len(todo), "chunk": len(chunk)}


def _progress(total: int):
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="q", dynamic_ncols=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a.split("=")[0] in ("--load-4bit", "--load_4bit", "--load-8bit", "--load_8bit") for a in argv):
        from llava.utils import keep_bitsandbytes_unloaded

        keep_bitsandbytes_unloaded()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    logger.info("model_vqa: %s", changed_flags(args))
    counts = eval_model(args)
    print(f"answered {counts['answered']}, already answered {counts['skipped']}, chunk size {counts['chunk']} -> {args.answers_file}")
    return 0


if __name__ == "__main__":
    from llava.utils import run_cli

    sys.exit(run_cli(main, "model_vqa.py"))
