import pytest
import torch

from llava.eval.model_vqa import _generation_config, parse_args
from llava.eval.prompting import build_prompt, count_image_tags, decode_new_tokens, question_with_tags, stop_string


@pytest.mark.parametrize("n_images, fusion, tags", [(2, "add", 2), (2, "raw", 2), (2, "none", 1), (1, "add", 1), (0, "add", 0)])
def test_count_image_tags(n_images, fusion, tags):
    assert count_image_tags(n_images, fusion) == tags


def test_count_image_tags_rejects_three():
    with pytest.raises(ValueError, match=r"3 image entries; expected 1 \(an image\) or 2"):
        count_image_tags(3, "add")


def test_question_with_tags():
    assert question_with_tags("Which stage?", 2) == "<image>\n<image>\nWhich stage?"
    assert question_with_tags("<image>\n<image>\nWhich stage?", 1) == "<image>\nWhich stage?"  # tags already there
    assert question_with_tags("Which stage?", 1, mm_use_im_start_end=True) == "<im_start><image><im_end>\nWhich stage?"
    assert question_with_tags("Which stage?", 0) == "Which stage?"


def test_build_prompt_llava_v1():
    prompt = build_prompt("<image>\n<image>\nWhich stage?", "llava_v1")
    assert prompt.startswith("A chat between a curious human")
    assert prompt.endswith("USER: <image>\n<image>\nWhich stage? ASSISTANT:")
    assert stop_string("llava_v1") == "</s>" and stop_string("plain") == "\n"
    with pytest.raises(ValueError, match=r"Allowed values are .*'llava_v1'.*but got 'llava_v2'"):
        build_prompt("q", "llava_v2")


class _Tok:
    def decode(self, ids, skip_special_tokens=True):
        return " ".join(f"t{i}" for i in ids if not (skip_special_tokens and i == 2)) + " </s>"


def test_decode_new_tokens_handles_both_generate_outputs():
    prompt = torch.tensor([1, -200, 5, 6])
    assert decode_new_tokens(_Tok(), torch.tensor([7, 8, 2]), prompt, "</s>") == "t7 t8"
    ids_prompt = torch.tensor([1, 4, 5, 6])
    assert decode_new_tokens(_Tok(), torch.tensor([1, 4, 5, 6, 7, 8]), ids_prompt, "</s>") == "t7 t8"


def test_generation_config_greedy_has_no_sampling_values():
    class T:
        eos_token_id, pad_token_id = 2, 0

    greedy = _generation_config(parse_args(["--model-path", "m", "--temperature", "0", "--top_p", "0.9"]), T())
    assert greedy.do_sample is False
    assert greedy.temperature in (None, 1.0) and greedy.top_p in (None, 1.0)
    greedy.validate(strict=True)  # sampling values with do_sample False would fail here
    sampled = _generation_config(parse_args(["--model-path", "m", "--temperature", "0.2", "--top_p", "0.7"]), T())
    assert sampled.do_sample is True and sampled.temperature == 0.2 and sampled.top_p == 0.7
    assert sampled.max_new_tokens == 128 and sampled.eos_token_id == 2


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--num-chunks", "2", "--chunk-idx", "2"], r"--chunk-idx must be in 0\.\.1, got 2"),
        (["--load-4bit", "--load-8bit"], r"--load-4bit and --load-8bit exclude each other"),
        (["--score-labels", "W,N1", "--score-template", "stage"], r"must contain '\{label\}'"),
        (["--eeg-fusion", "sum"], r"invalid choice: 'sum'"),
    ],
)
def test_parse_args_errors(argv, match, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--model-path", "m", *argv])
    assert __import__("re").search(match, capsys.readouterr().err)


def test_parse_args_upstream_and_underscore_spellings():
    a = parse_args(["--model-path", "m", "--question_file", "q.jsonl", "--max_new_tokens", "9", "--num_beams", "2"])
    assert (a.model_path, a.question_file, a.max_new_tokens, a.num_beams) == ("m", "q.jsonl", 9, 2)
    assert a.conv_mode == "llava_v1" and a.temperature == 0.2 and a.device == "auto"
