"""llava.mm_utils: image-tag tokenisation, pad preprocessing, safe image paths, stopping."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from llava.constants import IMAGE_TOKEN_INDEX
from llava.mm_utils import (
    KeywordsStoppingCriteria,
    expand2square,
    get_model_name_from_path,
    load_image,
    process_images,
    resolve_image_path,
    tokenizer_image_token,
)
from llava.model import load_llava_config
from llava.model.builder import load_tokenizer


@pytest.fixture(scope="module")
def tok(tiny_base):
    return load_tokenizer(tiny_base)


@pytest.fixture(scope="module")
def processor(tiny_base):
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(str(tiny_base / "clip_vision_tower"))


def test_tokenizer_image_token_one_bos_and_placeholders(tok):
    prompt = "USER: <image>\n<image>\nWhich stage? ASSISTANT:"
    ids = tokenizer_image_token(prompt, tok)
    assert ids.count(IMAGE_TOKEN_INDEX) == 2 and ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    first, second = [i for i, t in enumerate(ids) if t == IMAGE_TOKEN_INDEX]
    # the text pieces are the tokenizer's own pieces, chunk by chunk
    assert ids[1:first] == tok("USER: ", add_special_tokens=False).input_ids
    assert ids[first + 1:second] == tok("\n", add_special_tokens=False).input_ids
    assert ids[second + 1:] == tok("\nWhich stage? ASSISTANT:", add_special_tokens=False).input_ids
    t = tokenizer_image_token("<image>\nhi", tok, return_tensors="pt")
    assert t.dtype == torch.long and t[0] == tok.bos_token_id and t[1] == IMAGE_TOKEN_INDEX
    assert tokenizer_image_token("no tags", tok) == tok("no tags").input_ids
    with pytest.raises(ValueError, match=r"'return_tensors'.*'np'"):
        tokenizer_image_token("x", tok, return_tensors="np")


def test_expand2square_centres_on_background():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    sq = expand2square(img, (1, 2, 3))
    assert sq.size == (40, 40)
    arr = np.asarray(sq)
    assert tuple(arr[0, 0]) == (1, 2, 3) and tuple(arr[39, 39]) == (1, 2, 3)
    assert tuple(arr[20, 20]) == (255, 0, 0) and tuple(arr[10, 0]) == (255, 0, 0) and tuple(arr[9, 0]) == (1, 2, 3)
    assert expand2square(Image.new("RGB", (8, 8)), (0, 0, 0)).size == (8, 8)


def test_pad_preprocessing_keeps_the_whole_image(tiny_base, processor):
    """A wide image with red edges: 'pad' keeps the edges (mean-colour bands), a centre crop loses them."""
    arr = np.full((168, 672, 3), 255, dtype=np.uint8)
    arr[:, :40] = (255, 0, 0)
    arr[:, -40:] = (255, 0, 0)
    img = Image.fromarray(arr)
    cfg = load_llava_config(tiny_base)
    assert cfg.image_aspect_ratio == "pad"
    padded = process_images([img], processor, cfg)
    assert padded.shape == (1, 3, 336, 336)
    mean = torch.tensor(processor.image_mean)
    std = torch.tensor(processor.image_std)
    pix = padded[0] * std[:, None, None] + mean[:, None, None]  # back to [0, 1]
    # top band: the processor's mean colour (the fill), not the image
    torch.testing.assert_close(pix[:, 5, 168], mean, atol=2 / 255, rtol=0)
    # the red edge columns survive at both sides
    assert pix[0, 168, 3] > 0.95 and pix[1, 168, 3] < 0.05 and pix[1, 168, 332] < 0.05
    cfg.image_aspect_ratio = None
    cropped = process_images([img], processor, cfg)[0] * std[:, None, None] + mean[:, None, None]
    assert cropped.shape == (3, 336, 336)
    assert float(cropped[1, 168, 3]) > 0.9  # the centre crop lost the red edges


def test_process_images_rejects_unknown_aspect(processor):
    class Cfg:
        image_aspect_ratio = "crop"

    with pytest.raises(ValueError, match=r"invalid value for the 'image_aspect_ratio' parameter.*'anyres'.*'crop'"):
        process_images([Image.new("RGB", (10, 10))], processor, Cfg())


PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


class AnyresCfg:
    image_aspect_ratio = "anyres"
    image_grid_pinpoints = PINPOINTS


def _pixels(processor, view: torch.Tensor) -> torch.Tensor:
    """Undo the processor's normalisation: (3, H, W) in [0, 1]."""
    mean = torch.tensor(processor.image_mean)[:, None, None]
    std = torch.tensor(processor.image_std)[:, None, None]
    return view * std + mean


def test_anyres_views_are_the_resized_image_and_its_tiles(processor):
    """A 336 x 672 (w x h) image fits the [336, 672] grid exactly: base + top tile + bottom tile."""
    from llava.model.anyres import AnyresGeometry

    top = np.zeros((336, 336, 3), np.uint8)
    top[..., 0] = 255
    bottom = np.zeros((336, 336, 3), np.uint8)
    bottom[..., 2] = 255
    img = Image.fromarray(np.concatenate([top, bottom]))  # red over blue
    views = process_images([img], processor, AnyresCfg())
    assert views.shape == (1, 3, 3, 336, 336)
    geometry = AnyresGeometry(tuple(map(tuple, PINPOINTS)), 336, 24, "spatial_unpad")
    assert geometry.num_tiles(img.size) == 3
    base, tile_top, tile_bottom = (_pixels(processor, v) for v in views[0])
    assert tile_top[0].mean() > 0.98 and tile_top[2].mean() < 0.02  # red
    assert tile_bottom[2].mean() > 0.98 and tile_bottom[0].mean() < 0.02  # blue
    assert base[0, :150].mean() > 0.95 and base[2, -150:].mean() > 0.95  # whole image squeezed into one view


def test_anyres_pads_with_black_and_counts_tiles_as_the_geometry(processor):
    from llava.model.anyres import AnyresGeometry, resized_size, select_best_resolution

    geometry = AnyresGeometry(tuple(map(tuple, PINPOINTS)), 336, 24, "spatial_unpad")
    imgs = [Image.new("RGB", size, (255, 255, 255)) for size in ((500, 300), (300, 500), (900, 200))]
    views = process_images(imgs, processor, AnyresCfg())
    assert isinstance(views, list)  # different tile counts: a list, as upstream
    for img, v in zip(imgs, views):
        assert v.shape == (geometry.num_tiles(img.size), 3, 336, 336)
        target = select_best_resolution(img.size, PINPOINTS)
        new_w, new_h = resized_size(img.size, target)
        grid = torch.zeros(3, target[1], target[0])
        cols = target[0] // 336
        for k, tile in enumerate(v[1:]):
            r, c = divmod(k, cols)
            grid[:, r * 336:(r + 1) * 336, c * 336:(c + 1) * 336] = _pixels(processor, tile)
        top, left = (target[1] - new_h) // 2, (target[0] - new_w) // 2
        inside = grid[:, top + 2:top + new_h - 2, left + 2:left + new_w - 2]
        assert inside.min() > 0.97  # the white image, scaled to fit
        padding = torch.cat([grid[:, :top].flatten(), grid[:, top + new_h:].flatten(),
                             grid[:, :, :left].flatten(), grid[:, :, left + new_w:].flatten()])
        assert padding.numel() > 0 and padding.abs().max() < 0.02  # black canvas around it


def test_resolve_image_path_refuses_escapes(tmp_path):
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.png").write_bytes(b"")
    assert resolve_image_path(folder, "sub/a.png") == (folder / "sub" / "a.png").resolve()
    for bad, what in (("../secret.png", r"has a '\.\.' component"), ("sub/../../x.png", r"has a '\.\.' component"),
                      (str(tmp_path / "x.png"), "is absolute"), ("C:\\x.png", "has a drive"),
                      ("", "is empty")):
        with pytest.raises(ValueError, match=what):
            resolve_image_path(folder, bad)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, folder / "link")
    with pytest.raises(ValueError, match=r"image path 'link/x.png' resolves outside its folder"):
        resolve_image_path(folder, "link/x.png")


def test_load_image_rgb_and_missing(tmp_path):
    path = tmp_path / "g.png"
    Image.new("L", (5, 7), 128).save(path)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (5, 7)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_model_name_from_path():
    assert get_model_name_from_path("ckpts/run7/") == "run7"
    assert get_model_name_from_path("ckpts/run7/checkpoint-500") == "run7_checkpoint-500"


def test_keywords_stopping_criteria(tok):
    stop = KeywordsStoppingCriteria(["</s>"], tok)
    going = torch.tensor([tok("The stage is", add_special_tokens=False).input_ids])
    done = torch.tensor([tok("The stage is N2", add_special_tokens=False).input_ids + [tok.eos_token_id]])
    assert stop(going, None).tolist() == [False]
    assert stop(done, None).tolist() == [True]
    sep = KeywordsStoppingCriteria(["###"], tok)
    assert sep(torch.tensor([tok("answer ###", add_special_tokens=False).input_ids]), None).tolist() == [True]


def test_pad_preprocessing_with_the_released_clip_processor_config(tmp_path):
    """openai/clip-vit-large-patch14-336's preprocessor_config.json (old integer sizes)."""
    import json

    from transformers import AutoImageProcessor

    (tmp_path / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": 336, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 336}))
    proc = AutoImageProcessor.from_pretrained(str(tmp_path))

    class Cfg:
        image_aspect_ratio = "pad"

    out = process_images([Image.new("RGB", (500, 120), (0, 0, 0)), Image.new("RGB", (336, 336))], proc, Cfg())
    assert out.shape == (2, 3, 336, 336)
