"""Label scoring vs generation: time to answer the same questions with the same model.

    python scripts/bench_label_scoring.py [--questions 16] [--max-new-tokens 128] [--batch-size 8]
    python scripts/bench_label_scoring.py --model-path CKPT --model-base BASE \\
        --question-file Q.jsonl --image-folder IMG      # a real checkpoint and data

Without a checkpoint it builds the tiny base (llava.model.tiny) and synthetic EEG-VLM
questions (2-image entries plus [N,1,1024] features) in a temporary folder. Both modes go
through ``model_vqa.eval_model`` with the model loaded once, so the figures cover the
whole answering path (image loading, preprocessing, CLIP, the language model, writing).
Prints seconds per question for each mode (wall-clock and CPU time of the process, best of
interleaved repeats) and the speed-ups, with and without the vision tower: the tiny base's
CLIP tower keeps the real width (1024) while its language model is 64 wide, so on it the
vision tower dominates both modes far more than on LLaVA-1.5-13B.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from llava.eeg_features import write_sidecar  # noqa: E402
from llava.eval import model_vqa  # noqa: E402
from llava.eval.questions import read_questions  # noqa: E402

STAGES = ("W", "N1", "N2", "N3", "REM")
QUESTION = ("This is a 30-second EEG epoch (Fpz-Cz). Which sleep stage (W, N1, N2, N3, REM) does it "
            "show? Describe the waveforms step by step, then give the final answer.")


def synthetic_questions(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """``n`` EEG-VLM questions with noise images and random features; returns (questions, images)."""
    rng = np.random.default_rng(seed)
    images = folder / "eeg_images_eval"
    images.mkdir(parents=True, exist_ok=True)
    qfile = folder / "eeg_eval.jsonl"
    ids = []
    with qfile.open("w") as fh:
        for i in range(n):
            sid = f"SYN0001/{i:06d}"
            rel = f"SYN0001/{i:06d}.png"
            (images / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (336, 336, 3), dtype=np.uint8)).save(images / rel)
            fh.write(json.dumps({"question_id": sid, "sample_id": sid, "image": [rel, rel],
                                 "text": QUESTION, "stage": STAGES[i % 5]}) + "\n")
            ids.append(sid)
    feats = folder / "eval_high_level_features.npy"
    np.save(feats, rng.standard_normal((n, 1, 1024)).astype(np.float32))
    write_sidecar(feats, ids)
    return qfile, images


def vision_pass(session, questions, args, batch_size: int) -> None:
    """Run the vision tower alone over the questions' images, ``batch_size`` at a time."""
    from llava.mm_utils import load_image, process_images, resolve_image_path

    pixels = torch.cat([
        process_images([load_image(resolve_image_path(args.image_folder, q.images[0]))], session.image_processor,
                       session.model.config)
        for q in questions if q.images
    ]).to(session.device, session.dtype)
    with torch.inference_mode():
        for i in range(0, len(pixels), batch_size):
            session.model.encode_images(pixels[i:i + batch_size])


@contextlib.contextmanager
def _clock(into: list):
    """Append ``(wall seconds, CPU seconds of this process)`` of the block to ``into``."""
    w0, c0 = time.perf_counter(), time.process_time()
    yield
    into.append((time.perf_counter() - w0, time.process_time() - c0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-path", default=None, help="checkpoint (default: build the tiny base)")
    p.add_argument("--model-base", default=None)
    p.add_argument("--question-file", default=None, help="default: synthetic questions")
    p.add_argument("--image-folder", default="")
    p.add_argument("--questions", type=int, default=16, help="number of synthetic questions (a --question-file is answered whole)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="generation length (upstream default 128)")
    p.add_argument("--batch-size", type=int, default=8, help="questions per label-scoring pass")
    p.add_argument("--score-template", default="{label}")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each measurement (best kept)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_path = args.model_path
        if model_path is None:
            from llava.model.tiny import build_tiny_base

            model_path = str(build_tiny_base(tmp / "tiny_base"))
        qfile, images = (Path(args.question_file), args.image_folder) if args.question_file else synthetic_questions(tmp, args.questions)
        common = ["--model-path", model_path, "--question-file", str(qfile), "--image-folder", str(images),
                  "--device", args.device, "--overwrite"]
        if args.model_base:
            common += ["--model-base", args.model_base]
        gen_args = model_vqa.parse_args(common + ["--answers-file", str(tmp / "gen.jsonl"), "--temperature", "0",
                                                  "--max_new_tokens", str(args.max_new_tokens)])
        score_args = model_vqa.parse_args(common + ["--answers-file", str(tmp / "score.jsonl"),
                                                    "--score-labels", ",".join(STAGES),
                                                    "--score-template", args.score_template,
                                                    "--batch-size", str(args.batch_size)])
        questions = read_questions(qfile)
        t0 = time.perf_counter()
        session = model_vqa.load_session(gen_args)
        load_s = time.perf_counter() - t0

        # warm-up (first-call allocations, lazy inits) on a throwaway answers file
        warm = model_vqa.parse_args(common + ["--answers-file", str(tmp / "warm.jsonl"), "--score-labels", ",".join(STAGES)])
        model_vqa.eval_model(warm, session)

        # interleaved repeats, best of each kept; wall-clock and this process's CPU time (the
        # latter barely moves when other jobs share the cores)
        runs: dict[str, list[tuple[float, float]]] = {"gen": [], "score": [], "vis1": [], "visb": []}
        for _ in range(args.repeats):
            with _clock(runs["gen"]):
                n_gen = model_vqa.eval_model(gen_args, session)["answered"]
            with _clock(runs["score"]):
                n_score = model_vqa.eval_model(score_args, session)["answered"]
            with _clock(runs["vis1"]):
                vision_pass(session, questions, gen_args, 1)
            with _clock(runs["visb"]):
                vision_pass(session, questions, gen_args, args.batch_size)
        gen_lines = [json.loads(x) for x in (tmp / "gen.jsonl").read_text().splitlines()]
        chars = [len(x["text"]) for x in gen_lines]

    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in runs.items()}
    per = {k: (w / n_gen, c / n_gen) for k, (w, c) in best.items()}
    print(f"device: {session.device}, torch threads: {torch.get_num_threads()}, model: {model_path}")
    print(f"model load: {load_s:.2f} s; questions: {n_gen} (and {n_score}); best of {args.repeats} interleaved repeats")
    print("per question:               wall s     CPU s")
    print(f"generation                 {per['gen'][0]:7.3f}   {per['gen'][1]:7.3f}   "
          f"(greedy, max_new_tokens {args.max_new_tokens}, mean answer {np.mean(chars):.0f} characters)")
    print(f"label scoring              {per['score'][0]:7.3f}   {per['score'][1]:7.3f}   "
          f"(5 candidates, batch {args.batch_size}, template {args.score_template!r})")
    print(f"vision tower, batch 1      {per['vis1'][0]:7.3f}   {per['vis1'][1]:7.3f}   (the same work in both modes)")
    print(f"vision tower, batch {args.batch_size:<2d}     {per['visb'][0]:7.3f}   {per['visb'][1]:7.3f}")
    print(f"speed-up, whole answering path: {per['gen'][0] / per['score'][0]:.1f}x wall, "
          f"{per['gen'][1] / per['score'][1]:.1f}x CPU")
    lang_gen, lang_score = per["gen"][1] - per["vis1"][1], per["score"][1] - per["visb"][1]
    if lang_score > 0:
        print(f"speed-up without the vision tower (CPU time): generation {lang_gen:.3f} s, label scoring "
              f"{lang_score:.3f} s per question -> {lang_gen / lang_score:.1f}x")
    else:
        print("speed-up without the vision tower: below the timing noise; raise --repeats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
