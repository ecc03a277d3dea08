"""A tiny LLaVA-1.5 base checkpoint, in upstream format, built from configs alone.

``build_tiny_base(DIR)`` writes, in a few seconds and without any download::

    DIR/config.json                 model_type "llava", mm_* fields, mm_vision_tower -> DIR/clip_vision_tower
    DIR/model.safetensors           Llama weights under model.* + lm_head + model.mm_projector.* (no CLIP)
       (or pytorch_model-0000k-of-0000n.bin + pytorch_model.bin.index.json with shard_bin=True)
    DIR/generation_config.json
    DIR/tokenizer.model             sentencepiece BPE trained on the spot (byte fallback)
    DIR/tokenizer_config.json, DIR/special_tokens_map.json
    DIR/clip_vision_tower/          CLIPVisionModel (336 px, patch 14 -> 576 patches, width 1024)
                                    + preprocessor_config.json (resize 336, crop 336)

The CLIP width is 1024, as CLIP ViT-L/14-336, so ``[N, 1, 1024]`` EEG features pass through
the shared projector exactly as with the real tower. Like upstream, ``<image>`` is not in
the vocabulary: prompts are split on it and ``IMAGE_TOKEN_INDEX`` is spliced in
(:func:`llava.mm_utils.tokenizer_image_token`).

Variants (:class:`TinySpec`): ``TinySpec.next("mistral")`` / ``TinySpec.next("llama3")`` is
a tiny LLaVA-NeXT (anyres with the llava-v1.6 grid scaled to the tower's image size,
``spatial_unpad``, a learned ``image_newline``) on a Mistral (model type ``llava_mistral``,
sentencepiece tokenizer) or Llama-3 (model type ``llava_llama``, grouped-query attention,
rope theta 500000, byte-level BPE ``tokenizer.json`` with the Llama-3 header tokens)
decoder. ``clip_hidden_size`` sets the tower width, which is also ``mm_hidden_size`` and
the EEG feature width (64 makes a much faster tiny model; features are then ``[N, 1, 64]``).

Command line: ``python -m llava.model.tiny --out DIR [--seed 0] [--bin] [--language-model
mistral|llama3] [--next] [--clip-width 64]``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..utils import check_option

logger = logging.getLogger(__name__)

__all__ = ["TinySpec", "build_tiny_base", "train_tiny_tokenizer", "train_tiny_llama3_tokenizer", "TOKENIZER_TEXT",
           "LANGUAGE_MODELS", "main"]

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

#: Text the tiny tokenizer is trained on: the conversation templates, the stage names and
#: chain-of-thought wording, so prompts and answers tokenise into real pieces.
TOKENIZER_TEXT = """\
A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.
A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.
USER: <image>
<image>
What is the sleep stage of this 30-second EEG epoch? ASSISTANT: The sleep stage is N2.</s>
USER: Which sleep stage does this EEG image show? Answer with one of W, N1, N2, N3, REM. ASSISTANT: REM</s>
Human: Classify the sleep stage. Assistant: W
Sleep stages: W (wake), N1, N2, N3 (slow wave sleep), REM (rapid eye movement sleep).
Step 1: Check for alpha rhythm (8-12 Hz) over the occipital channels: it indicates wakefulness (W).
Step 2: Look for low-amplitude mixed-frequency (LAMF) activity with theta waves (4-7 Hz): this suggests N1.
Step 3: Look for sleep spindles (11-16 Hz) and K-complexes: these are the hallmarks of N2.
Step 4: Check whether slow waves (0.5-2 Hz, amplitude above 75 uV) occupy more than 20% of the epoch: that is N3.
Step 5: Rapid eye movements with low chin EMG and sawtooth waves point to REM.
The epoch shows vertex sharp waves, no spindles and no K-complexes, so the stage is N1, not N2.
The image shows high-amplitude delta activity across the whole epoch; therefore the answer is N3.
Eye movements are present, muscle tone is low and the background is LAMF, therefore the stage is REM.
Alpha waves dominate with eye blinks and high muscle activity, so this epoch is scored as W.
Reasoning: first describe the waveforms, then compare the candidate stages, then give the final answer.
Final answer: W. Final answer: N1. Final answer: N2. Final answer: N3. Final answer: REM.
The EEG channel Fpz-Cz, the EOG horizontal channel and the EMG submental channel are shown in the image.
0 1 2 3 4 5 6 7 8 9 10 20 30 50 75 100 Hz uV seconds epoch image feature
"""


#: Extra tokenizer text for the Mistral variant (its [INST] template).
MISTRAL_TEXT = "[INST] Which sleep stage does this EEG image show? [/INST] The sleep stage is N2.</s>\n"
#: Llama-3 special tokens of the tiny byte-level tokenizer (ids 0-4 there).
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
LANGUAGE_MODELS = ("llama", "mistral", "llama3")


@dataclass
class TinySpec:
    """Sizes of the tiny base (defaults: Llama 64 wide, 2 layers; CLIP 1024 wide, 2 layers; LLaVA-1.5)."""

    hidden_size: int = field(default=64, metadata={"help": "Llama width"})
    num_hidden_layers: int = field(default=2, metadata={"help": "Llama layers"})
    num_attention_heads: int = field(default=4, metadata={"help": "Llama heads"})
    intermediate_size: int = field(default=128, metadata={"help": "Llama MLP width"})
    max_position_embeddings: int = field(default=4096, metadata={"help": "Llama context"})
    vocab_size: int = field(default=512, metadata={"help": "tokenizer vocabulary requested"})
    clip_hidden_size: int = field(default=1024, metadata={"help": "CLIP width = mm_hidden_size = EEG feature width"})
    clip_layers: int = field(default=2, metadata={"help": "CLIP encoder layers"})
    clip_heads: int = field(default=4, metadata={"help": "CLIP heads"})
    clip_intermediate_size: int = field(default=256, metadata={"help": "CLIP MLP width"})
    image_size: int = field(default=336, metadata={"help": "input pixels per side"})
    patch_size: int = field(default=14, metadata={"help": "ViT patch size (336/14 -> 576 patches)"})
    mm_projector_type: str = field(default="mlp2x_gelu", metadata={"help": "projector type"})
    eeg_fusion: str = field(default="add", metadata={"help": "EEG-VLM fusion mode"})
    language_model: str = field(default="llama", metadata={"help": "decoder: llama (Vicuna), mistral, llama3"})
    num_key_value_heads: int | None = field(default=None, metadata={"help": "KV heads (None: all)"})
    image_aspect_ratio: str = field(default="pad", metadata={"help": "pad (LLaVA-1.5) or anyres (NeXT)"})
    mm_patch_merge_type: str = field(default="flat", metadata={"help": "flat, spatial or spatial_unpad"})
    image_grid_pinpoints: list | None = field(default=None, metadata={"help": "anyres [[w, h], ...] px"})
    model_max_length: int = field(default=2048, metadata={"help": "tokenizer_model_max_length (NeXT: 4096)"})
    lm_head_scale: float = field(default=8.0, metadata={"help": (
        "multiplier on the random lm_head. At width 64 its rows have norm ~0.16, so logits can differ "
        "by ~2 at most and no adapter can express an answer (LoRA leaves lm_head frozen); pretrained "
        "language models have no such limit, and x8 mimics their logit range")})


    def __post_init__(self) -> None:
        check_option("language_model", self.language_model, LANGUAGE_MODELS, where="TinySpec")
        if self.clip_hidden_size % self.clip_heads:
            raise ValueError(f"TinySpec: clip_hidden_size {self.clip_hidden_size} is not a multiple of "
                             f"clip_heads {self.clip_heads}")

    @classmethod
    def next(cls, language_model: str = "mistral", **overrides: Any) -> TinySpec:
        """A tiny LLaVA-NeXT: anyres (llava-v1.6 grid in tiles), spatial_unpad, GQA."""
        s = overrides.get("image_size", 336)
        grid = [[s, 2 * s], [2 * s, s], [2 * s, 2 * s], [3 * s, s], [s, 3 * s]]
        values = {"language_model": language_model, "num_key_value_heads": 2, "image_aspect_ratio": "anyres",
                  "mm_patch_merge_type": "spatial_unpad", "image_grid_pinpoints": grid, "model_max_length": 4096,
                  **overrides}
        return cls(**values)


def train_tiny_tokenizer(out_dir: str | Path, vocab_size: int = 512, text: str = TOKENIZER_TEXT) -> Path:
    """Train a sentencepiece BPE tokenizer (Llama layout) and write ``out_dir/tokenizer.model``.

    Ids 0/1/2 are ``<unk>``/``<s>``/``</s>``; no pad piece (the pad token falls back to
    unk); byte fallback so any text encodes. Also writes ``tokenizer_config.json`` and
    ``special_tokens_map.json`` as in upstream LLaVA-1.5 checkpoints.
    """
    import sentencepiece as spm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([line for line in text.splitlines() if line.strip()] * 4),
        model_writer=buffer, model_type="bpe", vocab_size=int(vocab_size), hard_vocab_limit=False,
        byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True, num_threads=1,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    model_file = out_dir / "tokenizer.model"
    model_file.write_bytes(buffer.getvalue())
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    tok_config = {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False,
                  "clean_up_tokenization_spaces": False, "legacy": False, "model_max_length": 2048,
                  "pad_token": None, "padding_side": "right", **special}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))
    return model_file


def train_tiny_llama3_tokenizer(out_dir: str | Path, vocab_size: int = 512, text: str = TOKENIZER_TEXT) -> Path:
    """Train a byte-level BPE ``tokenizer.json`` with the Llama-3 special tokens in ``out_dir``.

    ``<|begin_of_text|>`` is prepended to every encoding (as Llama-3's); eos is ``<|eot_id|>``
    (Llama-3-Instruct's end of turn); there is no unk and no pad token.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), special_tokens=LLAMA3_SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([line for line in text.splitlines() if line.strip()] * 4, trainer)
    bos = LLAMA3_SPECIAL[0]
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                       special_tokens=[(bos, tok.token_to_id(bos))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token="<|eot_id|>",
                                   additional_special_tokens=LLAMA3_SPECIAL[1:4], model_max_length=2048,
                                   padding_side="right", clean_up_tokenization_spaces=False)
    fast.save_pretrained(str(out_dir))
    return out_dir / "tokenizer.json"


def _write_tokenizer(out_dir: Path, spec: TinySpec) -> tuple[int, dict[str, int]]:
    """The variant's tokenizer in ``out_dir``: (vocabulary size, bos/eos ids)."""
    if spec.language_model == "llama3":
        from transformers import PreTrainedTokenizerFast

        train_tiny_llama3_tokenizer(out_dir, spec.vocab_size)
        tok = PreTrainedTokenizerFast.from_pretrained(str(out_dir))
        return len(tok), {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    import sentencepiece as spm

    text = TOKENIZER_TEXT + (MISTRAL_TEXT if spec.language_model == "mistral" else "")
    train_tiny_tokenizer(out_dir, spec.vocab_size, text=text)
    vocab = spm.SentencePieceProcessor(model_file=str(out_dir / "tokenizer.model")).get_piece_size()
    return vocab, {"bos_token_id": 1, "eos_token_id": 2}


def _llava_config(spec: TinySpec, vocab: int, special: dict[str, int], tower_dir: Path) -> Any:
    """The variant's LLaVA config (Llama / Mistral / Llama-3 sizes + the multimodal fields)."""
    from .configuration_llava import LlavaConfig, LlavaMistralConfig

    # the padding id training uses (unk for Llama/Mistral as in llava-v1.5's config.json, eos
    # for Llama-3), written into the config so that nothing is "aligned" with a warning later
    pad = special["eos_token_id"] if spec.language_model == "llama3" else 0
    kwargs: dict[str, Any] = dict(
        vocab_size=vocab, hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers, num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads or spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings, pad_token_id=pad, tie_word_embeddings=False,
        mm_vision_tower=str(tower_dir), mm_hidden_size=spec.clip_hidden_size,
        mm_projector_type=spec.mm_projector_type, mm_vision_select_layer=-2, mm_vision_select_feature="patch",
        mm_patch_merge_type=spec.mm_patch_merge_type, image_aspect_ratio=spec.image_aspect_ratio,
        image_grid_pinpoints=spec.image_grid_pinpoints, mm_use_im_start_end=False,
        mm_use_im_patch_token=False, tune_mm_mlp_adapter=False, freeze_mm_mlp_adapter=False, use_mm_proj=True,
        tokenizer_padding_side="right", tokenizer_model_max_length=spec.model_max_length, eeg_fusion=spec.eeg_fusion,
        eeg_feature_dim=spec.clip_hidden_size, dtype="float32", **special)
    if spec.language_model == "mistral":
        return LlavaMistralConfig(**kwargs, sliding_window=None, rope_parameters={
            "rope_type": "default", "rope_theta": 1e6}, architectures=["LlavaMistralForCausalLM"])
    if spec.language_model == "llama3":
        kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": 500000.0}
    return LlavaConfig(**kwargs, architectures=["LlavaLlamaForCausalLM"])


#: config.json model_type written per variant, as the published checkpoints say.
_SAVED_TYPE = {"llama": "llava", "mistral": "llava_mistral", "llama3": "llava_llama"}


def _write_clip_tower(out_dir: Path, spec: TinySpec) -> Path:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = CLIPVisionConfig(hidden_size=spec.clip_hidden_size, intermediate_size=spec.clip_intermediate_size,
                           num_hidden_layers=spec.clip_layers, num_attention_heads=spec.clip_heads,
                           image_size=spec.image_size, patch_size=spec.patch_size, projection_dim=spec.clip_hidden_size)
    CLIPVisionModel(cfg).save_pretrained(out_dir)
    processor = {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": spec.image_size},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": spec.image_size, "width": spec.image_size},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": CLIP_MEAN,
        "image_std": CLIP_STD, "do_convert_rgb": True}
    (out_dir / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return out_dir


def _write_bin_shards(state: dict[str, torch.Tensor], out_dir: Path, n_shards: int) -> None:
    names = sorted(state)
    n_shards = max(1, min(n_shards, len(names)))
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(n_shards):
        fname = f"pytorch_model-{i + 1:05d}-of-{n_shards:05d}.bin"
        part = {k: state[k].contiguous().clone() for k in names[i::n_shards]}
        torch.save(part, out_dir / fname)
        weight_map.update(dict.fromkeys(part, fname))
        total += sum(v.numel() * v.element_size() for v in part.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out_dir / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=2))


def build_tiny_base(out_dir: str | Path, seed: int = 0, spec: TinySpec | None = None,
                    shard_bin: bool = False, n_bin_shards: int = 2) -> Path:
    """Write a tiny upstream-format LLaVA-1.5 base folder and return its path.

    Parameters
    ----------
    out_dir : str or Path
        Folder to create (its files are overwritten).
    seed : int
        Seeds the weight initialisation: the same seed gives the same weights.
    spec : TinySpec, optional
        Sizes; the defaults keep a forward with two 336 px images well under a second.
    shard_bin : bool
        Write pickled ``pytorch_model-*.bin`` shards + index (as the released LLaVA-1.5
        checkpoints) instead of ``model.safetensors``.
    n_bin_shards : int
        Number of ``.bin`` shards when ``shard_bin``.
    """
    from safetensors.torch import save_file

    from .builder import causal_lm_class
    from .modeling_llava import VISION_TOWER_PREFIX

    spec = spec or TinySpec()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab, special = _write_tokenizer(out_dir, spec)

    torch.manual_seed(seed)
    tower_dir = _write_clip_tower(out_dir / "clip_vision_tower", spec)
    config = _llava_config(spec, vocab, special, tower_dir)
    torch.manual_seed(seed)
    model = causal_lm_class(config)(config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(VISION_TOWER_PREFIX)}
    state["lm_head.weight"] = state["lm_head.weight"] * spec.lm_head_scale

    for stale in list(out_dir.glob("pytorch_model*.bin*")) + list(out_dir.glob("model*.safetensors*")):
        stale.unlink()
    if shard_bin:
        _write_bin_shards(state, out_dir, n_bin_shards)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(out_dir / "model.safetensors"),
                  metadata={"format": "pt"})

    data = config.to_dict()
    data["model_type"] = _SAVED_TYPE[spec.language_model]  # as the published checkpoints
    (out_dir / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True))
    generation = {**special, "pad_token_id": config.pad_token_id}
    (out_dir / "generation_config.json").write_text(json.dumps(generation, indent=2))
    logger.info("tiny LLaVA base written to %s (vocab %d, %d params without CLIP)", out_dir, vocab,
                sum(v.numel() for v in state.values()))
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m llava.model.tiny --out DIR``: write a tiny base folder."""
    from llava.utils import name_cpu_accelerator

    name_cpu_accelerator()
    parser = argparse.ArgumentParser(prog="python -m llava.model.tiny", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    parser.add_argument("--bin", action="store_true", help="pickled .bin shards instead of safetensors")
    parser.add_argument("--eeg-fusion", default="add", choices=["none", "raw", "add"], help="config.eeg_fusion")
    parser.add_argument("--language-model", default="llama", choices=list(LANGUAGE_MODELS),
                        help="decoder: llama (LLaVA-1.5 / Vicuna), mistral, llama3")
    parser.add_argument("--next", action="store_true", help="LLaVA-NeXT: anyres tiles, spatial_unpad, newline row")
    parser.add_argument("--clip-width", type=int, default=1024,
                        help="CLIP width = mm_hidden_size = EEG feature width (64: a much faster tiny model)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    values = {"eeg_fusion": args.eeg_fusion, "language_model": args.language_model, "clip_hidden_size": args.clip_width}
    spec = TinySpec.next(**values) if args.next else TinySpec(**values)
    out = build_tiny_base(args.out, seed=args.seed, spec=spec, shard_bin=args.bin)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
