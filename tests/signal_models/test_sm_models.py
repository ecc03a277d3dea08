"""Signal models: forward shapes, reference sizes, a TinySleepNet night without look-ahead."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from signal_models.labram import LABRAM_SIZES, LaBraM, electrode_indices
from signal_models.multisleepnet import time_frequency_image
from signal_models.registry import SIGNAL_MODELS, get_spec
from signal_models.tinysleepnet import TinySleepNet, same_padding


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


CHANNELS = ["Fpz-Cz", "Pz-Oz"]


@pytest.mark.parametrize("name", sorted(SIGNAL_MODELS))
def test_tiny_configurations_give_one_prediction_per_epoch(name):
    spec = get_spec(name)
    chans = CHANNELS[:1] if spec.single_channel else CHANNELS
    samples = int(30 * spec.sfreq)
    model = spec.build(chans, spec.sfreq, samples, **spec.tiny)
    x = torch.randn(2, 3, len(chans), samples) if spec.sequence else torch.randn(3, len(chans), samples)
    out = model(x)
    assert out.shape == ((2, 3, 5) if spec.sequence else (3, 5))
    out.sum().backward()
    assert model.head.weight.grad is not None


def test_tinysleepnet_reference_layout_and_size():
    model = TinySleepNet()
    assert [same_padding(3000, 50, 6), same_padding(500, 8, 8), same_padding(63, 4, 4)] == [(22, 22), (2, 2), (0, 1)]
    assert model.feature_dim == 128 * 16  # 3000 -> 500 -> 63 -> 16 samples of 128 filters
    convs = 1 * 128 * 50 + 3 * 128 * 128 * 8 + 4 * 2 * 128  # four convolutions (no bias) + their BN
    lstm = 4 * (2048 * 128 + 128 * 128 + 2 * 128)  # one layer, 128 units (torch keeps two bias vectors)
    assert n_params(model) == convs + lstm + (128 * 5 + 5)


def test_tinysleepnet_predicts_an_epoch_from_the_past_of_its_night_only():
    model = TinySleepNet(filters=8, hidden=8).eval()
    x = torch.randn(1, 6, 1, 3000)
    with torch.no_grad():
        full = model(x)
        changed = x.clone()
        changed[0, 4:] = torch.randn(2, 1, 3000)
        again = model(changed)
    assert torch.allclose(full[0, :4], again[0, :4], atol=1e-6)  # epochs 0-3 do not see epochs 4-5
    assert not torch.allclose(full[0, 4:], again[0, 4:])


@pytest.mark.parametrize("size", sorted(LABRAM_SIZES))
def test_labram_reference_sizes_match_the_paper(size):
    width, depth, heads, conv, published = LABRAM_SIZES[size]
    with torch.device("meta"):
        model = LaBraM(["Fpz-Cz"], width, depth, heads, conv)
    # paper: 5.8M / 46M / 369M; with a 5-class head this layout gives 5.83M / 46.28M / 369.32M
    assert abs(n_params(model) - published) < 0.01 * published


def test_cbramod_reference_size_follows_the_published_layout():
    spec = get_spec("cbramod")
    with torch.device("meta"):
        model = spec.build(CHANNELS, 200.0, 6000)
    layer = 2 * (100 * 300 + 300 + 100 * 100 + 100) + (200 * 800 + 800) + (800 * 200 + 200) + 2 * 400
    embed = (200 * 19 * 7 + 200) + (25 * 49 + 25) + 2 * (25 * 25 * 3 + 25) + 3 * 50 + (101 * 200 + 200) + 200
    encoder = 12 * layer + embed
    assert n_params(model) == encoder + (200 * 200 + 200) + (200 * 5 + 5)  # + release's proj_out + our head


def test_multisleepnet_time_frequency_image_is_29_by_128():
    img = time_frequency_image(torch.randn(2, 3, 3000))
    assert img.shape == (2, 3, 29, 128)
    tone = torch.sin(2 * torch.pi * 10.0 * torch.arange(3000) / 100.0).view(1, 1, -1)
    peak = time_frequency_image(tone)[0, 0].mean(0).argmax()
    assert int(peak) + 1 == round(10.0 * 256 / 100)  # bin k (DC dropped) is k * 100/256 Hz


def test_labram_maps_derivations_to_electrodes_and_refuses_other_channels():
    assert electrode_indices(["EEG Fpz-Cz", "Pz-Oz", "C4-A1"]) == [2, 64, 44]  # list index + 1 (row 0: class token)
    with pytest.raises(ValueError, match=r"LaBraM: channel 'EOG horizontal' has no electrode"):
        electrode_indices(["Fpz-Cz", "EOG horizontal"])


def test_labram_interpolates_its_16_temporal_positions_to_30_patches():
    model = LaBraM(["Fpz-Cz"], embed_dim=100, depth=1, heads=4, conv_chans=4).eval()
    assert model.time_embed.shape[1] == 16
    assert model(torch.randn(2, 1, 6000)).shape == (2, 5)  # 30 one-second patches
    with pytest.raises(ValueError, match=r"LaBraM: input \(2, 1, 6100\)"):
        model(torch.randn(2, 1, 6100))
