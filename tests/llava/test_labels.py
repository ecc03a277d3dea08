"""Labels from one tokenisation: exactly the assistant replies (+ eos) are learned."""

from __future__ import annotations

import pytest
import sentencepiece as spm
import torch
from transformers import LlamaTokenizer

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.train.labels import preprocess_conversation, tokenize_with_targets

CORPUS = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions.\n"
    "USER: What is the sleep stage of this epoch? ASSISTANT: Step 1: alpha rhythm is absent. "
    "Step 2: sleep spindles and K-complexes are present. Final answer: N2\n"
    "W N1 N2 N3 REM wake slow waves theta rapid eye movements caption image\n"
)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    (d / "c.txt").write_text(CORPUS * 30)
    spm.SentencePieceTrainer.train(
        input=str(d / "c.txt"), model_prefix=str(d / "sp"), vocab_size=400, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        minloglevel=2,
    )
    (d / "sp.model").rename(d / "tokenizer.model")
    t = LlamaTokenizer.from_pretrained(str(d), add_bos_token=True)
    t.padding_side = "right"
    return t


def learned_text(tok, sample) -> str:
    return tok.decode([t for t, l in zip(sample.input_ids, sample.labels) if l != IGNORE_INDEX])


def turns(*pairs, tags: int = 1):
    out = []
    for i, (q, a) in enumerate(pairs):
        q = ("<image>\n" * tags + q) if i == 0 and tags else q
        out += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    return out


@pytest.mark.parametrize("tags", [0, 1, 2])
def test_v1_single_turn_learns_reply_and_eos(tok, tags):
    reply = "Step 1: alpha rhythm is absent. Final answer: N2"
    s = preprocess_conversation(turns(("What is the sleep stage?", reply), tags=tags), tok, "v1", "S/1")
    assert len(s.input_ids) == len(s.labels)
    assert learned_text(tok, s) == reply + "</s>"
    assert s.input_ids.count(IMAGE_TOKEN_INDEX) == tags
    assert all(l == IGNORE_INDEX for t, l in zip(s.input_ids, s.labels) if t == IMAGE_TOKEN_INDEX)
    assert s.input_ids[0] == tok.bos_token_id and s.labels[0] == IGNORE_INDEX
    # the last token is the eos that closes the reply, and it is learned
    assert s.input_ids[-1] == tok.eos_token_id == s.labels[-1]


def test_v1_multi_turn_learns_every_reply(tok):
    replies = ["N3 with slow waves", "Final answer: REM"]
    s = preprocess_conversation(turns(("stage?", replies[0]), ("sure?", replies[1]), tags=2), tok, "v1", "S/2")
    # per-reply check: the learned tokens form exactly two contiguous runs
    runs, cur = [], []
    for t, l in zip(s.input_ids, s.labels):
        if l != IGNORE_INDEX:
            cur.append(t)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    assert [tok.decode(r) for r in runs] == [r + "</s>" for r in replies]
    # the user text and the role names are never learned
    masked = tok.decode([t for t, l in zip(s.input_ids, s.labels) if l == IGNORE_INDEX and t >= 0])
    assert "sure?" in masked and "ASSISTANT:" in masked and "curious user" in masked


def test_plain_learns_caption_and_newline(tok):
    s = preprocess_conversation(turns(("describe", "slow waves caption")), tok, "plain", "S/3")
    assert s.input_ids[:2] == [tok.bos_token_id, IMAGE_TOKEN_INDEX]
    assert learned_text(tok, s) == "slow waves caption\n"


def test_truncation_keeps_labels_aligned(tok):
    reply = "Step 1: alpha rhythm is absent. Step 2: sleep spindles and K-complexes are present. Final answer: N2"
    full = preprocess_conversation(turns(("stage?", reply), tags=2), tok, "v1", "S/4")
    n = len(full.input_ids) - 7
    cut = preprocess_conversation(turns(("stage?", reply), tags=2), tok, "v1", "S/4", max_length=n)
    assert cut.input_ids == full.input_ids[:n] and cut.labels == full.labels[:n]
    assert reply.startswith(learned_text(tok, cut)) and len(learned_text(tok, cut)) > 10


def test_truncation_through_an_image_tag_raises(tok):
    full = preprocess_conversation(turns(("q", "a"), tags=2), tok, "llava_v1", "S/5")
    first = full.input_ids.index(IMAGE_TOKEN_INDEX)
    with pytest.raises(ValueError, match=rf"sample 'S/5'.*model_max_length {first + 1} cuts 1 of the sample's image"):
        preprocess_conversation(turns(("q", "a"), tags=2), tok, "llava_v1", "S/5", max_length=first + 1)


def test_span_inside_a_token_raises_naming_the_sample(tok):
    prompt = "USER: hello ASSISTANT: answer</s>"
    s = prompt.index("answer") + 2  # a span starting in the middle of the word "answer"
    with pytest.raises(ValueError, match=r"sample 'SC4001E0/000007'.*crosses the boundary"):
        tokenize_with_targets(prompt, [(s, len(prompt))], tok, sample_id="SC4001E0/000007")


def test_alternation_error_names_sample(tok):
    bad = [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]
    with pytest.raises(ValueError, match=r"sample 'X/1': turn 1 is from 'human'"):
        preprocess_conversation(bad, tok, "v1", "X/1")


def test_slow_tokenizer_is_refused(tok):
    class Slow:
        is_fast = False

    with pytest.raises(TypeError, match="fast tokenizer"):
        tokenize_with_targets("x", [], Slow(), sample_id="Y")


def test_byte_level_bpe_tokenizer_also_exact():
    """A GPT-2-style byte-level BPE (different offset conventions) gives the same guarantee."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([CORPUS] * 20, trainers.BpeTrainer(vocab_size=350, special_tokens=["<s>", "</s>", "<unk>"],
                                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    t = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    reply = "Final answer: N3"
    s = preprocess_conversation(turns(("stage?", reply), ("again?", "N3"), tags=2), t, "v1", "B/1")
    runs = t.decode([x for x, l in zip(s.input_ids, s.labels) if l != IGNORE_INDEX])
    assert runs.replace(" ", "") == (reply + "</s>" + "N3</s>").replace(" ", "")
    assert torch.tensor(s.labels).ne(IGNORE_INDEX).sum() > 3


LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                  "<|im_start|>", "<|im_end|>"]


@pytest.fixture(scope="module")
def byte_bpe():
    """A Llama-3-like tokenizer: byte-level BPE, chat special tokens, BOS added by its post-processor."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([CORPUS] * 20, trainers.BpeTrainer(vocab_size=350, special_tokens=LLAMA3_SPECIAL,
                                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos = bpe.token_to_id("<|begin_of_text|>")
    bpe.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                   unk_token=None, additional_special_tokens=LLAMA3_SPECIAL[2:])


def learned_runs(tok, sample) -> list[str]:
    """The learned tokens as runs of consecutive positions, decoded (special tokens kept)."""
    runs, run = [], []
    for t, lab in zip(sample.input_ids, sample.labels):
        if lab != IGNORE_INDEX:
            run.append(t)
        elif run:
            runs.append(tok.decode(run)), run.clear()
    if run:
        runs.append(tok.decode(run))
    return runs


@pytest.mark.parametrize("version, stop", [("llava_llama_3", "<|eot_id|>"), ("chatml_direct", "<|im_end|>")])
def test_chat_templates_learn_replies_and_their_end_token_only(byte_bpe, version, stop):
    reply, second = "Final answer: N2", "N3"
    s = preprocess_conversation(turns(("What is the sleep stage?", reply), ("again?", second), tags=2),
                                byte_bpe, version, "L/1")
    assert learned_runs(byte_bpe, s) == [reply + stop, second + stop]
    assert s.input_ids[0] == byte_bpe.bos_token_id and s.labels[0] == IGNORE_INDEX
    assert s.input_ids.count(IMAGE_TOKEN_INDEX) == 2
    stop_id = byte_bpe.convert_tokens_to_ids(stop)
    assert s.input_ids[-1] == s.labels[-1] == stop_id  # the closing token is learned
    # every header / role token is masked: a learned token never belongs to the template's text
    header_ids = {byte_bpe.convert_tokens_to_ids(t) for t in ("<|start_header_id|>", "<|end_header_id|>", "<|im_start|>")}
    assert not header_ids & {lab for lab in s.labels if lab != IGNORE_INDEX}


def test_mistral_instruct_learns_reply_space_and_eos(tok):
    reply = "Step 1: alpha rhythm is absent. Final answer: N2"
    s = preprocess_conversation(turns(("What is the sleep stage?", reply), ("again?", "N3"), tags=1), tok,
                                "mistral_instruct", "M/1")
    runs = learned_runs(tok, s)
    assert runs == [reply + " </s>", "N3 </s>"]  # upstream's LLAMA_2 reply: text, a space, eos
    assert s.input_ids[0] == tok.bos_token_id and s.input_ids[-1] == tok.eos_token_id == s.labels[-1]
    prompt = tok.decode([t for t in s.input_ids if t != IMAGE_TOKEN_INDEX])
    assert "[INST]" in prompt and "[/INST]" in prompt
    assert all(lab == IGNORE_INDEX for t, lab in zip(s.input_ids, s.labels) if t == IMAGE_TOKEN_INDEX)
