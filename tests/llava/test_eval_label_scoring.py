import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from llava.conversation import get_conv_template
from llava.eval.label_scoring import (
    answer_joiner,
    candidate_ids_after,
    candidate_probabilities,
    make_candidates,
    prefix_embeddings,
    score_candidates,
)


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def lm(request):
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, attn_implementation=request.param)
    return LlamaForCausalLM(cfg).eval()


def _loglik_one_by_one(model, prompt, cand):
    """Sum of log p(candidate token | everything before), from one plain forward."""
    ids = torch.cat([prompt, torch.tensor(cand)])[None]
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), -1)
    n = len(prompt)
    return sum(float(logp[n - 1 + j, t]) for j, t in enumerate(cand))


@pytest.mark.parametrize("one_pass", [None, False])
def test_batched_scores_equal_one_by_one(lm, one_pass):
    torch.manual_seed(1)
    prompts = [torch.randint(3, 300, (n,)) for n in (7, 15, 9, 1)]  # different lengths: padding
    cands = [[5], [6, 7], [8, 9, 10], [11, 12, 13, 14]]  # different lengths too
    embeds, mask = prefix_embeddings(lm, prompts)
    scores = score_candidates(lm, embeds, mask, [cands] * len(prompts), one_pass=one_pass)
    ref = torch.tensor([[_loglik_one_by_one(lm, p, c) for c in cands] for p in prompts], dtype=torch.float64)
    assert scores.shape == (4, 4)
    torch.testing.assert_close(scores.double(), ref, atol=1e-4, rtol=1e-5)
    mean = score_candidates(lm, embeds, mask, [cands] * len(prompts), reduction="mean", one_pass=one_pass)
    torch.testing.assert_close(mean.double(), ref / torch.tensor([1.0, 2, 3, 4], dtype=torch.float64), atol=1e-4, rtol=1e-5)


def test_candidates_differing_per_prompt(lm):
    prompts = [torch.randint(3, 300, (n,)) for n in (4, 8)]
    cands = [[[5, 6], [7]], [[8], [9, 10, 11]]]  # tokenised differently after each prompt
    embeds, mask = prefix_embeddings(lm, prompts)
    for one_pass in (True, False):
        scores = score_candidates(lm, embeds, mask, cands, one_pass=one_pass)
        ref = torch.tensor([[_loglik_one_by_one(lm, p, c) for c in cs] for p, cs in zip(prompts, cands)], dtype=torch.float64)
        torch.testing.assert_close(scores.double(), ref, atol=1e-4, rtol=1e-5)


def test_single_token_candidates_skip_second_pass(lm):
    prompts = [torch.randint(3, 300, (6,)) for _ in range(2)]
    cands = [[20], [21], [22]]
    embeds, mask = prefix_embeddings(lm, prompts)
    scores = score_candidates(lm, embeds, mask, [cands, cands])
    ref = torch.tensor([[_loglik_one_by_one(lm, p, c) for c in cands] for p in prompts], dtype=torch.float64)
    torch.testing.assert_close(scores.double(), ref, atol=1e-4, rtol=1e-5)


def test_probabilities_are_a_distribution_with_the_same_argmax(lm):
    torch.manual_seed(2)
    prompts = [torch.randint(3, 300, (10,)) for _ in range(3)]
    cands = [[30, 31], [32], [33, 34, 35], [36], [37, 38]]
    embeds, mask = prefix_embeddings(lm, prompts)
    probs = candidate_probabilities(score_candidates(lm, embeds, mask, [cands] * 3))
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert bool((probs > 0).all())
    ref = torch.tensor([[_loglik_one_by_one(lm, p, c) for c in cands] for p in prompts], dtype=torch.float64)
    assert probs.argmax(-1).tolist() == ref.argmax(-1).tolist()
    torch.testing.assert_close(probs.double(), torch.softmax(ref, -1), atol=1e-4, rtol=1e-4)


def test_bad_reduction_and_ragged_candidates(lm):
    embeds, mask = prefix_embeddings(lm, [torch.tensor([4, 5, 6])])
    with pytest.raises(ValueError, match=r"Allowed values are 'sum', 'mean', but got 'max'"):
        score_candidates(lm, embeds, mask, [[[1], [2]]], reduction="max")
    with pytest.raises(ValueError, match=r"1 prompts but candidates for 2"):
        score_candidates(lm, embeds, mask, [[[1], [2]], [[1], [2]]])


def test_make_candidates():
    c = make_candidates("W, N1,N2,N3,REM", "Sleep stage: {label}")
    assert c.labels == ("W", "N1", "N2", "N3", "REM")
    assert c.texts[4] == "Sleep stage: REM"
    assert make_candidates(["A", "B"]).texts == ("A", "B")
    with pytest.raises(ValueError, match=r"must contain '\{label\}'"):
        make_candidates("W,N1", "Sleep stage")
    with pytest.raises(ValueError, match=r"labels must be distinct"):
        make_candidates("W,W")
    with pytest.raises(ValueError, match=r"at least two non-empty labels"):
        make_candidates("W,")
    with pytest.raises(ValueError, match=r"bad candidate template"):
        make_candidates("W,N1", "{label} {other}")


@pytest.mark.parametrize("mode, joiner", [("llava_v1", " "), ("v1", " "), ("plain", "")])
def test_answer_joiner_from_the_template(mode, joiner):
    assert answer_joiner(get_conv_template(mode)) == joiner


def test_candidate_ids_after():
    assert candidate_ids_after([1, 2, 3], [1, 2, 3, 9, 8], "N2") == [9, 8]
    with pytest.raises(ValueError, match=r"candidate 'N2' changes the tokenization of the prompt's end"):
        candidate_ids_after([1, 2, 3], [1, 2, 4, 9], "N2")
    with pytest.raises(ValueError, match=r"candidate 'W' adds no token"):
        candidate_ids_after([1, 2], [1, 2], "W")


def test_scoring_passes_the_cache_under_the_decoders_own_name(lm):
    import warnings

    prompts = [torch.randint(3, 300, (6,)) for _ in range(2)]
    embeds, mask = prefix_embeddings(lm, prompts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # a deprecated cache keyword would raise here
        for one_pass in (True, False):
            score_candidates(lm, embeds, mask, [[[5, 6], [7, 8, 9]]] * 2, one_pass=one_pass)
