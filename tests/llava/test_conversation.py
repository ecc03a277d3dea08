"""Conversation templates: upstream prompt text and the learned-reply spans."""

import pytest

from llava.conversation import SeparatorStyle, conv_templates, default_conversation, get_conv_template

VICUNA = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")


def test_v1_prompt_text_and_generation_suffix():
    conv = get_conv_template("v1")
    conv.append_message(conv.roles[0], "<image>\nWhat stage?")
    conv.append_message(conv.roles[1], None)
    assert conv.get_prompt() == VICUNA + " USER: <image>\nWhat stage? ASSISTANT:"
    assert conv.get_prompt_and_targets()[1] == []


def test_llava_v1_uses_human_wording_and_same_layout():
    a, b = get_conv_template("llava_v1"), get_conv_template("vicuna_v1")
    assert "curious human" in a.system and "human's questions" in a.system
    assert "curious user" in b.system
    assert (a.roles, a.sep, a.sep2, a.sep_style) == (b.roles, b.sep, b.sep2, b.sep_style) == (
        ("USER", "ASSISTANT"), " ", "</s>", SeparatorStyle.TWO)


def test_default_is_the_training_default():
    assert conv_templates["default"] is default_conversation is conv_templates["v1"]


def test_multi_turn_spans_cover_replies_and_their_eos():
    conv = get_conv_template("v1")
    turns = [("q one", "answer one"), ("q two", "N2, because spindles")]
    for q, a in turns:
        conv.append_message(conv.roles[0], q)
        conv.append_message(conv.roles[1], a)
    prompt, spans = conv.get_prompt_and_targets()
    assert prompt == (VICUNA + " USER: q one ASSISTANT: answer one</s>USER: q two ASSISTANT: "
                      "N2, because spindles</s>")
    assert [prompt[s:e] for s, e in spans] == ["answer one</s>", "N2, because spindles</s>"]


def test_plain_template():
    conv = get_conv_template("plain")
    conv.append_message(conv.roles[0], "<image>")
    conv.append_message(conv.roles[1], "a caption")
    prompt, spans = conv.get_prompt_and_targets()
    assert prompt == "<image>\na caption\n"
    assert [prompt[s:e] for s, e in spans] == ["a caption\n"]


def test_copy_never_mutates_the_template():
    conv = get_conv_template("llava_v1")
    conv.append_message("USER", "x")
    assert conv_templates["llava_v1"].messages == []
    c2 = conv.copy()
    c2.append_message("ASSISTANT", "y")
    assert len(conv.messages) == 1 and len(c2.messages) == 2


def test_upstream_tuple_messages_are_accepted():
    conv = get_conv_template("v1")
    conv.append_message("USER", ("hello", object(), "pad"))
    assert conv.get_prompt().endswith("USER: hello ")


def test_unknown_template_names_choices():
    with pytest.raises(ValueError, match=r"'llava_v1'.*but got 'llava_v2'.*did you mean"):
        get_conv_template("llava_v2")


def _one_round(name, question="<image>\nWhat stage?", reply="N2"):
    conv = get_conv_template(name)
    conv.append_message(conv.roles[0], question)
    conv.append_message(conv.roles[1], reply)
    return conv


def test_mistral_instruct_layout_and_generation_prompt():
    gen = _one_round("mistral_instruct", reply=None)
    assert gen.get_prompt() == "[INST] <image>\nWhat stage? [/INST]"
    conv = _one_round("mistral_instruct")
    conv.append_message(conv.roles[0], "Sure?")
    conv.append_message(conv.roles[1], "Yes")
    prompt, spans = conv.get_prompt_and_targets()
    assert prompt == "[INST] <image>\nWhat stage? [/INST] N2 </s>[INST] Sure? [/INST] Yes </s>"
    assert [prompt[s:e] for s, e in spans] == ["N2 </s>", "Yes </s>"]
    assert conv.stop == "</s>" and conv.sep_style is SeparatorStyle.LLAMA_2


def test_chatml_direct_layout():
    conv = _one_round("chatml_direct")
    prompt, spans = conv.get_prompt_and_targets()
    assert prompt == ("<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n<image>\nWhat stage?"
                      "<|im_end|><|im_start|>assistant\nN2<|im_end|>")
    assert [prompt[s:e] for s, e in spans] == ["N2<|im_end|>"]
    assert _one_round("chatml_direct", reply=None).get_prompt().endswith("<|im_start|>assistant\n")
    assert conv.stop == "<|im_end|>"


def test_llava_llama_3_layout():
    conv = _one_round("llava_llama_3")
    prompt, spans = conv.get_prompt_and_targets()
    assert prompt.startswith("<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision "
                             "assistant.")
    assert prompt.endswith("<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n<image>\nWhat stage?<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\nN2<|eot_id|>")
    assert [prompt[s:e] for s, e in spans] == ["N2<|eot_id|>"]
    gen = _one_round("llava_llama_3", reply=None).get_prompt()
    assert gen.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n") and conv.stop == "<|eot_id|>"


@pytest.mark.parametrize("name", ["v1", "llava_v1", "mistral_instruct", "chatml_direct", "llava_llama_3"])
def test_generation_prompt_is_the_prefix_of_the_trained_prompt(name):
    """What evaluation feeds is exactly what training saw before the reply (label scoring relies on it)."""
    gen = _one_round(name, reply=None).get_prompt()
    prompt, spans = _one_round(name).get_prompt_and_targets()
    assert prompt.startswith(gen) and prompt[len(gen):spans[0][0]].strip() == ""
