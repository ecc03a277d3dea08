"""LLaVA at the papers' shapes with random weights: one LoRA step, evaluation throughput, memory, fusion cost.

Shapes (built from configs, nothing downloaded; random weights):

- ``13b``: Vicuna-13B (5120 wide, 40 layers, 40 heads, MLP 13824, vocab 32000) + CLIP
  ViT-L/14-336 (1024 wide, 24 layers, 16 heads, MLP 4096; 576 patches) — EEG-VLM's model;
- ``7b``: the 7B Llama shapes (4096, 32 layers, 32 heads, MLP 11008) + the same CLIP;
- ``tiny``: the project's tiny LLaVA (2 layers, 64 wide; CLIP 2 layers at 336/14).

Measured, each with fusion ``add`` (two slots, 1,152 visual tokens) and ``none`` (576):

- one LoRA training step (the seed's r=128/alpha=256 on every language-model Linear, batch
  16 by default, gradient checkpointing, bf16 on CUDA; ``--zero 2|3`` through DeepSpeed on
  CUDA), seconds per step and peak memory;
- evaluation throughput in questions/s: label scoring (the five stages ranked after one
  prompt pass, :mod:`llava.eval.label_scoring`) vs generating ``--new-tokens`` tokens (a
  rationale's length).

The real shapes need CUDA (a 13B model in bf16 is 26 GB); on a machine without it only
``tiny`` runs, and the script says so. The same code builds and runs every shape.

    python scripts/bench_scale.py                       # tiny, CPU
    python scripts/bench_scale.py --shapes 13b --zero 3 # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = {
    "tiny": {},
    "7b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, intermediate_size=11008,
               clip_hidden_size=1024, clip_layers=24, clip_heads=16, clip_intermediate_size=4096),
    "13b": dict(hidden_size=5120, num_hidden_layers=40, num_attention_heads=40, intermediate_size=13824,
                clip_hidden_size=1024, clip_layers=24, clip_heads=16, clip_intermediate_size=4096),
}


def build(shape: str, device, dtype, folder: Path):
    """``(model, spec)``: the LLaVA of ``shape`` with random weights on ``device``."""
    import torch

    from llava.model.builder import causal_lm_class
    from llava.model.tiny import TinySpec, _llava_config, _write_clip_tower

    spec = TinySpec(**SHAPES[shape])
    tower = _write_clip_tower(folder / "clip", spec)
    vocab = 32000 if shape != "tiny" else 512
    config = _llava_config(spec, vocab, {"bos_token_id": 1, "eos_token_id": 2}, tower)
    torch.manual_seed(0)
    with torch.device(device):
        model = causal_lm_class(config)(config).to(dtype)
    model.get_model().get_vision_tower().load_model(dtype=dtype)
    model.get_model().get_vision_tower().to(device)
    return model, spec


def _batch(spec, batch: int, fusion: str, device, dtype, prompt: int = 48, answer: int = 16):
    """Random prompts with one or two ``<image>`` slots, images and features: ``(ids, labels, images, feats)``."""
    import torch

    from llava.constants import IMAGE_TOKEN_INDEX

    g = torch.Generator().manual_seed(0)
    tags = 2 if fusion != "none" else 1
    ids = torch.randint(3, 500, (batch, prompt + answer), generator=g)
    ids[:, 1:1 + tags] = IMAGE_TOKEN_INDEX
    labels = ids.clone()
    labels[:, :prompt] = -100
    images = torch.randn(batch, 3, spec.image_size, spec.image_size, generator=g).to(device, dtype)
    feats = torch.randn(batch, 1, spec.clip_hidden_size, generator=g).to(device, dtype) if tags == 2 else None
    return ids.to(device), labels.to(device), images, feats


def _peak(device) -> float:
    import torch

    if str(device).startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB of peak RSS (Linux: KiB)


def lora_step(model, spec, args, fusion: str, device, dtype) -> dict:
    """Seconds of one LoRA step (after a warm-up step) and peak memory."""
    import torch
    from peft import LoraConfig, get_peft_model

    from llava.train.train import lora_target_modules

    model.config.eeg_fusion = fusion
    peft_model = get_peft_model(model, LoraConfig(r=128, lora_alpha=256, target_modules=lora_target_modules(model),
                                                  lora_dropout=0.05, task_type="CAUSAL_LM"))
    peft_model.gradient_checkpointing_enable() if args.checkpointing else None
    params = [p for p in peft_model.parameters() if p.requires_grad]
    engine, opt = peft_model, torch.optim.AdamW(params, lr=3e-4)
    if args.zero:
        import deepspeed

        cfg = {"train_micro_batch_size_per_gpu": args.batch, "bf16": {"enabled": dtype == torch.bfloat16},
               "zero_optimization": {"stage": args.zero}, "gradient_clipping": 1.0}
        engine, opt, _, _ = deepspeed.initialize(model=peft_model, model_parameters=params, config=cfg)
    ids, labels, images, feats = _batch(spec, args.batch, fusion, device, dtype)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        loss = engine(input_ids=ids, labels=labels, images=images, eeg_features=feats).loss
        if args.zero:
            engine.backward(loss)
            engine.step()
        else:
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    result = {"step_s": times[-1], "peak_gib": _peak(device)}
    peft_model.unload()
    return result


def eval_throughput(model, spec, args, fusion: str, device, dtype) -> dict:
    """Questions/s: label scoring of 5 stages vs generating ``args.new_tokens`` tokens."""
    import torch

    from llava.eval.label_scoring import prefix_embeddings, score_candidates

    model.config.eeg_fusion = fusion
    model.eval()
    ids, _, images, feats = _batch(spec, args.eval_batch, fusion, device, dtype, answer=0)
    cands = [[[400 + k, 401] for k in range(5)]] * args.eval_batch
    out = {}
    with torch.inference_mode():
        for mode in ("label_scoring", "generate"):
            best = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                if mode == "label_scoring":
                    embeds, mask = prefix_embeddings(model, list(ids), images, None, feats)
                    score_candidates(model, embeds, mask, cands)
                else:
                    model.generate(inputs=ids, images=images, eeg_features=feats, max_new_tokens=args.new_tokens,
                                   min_new_tokens=args.new_tokens, do_sample=False, pad_token_id=0)
                if str(device).startswith("cuda"):
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            out[f"{mode}_q_per_s"] = args.eval_batch / best
    out["peak_gib"] = _peak(device)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["tiny"], choices=list(SHAPES), help="shapes to run (default tiny)")
    ap.add_argument("--batch", type=int, default=16, help="training batch (default: the seed's 16)")
    ap.add_argument("--eval-batch", type=int, default=4, help="questions per evaluation pass (default 4)")
    ap.add_argument("--new-tokens", type=int, default=256, help="tokens generated per question (default 256)")
    ap.add_argument("--zero", type=int, choices=(0, 2, 3), default=0, help="DeepSpeed ZeRO stage (CUDA only; 0: none)")
    ap.add_argument("--no-checkpointing", dest="checkpointing", action="store_false", help="no gradient checkpointing")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    where = torch.cuda.get_device_name(0) if cuda else f"CPU ({args.threads} thread(s)), no CUDA"
    results = {}
    for shape in args.shapes:
        if shape != "tiny" and not cuda:
            print(f"{shape}: skipped, needs CUDA (none on this machine); run it on a GPU machine")
            continue
        if args.zero and not cuda:
            print("--zero: skipped, DeepSpeed ZeRO is measured on CUDA only")
            args.zero = 0
        with tempfile.TemporaryDirectory() as tmp:
            model, spec = build(shape, device, dtype, Path(tmp))
            for fusion in ("add", "none"):
                step = lora_step(model, spec, args, fusion, device, dtype)
                ev = eval_throughput(model, spec, args, fusion, device, dtype)
                results[f"{shape}/{fusion}"] = {**step, **{k: v for k, v in ev.items() if k != "peak_gib"}}
                print(f"{shape} fusion={fusion} on {where}: LoRA step (batch {args.batch}, ZeRO-{args.zero or 'none'}, "
                      f"checkpointing {args.checkpointing}) {step['step_s']:.3f} s, peak {step['peak_gib']:.2f} GiB; "
                      f"label scoring {ev['label_scoring_q_per_s']:.2f} q/s, generating {args.new_tokens} tokens "
                      f"{ev['generate_q_per_s']:.3f} q/s ({ev['label_scoring_q_per_s'] / ev['generate_q_per_s']:.0f}x)",
                      flush=True)
            add, none = results.get(f"{shape}/add"), results.get(f"{shape}/none")
            if add and none:
                print(f"{shape}: fusion cost add vs none: step {add['step_s'] / none['step_s']:.2f}x, label scoring "
                      f"{none['label_scoring_q_per_s'] / add['label_scoring_q_per_s']:.2f}x slower")
            del model
    if args.json:
        args.json.write_text(json.dumps({"device": where, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
