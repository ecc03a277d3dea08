"""LLaVA-NeXT anyres geometry: grid choice, unpadding and token counts against transformers' LlavaNext."""

from __future__ import annotations

import pytest
import torch
from transformers.models.llava_next.modeling_llava_next import get_anyres_image_grid_shape, unpad_image

from llava.model.anyres import (
    AnyresGeometry,
    grid_shape,
    image_token_count,
    num_tiles,
    pack_tiles,
    paste_offset,
    tile_boxes,
    parse_grid_pinpoints,
    resized_size,
    select_best_resolution,
    unpadded_shape,
)

V16 = [(336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)]  # llava-v1.6, (width, height)
GRIDS = {"v1.6": V16, "square-or-tall": [(336, 336), (672, 1008)], "wide": [(1344, 336), (672, 672)]}
SIZES = [(500, 300), (300, 500), (336, 336), (1000, 200), (640, 480), (1920, 1080), (224, 896), (800, 800)]


def _transformers_count(size, grid, tile=336, side=24):
    """The count transformers' LlavaNext packing gives ((height, width) order there)."""
    width, height = size
    rows, cols = get_anyres_image_grid_shape((height, width), [[h, w] for w, h in grid], tile)
    h, w = unpad_image(torch.zeros(1, rows * side, cols * side), (height, width)).shape[1:]
    return side * side + h * (w + 1)


@pytest.mark.parametrize("grid", sorted(GRIDS))
@pytest.mark.parametrize("size", SIZES)
def test_spatial_unpad_count_equals_llava_next(size, grid):
    assert image_token_count(size, GRIDS[grid], 336, 24, "spatial_unpad") == _transformers_count(size, GRIDS[grid])


def test_known_counts_by_hand():
    # 500x300 -> 672x336 (2 tiles wide): map 24x48, cut to 24x40 -> 576 + 24 * 41
    assert select_best_resolution((500, 300), V16) == (672, 336)
    assert image_token_count((500, 300), V16, 336, 24, "spatial_unpad") == 576 + 24 * 41 == 1560
    assert image_token_count((500, 300), V16, 336, 24, "flat") == 3 * 576
    assert image_token_count((500, 300), V16, 336, 24, "spatial") == 3 * 576
    # a square image picks 672x672 (4 tiles) and keeps the whole 48x48 map
    assert num_tiles((800, 800), V16, 336) == 5
    assert image_token_count((800, 800), V16, 336, 24, "spatial_unpad") == 576 + 48 * 49


def test_ties_go_to_list_order_and_less_padding():
    # a 336x336 image fits 336x672 and 672x336 equally well: the first listed wins, as upstream
    assert select_best_resolution((336, 336), [(672, 336), (336, 672)]) == (672, 336)
    assert select_best_resolution((336, 336), [(336, 672), (672, 336)]) == (336, 672)
    assert select_best_resolution((336, 336), [(672, 672), (336, 336)]) == (336, 336)  # less padding


def test_resized_size_fits_the_target():
    assert resized_size((500, 300), (672, 336)) == (560, 336)
    assert resized_size((300, 500), (336, 672)) == (336, 560)
    assert resized_size((1000, 200), (1008, 336)) == (1008, 202)


def test_canvas_offset_and_tile_boxes():
    assert paste_offset((560, 336), (672, 336)) == (56, 0)
    assert tile_boxes((672, 336), 336) == [(0, 0, 336, 336), (336, 0, 672, 336)]
    boxes = tile_boxes((672, 1008), 336)
    assert len(boxes) == num_tiles((300, 500), [(672, 1008)], 336) - 1 == 6
    assert boxes[1] == (336, 0, 672, 336) and boxes[2] == (0, 336, 336, 672)  # row by row


def test_pack_tiles_layout_and_patch_mask():
    side, hidden = 2, 3
    grid = [(2, 4)]  # tiles of 2 px: one column of two tiles
    feats = torch.arange(3 * side * side * hidden, dtype=torch.float32).view(3, side * side, hidden)
    newline = torch.full((hidden,), -1.0)
    tokens, mask = pack_tiles(feats, (2, 4), grid, 2, "spatial_unpad", newline)
    # base (4 tokens), then a 4x2 map (tiles stacked vertically) + one newline per row
    assert tokens.shape == (4 + 4 * 3, hidden) and mask.tolist() == [True] * 4 + [True, True, False] * 4
    torch.testing.assert_close(tokens[:4], feats[0])
    torch.testing.assert_close(tokens[4:6], feats[1, :2])  # first row of the top tile
    torch.testing.assert_close(tokens[6], newline)
    torch.testing.assert_close(tokens[-3:-1], feats[2, 2:])  # last row of the bottom tile
    flat, flat_mask = pack_tiles(feats, (2, 4), grid, 2, "flat")
    assert flat.shape == (12, hidden) and bool(flat_mask.all())


def test_pack_tiles_counts_match_the_formula():
    geometry = AnyresGeometry(tuple(V16), 336, 24, "spatial_unpad")
    for size in SIZES:
        n = geometry.num_tiles(size)
        tokens, mask = geometry.pack(torch.randn(n, 576, 4), size, torch.zeros(4))
        assert tokens.shape[0] == geometry.token_count(size) == mask.shape[0], size
        cols, rows = grid_shape(size, V16, 336)
        h, w = unpadded_shape(rows * 24, cols * 24, size)
        assert int((~mask).sum()) == h and tokens.shape[0] == 576 + h * (w + 1), size


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"entry \[300, 672\] is not a multiple of the tile size 336"):
        parse_grid_pinpoints([[300, 672]], tile=336)
    with pytest.raises(ValueError, match=r"not a list of \[width, height\]"):
        parse_grid_pinpoints("(1x1),(2x2)")
    with pytest.raises(ValueError, match=r"not a list of \[width, height\]"):
        parse_grid_pinpoints("__import__('os')")
    assert parse_grid_pinpoints("[[336, 672]]") == parse_grid_pinpoints("[(336, 672)]") == [(336, 672)]
    with pytest.raises(ValueError, match=r"needs 1 \+ 2x1 tiles.*got 2 tile"):
        pack_tiles(torch.randn(2, 576, 4), (500, 300), V16, 336, "spatial_unpad", torch.zeros(4))
    with pytest.raises(ValueError, match=r"'mm_patch_merge_type'.*'unpad'"):
        image_token_count((500, 300), V16, 336, 24, "unpad")
