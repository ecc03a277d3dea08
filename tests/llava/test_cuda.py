"""CUDA paths: the tiny LLaVA in bf16 and label scoring on the GPU agree with float32 on CPU.

Marked ``gpu``: skipped without CUDA, run on any machine that has it (``pytest -m gpu``).
"""

from __future__ import annotations

import pytest
import torch

from llava.eval.label_scoring import candidate_probabilities, prefix_embeddings, score_candidates
from llava.mm_utils import tokenizer_image_token
from llava.model.builder import load_pretrained_model

pytestmark = pytest.mark.gpu

PROMPT = "USER: <image>\n<image>\nWhich sleep stage is this epoch? ASSISTANT:"


def _inputs(width: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 336, 336, generator=g), torch.randn(2, 1, width, generator=g)


@pytest.fixture(scope="module")
def pair(tiny_base):
    """The same tiny base as float32 on CPU and bf16 on CUDA."""
    tok, cpu, _, _ = load_pretrained_model(str(tiny_base), None, None, device="cpu")
    _, gpu, _, _ = load_pretrained_model(str(tiny_base), None, None, device="cuda", dtype=torch.bfloat16)
    for m in (cpu, gpu):
        m.config.eeg_fusion = "add"
    return tok, cpu.eval(), gpu.eval()


def test_bf16_forward_on_cuda_matches_float32_on_cpu(pair):
    tok, cpu, gpu = pair
    ids = tokenizer_image_token(PROMPT, tok, return_tensors="pt")[None].repeat(2, 1)
    images, feats = _inputs(cpu.config.mm_hidden_size)
    with torch.no_grad():
        ref = cpu(input_ids=ids, images=images, eeg_features=feats).logits.float()
        out = gpu(input_ids=ids.cuda(), images=images.cuda().bfloat16(),
                  eeg_features=feats.cuda().bfloat16()).logits.float().cpu()
    assert out.shape == ref.shape and torch.isfinite(out).all()
    # bf16 keeps 8 bits of mantissa: compare the next-token distributions, not raw logits
    p_ref, p_out = torch.softmax(ref[:, -1], -1), torch.softmax(out[:, -1], -1)
    assert (p_ref - p_out).abs().max() < 0.02
    assert torch.equal(ref[:, -1].argmax(-1), out[:, -1].argmax(-1))


def test_label_scoring_on_cuda_bf16_agrees_with_cpu(pair):
    tok, cpu, gpu = pair
    torch.manual_seed(0)
    prompts = [torch.randint(3, cpu.config.vocab_size, (n,)) for n in (9, 5, 13)]
    cands = [[5], [6, 7], [8, 9, 10], [11], [12, 13]]
    lm_cpu, lm_gpu = cpu, gpu
    embeds, mask = prefix_embeddings(lm_cpu, prompts)
    ref = candidate_probabilities(score_candidates(lm_cpu, embeds, mask, [cands] * 3))
    g_embeds, g_mask = prefix_embeddings(lm_gpu, [p.cuda() for p in prompts])
    got = candidate_probabilities(score_candidates(lm_gpu, g_embeds, g_mask, [cands] * 3)).float().cpu()
    torch.testing.assert_close(got.sum(-1), torch.ones(3), atol=1e-3, rtol=0)
    assert (got - ref.float()).abs().max() < 0.03
