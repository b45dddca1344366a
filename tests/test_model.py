import re

import pytest
import torch

from conftest import TINY_ARCH
from model import (
    Discriminator,
    size_multiple,
    build_generator,
    export_generator_weights,
    gaussian_pyramid,
    soft_histograms,
    HISTOGRAM_BINS,
    init_from_smaller,
    laplacian_pyramid,
    load_generator,
    parameter_count,
    reconstruct_laplacian,
)
from config import ConfError

DEFAULT_ARCH = {
    "laplacian_level_count": 4,
    "layer_count_of_every_unet": [4, 3, 3, 3],
    "first_layer_out_channels_of_every_unet": [24, 24, 24, 16],
    "use_iaff": False,
    "iaff_r": 4,
    "use_psa": False,
    "use_global_head": False,
    "global_view": "blocks",
    "auto_strength": False,
}


@pytest.mark.parametrize("levels", [1, 2, 4, 5])
def test_laplacian_round_trip_is_exact(levels):
    x = torch.rand(2, 3, 96, 160)
    bands = laplacian_pyramid(x, levels)
    assert len(bands) == levels
    assert [b.shape[-1] for b in bands] == [160 // 2**i for i in range(levels)]
    assert (reconstruct_laplacian(bands) - x).abs().max() < 1e-5


def test_pyramid_keeps_negative_band_values():
    # The defect of the repo this follows: bands built on uint8 lost their negative half.
    x = torch.zeros(1, 3, 32, 32)
    x[..., 12:20, 12:20] = 1.0
    band = laplacian_pyramid(x, 2)[0]
    assert band.min() < -0.05 and band.max() > 0.05


def test_gaussian_levels_preserve_mean_of_constant_image():
    x = torch.full((1, 3, 64, 64), 0.37)
    for level in gaussian_pyramid(x, 4):
        assert torch.allclose(level, torch.full_like(level, 0.37), atol=1e-6)


@pytest.mark.parametrize(
    "arch,size",
    [
        (TINY_ARCH, (40, 64)),
        (DEFAULT_ARCH, (128, 192)),
        (
            {
                **DEFAULT_ARCH,
                "laplacian_level_count": 2,
                "layer_count_of_every_unet": [3, 2],
                "first_layer_out_channels_of_every_unet": [8, 4],
            },
            (24, 40),
        ),
    ],
)
def test_generator_output_shapes_non_square(arch, size):
    g = build_generator(arch)
    x = torch.rand(2, 3, *size)
    levels = g(x, return_levels=True)
    n = arch["laplacian_level_count"]
    assert len(levels) == n
    for i, level in enumerate(levels):  # coarse to fine
        scale = 2 ** (n - 1 - i)
        assert level.shape == (2, 3, size[0] // scale, size[1] // scale)
    assert torch.equal(g(x), levels[-1])


def test_default_architecture_size_and_multiple():
    g = build_generator(DEFAULT_ARCH)
    assert g.multiple == 64 == size_multiple(4, [4, 3, 3, 3])
    assert 1.6e6 < parameter_count(g) < 1.8e6


def test_wrong_size_is_a_clear_error():
    g = build_generator(DEFAULT_ARCH)
    with pytest.raises(ValueError, match="must be multiples of 64"):
        g(torch.rand(1, 3, 100, 128))


@pytest.mark.parametrize("iaff,psa", [(False, False), (True, False), (False, True), (True, True)])
def test_iaff_and_psa_forward_backward(iaff, psa):
    torch.manual_seed(0)
    arch = {**TINY_ARCH, "use_iaff": iaff, "use_psa": psa, "iaff_r": 2}
    g = build_generator(arch)
    names = [n for n, _ in g.named_parameters()]
    assert any("fusions" in n for n in names) == iaff
    assert any("bottleneck_attention" in n for n in names) == psa
    x = torch.rand(2, 3, 32, 48)
    out = g(x)
    assert out.shape == x.shape
    out.mean().backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    # Every attention block takes part (a ReLU branch may be inactive on a random input, so each
    # block is judged as a whole: unets.K.fusions.J or unets.K.bottleneck_attention).
    blocks = {
        re.match(r"unets\.\d+\.(fusions\.\d+|bottleneck_attention)", n).group(0)
        for n, _ in g.named_parameters()
        if "fusions" in n or "bottleneck" in n
    }
    for block in blocks:
        assert sum(p.grad.abs().sum() for n, p in g.named_parameters() if n.startswith(block)) > 0, block


@pytest.mark.parametrize("size", [(64, 64), (128, 96), (33, 50)])
def test_discriminator_one_logit_per_image(size):
    d = Discriminator(size)
    assert d(torch.rand(3, 3, *size)).shape == (3,)


def test_checkpoint_round_trip_rebuilds_same_model(tmp_path):
    arch = {**TINY_ARCH, "use_iaff": True, "use_psa": True}
    g = build_generator(arch)
    path = str(tmp_path / "g.pth")
    export_generator_weights(path, g, arch)
    loaded, loaded_arch = load_generator(path)
    assert loaded_arch == arch
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), g.eval()(x))


def test_half_precision_checkpoint_loads_as_float(tmp_path):
    g = build_generator(TINY_ARCH)
    path = str(tmp_path / "g16.pth")
    export_generator_weights(path, g, TINY_ARCH, half=True)
    loaded, _ = load_generator(path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert (loaded(x) - g.eval()(x)).abs().max() < 1e-2


def test_a_key_asked_on_the_command_line_that_contradicts_the_checkpoint_names_it(tmp_path):
    g = build_generator(TINY_ARCH)
    path = str(tmp_path / "g.pth")
    export_generator_weights(path, g, TINY_ARCH)
    asked = {"first_layer_out_channels_of_every_unet": [16, 16, 16]}
    with pytest.raises(ConfError, match=r"--first_layer_out_channels_of_every_unet \[16, 16, 16\] contradicts.*"
                       r"trained with \[8, 8, 4\].*leave --first_layer_out_channels_of_every_unet out"):
        load_generator(path, asked)
    # Keys that agree, and keys that change nothing in this architecture, pass.
    load_generator(path, {"laplacian_level_count": 3, "global_view": "whole", "auto_strength": True, "iaff_r": 8})
    with pytest.raises(ConfError, match="use_global_head"):
        load_generator(path, {"use_global_head": True})


def test_weights_without_an_architecture_are_read_as_the_conf_says(tmp_path):
    """A bare state dict carries no architecture: the conf's keys (the fallback) build it, and
    weights that do not fit them are one line."""
    torch.manual_seed(0)
    g = build_generator(TINY_ARCH).eval()
    path = str(tmp_path / "bare.pth")
    torch.save(g.state_dict(), path)
    with pytest.raises(ValueError, match="not an exposure-correct checkpoint"):
        load_generator(path)
    loaded, arch = load_generator(path, fallback=TINY_ARCH)
    x = torch.rand(1, 3, 32, 32)
    assert arch == TINY_ARCH and torch.equal(loaded(x), g(x))
    wide = {**TINY_ARCH, "first_layer_out_channels_of_every_unet": [16, 8, 4]}
    with pytest.raises(ValueError, match="bare.pth: its weights do not fit the architecture"):
        load_generator(path, fallback=wide)


def test_a_file_that_is_not_a_checkpoint_is_one_clear_error(tmp_path):
    path = tmp_path / "random.pth"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=r"random.pth is not a model this project reads \(a .pth checkpoint"):
        load_generator(str(path))
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not an exposure-correct checkpoint"):
        load_generator(str(tmp_path / "other.pth"))


def test_warm_start_into_an_extended_architecture_keeps_every_trained_tensor(tmp_path):
    # The shipped model warm-starts a use_psa one: its tensors are copied, PSA's start fresh.
    small = build_generator(TINY_ARCH)
    path = str(tmp_path / "small.pth")
    export_generator_weights(path, small, TINY_ARCH, half=True)
    big = build_generator({**TINY_ARCH, "use_psa": True})
    fresh = init_from_smaller(big, path)
    assert fresh and all(".bottleneck_attention." in name for name in fresh)
    big_state = big.state_dict()
    for name, tensor in small.state_dict().items():
        assert torch.equal(big_state[name], tensor.half().float())
    assert set(fresh) == set(big_state) - set(small.state_dict())


def test_warm_start_from_a_checkpoint_that_does_not_fit_names_the_tensor(tmp_path):
    wide = {**TINY_ARCH, "first_layer_out_channels_of_every_unet": [16, 8, 4]}
    path = str(tmp_path / "wide.pth")
    export_generator_weights(path, build_generator(wide), wide)
    with pytest.raises(ValueError, match=r"wide.pth does not fit this architecture: its unets.0.\S+ \(16, "):
        init_from_smaller(build_generator(TINY_ARCH), path)


def test_global_head_starts_as_identity_and_learns_a_global_transform():
    """use_global_head: at initialisation the network equals the same one without it (so a trained
    model warm-starts it unchanged); its parameters reach the output (a colour matrix and curves)."""
    plain = build_generator(TINY_ARCH).eval()
    headed = build_generator({**TINY_ARCH, "use_global_head": True}).eval()
    headed.load_state_dict({**headed.state_dict(), **plain.state_dict()})
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(headed(x), plain(x))
        head = headed.global_head
        head.params.bias[9:12] = 0.1  # offset +0.1 on every channel, curves identity
        y = head(x * 0.5)
    assert torch.allclose(y, x * 0.5 + 0.1, atol=1e-6)
    with torch.no_grad():
        head.params.bias.zero_()
        head.params.bias[12:] = 1.0  # every curve's slope doubled on [0, 1]: y = 2x
        assert torch.allclose(head(x), 2 * x, atol=1e-6)


def test_the_head_transform_in_training_equals_the_exported_one_with_its_gradients():
    """apply_colour's two forms (pixels as rows for training and PyTorch prediction, 4-D ops for
    export): the same output and gradients to float rounding, for colours pushed past [0, 1] by
    the matrix and offset (the curves' flat ends), in both memory layouts."""
    from model import apply_colour_4d, apply_colour_pixels

    torch.manual_seed(0)
    x0 = torch.rand(3, 3, 20, 28) * 1.4 - 0.2
    p0 = torch.randn(3, 12 + 3 * 8) * 0.3
    weights = torch.rand(3, 3, 20, 28)
    for layout in (torch.contiguous_format, torch.channels_last):
        results = []
        for form in (apply_colour_4d, apply_colour_pixels):
            x = x0.clone().to(memory_format=layout).requires_grad_()
            p = p0.clone().requires_grad_()
            y = form(x, p, 8)
            (y * weights).sum().backward()
            results.append((y.detach(), x.grad, p.grad))
        for exported, trained in zip(*results):
            assert torch.allclose(trained, exported, atol=1e-5, rtol=1e-5)
        assert ((x0 < 0) | (x0 > 1)).any() and (results[0][0] == 0).any()  # the flat ends were reached


def test_the_whole_views_histograms_in_training_equal_the_exported_ones():
    """soft_histograms' two forms (scatter-add in training, 4-D ops for export) give the same
    shares, on a photo with clipped pixels and pixels on bin centres; each histogram sums to 1."""
    from model import HISTOGRAM_FEATURES, soft_histograms_4d, soft_histograms_pixels

    torch.manual_seed(0)
    x = torch.rand(2, 3, 24, 40) * 1.2 - 0.1
    x[:, :, :4] = torch.arange(16).float().reshape(1, 1, 1, 16).repeat(1, 1, 1, 3)[..., :40] / 15
    x = x.to(memory_format=torch.channels_last)
    exported, trained = soft_histograms_4d(x), soft_histograms_pixels(x)
    assert exported.shape == trained.shape == (2, HISTOGRAM_FEATURES)
    assert torch.allclose(trained, exported, atol=1e-6)
    assert torch.allclose(trained.sum(1), torch.full((2,), 5.0), atol=1e-5)  # five histograms


def test_a_training_step_through_the_whole_view_head_keeps_its_loss_and_gradients(monkeypatch):
    """Issue 38: the head's fast forms change no step. One batch through a generator with the whole
    view and the strength (trained a little, so that the head is not the identity): the loss and
    every parameter's gradient as with the exported 4-D forms, to float rounding."""
    import model

    torch.manual_seed(0)
    g = build_generator({**TINY_ARCH, "use_global_head": True, "global_view": "whole", "auto_strength": True})
    with torch.no_grad():
        for p in g.global_head.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x = torch.rand(4, 3, 32, 48).to(memory_format=torch.channels_last)
    target = torch.rand(4, 3, 32, 48)

    def step():
        g.zero_grad()
        loss = (g(x) - target).abs().mean()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in g.parameters()]

    fast = step()
    monkeypatch.setattr(model, "apply_colour_pixels", model.apply_colour_4d)
    monkeypatch.setattr(model, "soft_histograms_pixels", model.soft_histograms_4d)
    exported = step()
    assert torch.allclose(fast[0], exported[0], atol=1e-6)
    for a, b in zip(fast[1], exported[1]):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_a_checkpoint_from_before_use_global_head_loads_as_without_it(tmp_path):
    added = ("use_global_head", "global_view", "auto_strength")
    old_arch = {k: v for k, v in TINY_ARCH.items() if k not in added}
    g = build_generator(TINY_ARCH)
    torch.save({"arch": old_arch, "generator": g.state_dict()}, tmp_path / "old.pth")
    loaded, arch = load_generator(str(tmp_path / "old.pth"))
    assert arch["use_global_head"] is False and loaded.global_head is None
    assert arch["global_view"] == "blocks" and arch["auto_strength"] is False


def test_the_whole_view_head_starts_as_identity_and_reads_the_photos_histograms():
    """global_view "whole": at initialisation the network equals the same one without the head;
    its histograms are shares of the pixels (each sums to 1) and follow the photo's brightness."""
    plain = build_generator(TINY_ARCH).eval()
    whole = build_generator({**TINY_ARCH, "use_global_head": True, "global_view": "whole"}).eval()
    whole.load_state_dict({**whole.state_dict(), **plain.state_dict()})
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(whole(x), plain(x))
    dark, bright = (soft_histograms(torch.full((1, 3, 8, 8), level)) for level in (0.1, 0.9))
    parts = [HISTOGRAM_BINS["luminance"]] + [HISTOGRAM_BINS["channel"]] * 3 + [HISTOGRAM_BINS["saturation"]]
    for histogram in (dark, bright, soft_histograms(x)):
        assert torch.allclose(torch.stack([h.sum(1) for h in histogram.split(parts, 1)], 1), torch.ones(1, 5))
    luminance = torch.arange(HISTOGRAM_BINS["luminance"], dtype=torch.float32)
    mean_bin = lambda h: float((h[0, : len(luminance)] * luminance).sum())  # noqa: E731
    assert mean_bin(dark) == pytest.approx(0.1 * (len(luminance) - 1), abs=1e-4)
    assert mean_bin(bright) == pytest.approx(0.9 * (len(luminance) - 1), abs=1e-4)


def test_auto_strength_scales_the_whole_correction_at_every_level():
    """auto_strength: a strength of 0 gives back the input (its own pyramid level at every level),
    1 the network's full correction; in between, the input moved that share of the way."""
    arch = {**TINY_ARCH, "use_global_head": True, "global_view": "whole", "auto_strength": True}
    auto = build_generator(arch).eval()
    full = build_generator({**arch, "auto_strength": False}).eval()
    full.load_state_dict({k: v for k, v in auto.state_dict().items() if "strength" not in k})
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        assert 0.9 < float(auto.global_head(x)[1].min()) < 0.99  # starts near 1 for every photo
        auto.global_head.strength.bias.fill_(-40.0)
        for got, level in zip(auto(x, return_levels=True), gaussian_pyramid(x, 3)[::-1]):
            assert torch.allclose(got, level, atol=1e-6)
        auto.global_head.strength.bias.fill_(40.0)
        assert torch.allclose(auto(x), full(x), atol=1e-6)
        auto.global_head.strength.bias.fill_(0.0)  # strength 0.5
        assert torch.allclose(auto(x), (x + full(x)) / 2, atol=1e-6)
