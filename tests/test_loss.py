import math

import torch

import loss
from conftest import TINY_ARCH
from model import Discriminator, build_generator, gaussian_pyramid


def test_reconstruction_loss_known_value():
    assert torch.isclose(
        loss.reconstruction_loss(torch.full((1, 3, 4, 4), 0.5), torch.full((1, 3, 4, 4), 0.25)),
        torch.tensor(0.25),
    )


def test_pyramid_loss_weights_levels():
    target = torch.rand(1, 3, 32, 32)
    gauss = gaussian_pyramid(target, 3)  # fine to coarse
    outputs = [g.clone() for g in reversed(gauss)]  # coarse to fine, perfect
    assert loss.pyramid_loss(outputs, target) < 1e-7
    # Off by 0.1 at level 3 (coarsest): weight 2^(3-2) / 4^(3-1) = 1/8.
    outputs[0] = outputs[0] + 0.1
    assert torch.isclose(loss.pyramid_loss(outputs, target), torch.tensor(0.1 / 8), atol=1e-6)
    # And off by 0.2 at level 2: weight 2^0 / 4^1 = 1/4; the full-size level is not counted.
    outputs[1] = outputs[1] + 0.2
    outputs[2] = outputs[2] + 5.0
    assert torch.isclose(loss.pyramid_loss(outputs, target), torch.tensor(0.1 / 8 + 0.2 / 4), atol=1e-6)


def test_adversarial_losses_known_values():
    zero = torch.zeros(4)
    ln2 = torch.log(torch.tensor(2.0))
    assert torch.isclose(loss.generator_adversarial_loss(zero), ln2)
    assert torch.isclose(loss.discriminator_loss(zero, zero), 2 * ln2)
    # A confident, correct discriminator has a loss near zero; G then pays a lot.
    assert loss.discriminator_loss(torch.full((4,), 20.0), torch.full((4,), -20.0)) < 1e-6
    assert loss.generator_adversarial_loss(torch.full((4,), -20.0)) > 19


def test_adversarial_gradient_reaches_generator():
    torch.manual_seed(0)
    g, d = build_generator(TINY_ARCH), Discriminator((16, 16))
    out = g(torch.rand(2, 3, 32, 32))
    adv = loss.generator_adversarial_loss(d(loss.resize_for_discriminator(out, (16, 16))))
    adv.backward()
    grads = [p.grad for p in g.parameters()]
    assert all(gr is not None for gr in grads)
    assert sum(gr.abs().sum() for gr in grads) > 0


def test_discriminator_loss_does_not_reach_generator_when_detached():
    g, d = build_generator(TINY_ARCH), Discriminator((16, 16))
    out = g(torch.rand(2, 3, 32, 32))
    real = torch.rand(2, 3, 16, 16)
    fake = loss.resize_for_discriminator(out.detach(), (16, 16))
    loss.discriminator_loss(d(real), d(fake)).backward()
    assert all(p.grad is None for p in g.parameters())
    assert all(p.grad is not None for p in d.parameters())


def test_guided_lift_is_the_prediction_formula_and_passes_gradients():
    """Training's differentiable lift and prediction's numpy guided upsampling share fit_affine_planes:
    same result; and the gradient reaches the low-resolution output."""
    import numpy as np

    from inference import guided_upsample

    rng = np.random.default_rng(0)
    low = rng.random((24, 36, 3), dtype=np.float32)
    low_out = np.clip(np.sqrt(low) + 0.05 * rng.random((24, 36, 3), dtype=np.float32), 0, 1)
    full = rng.random((96, 144, 3), dtype=np.float32)
    expected = guided_upsample(low, low_out, full)
    as_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)
    out_t = as_t(low_out).clone().requires_grad_(True)
    lifted = loss.guided_lift(as_t(low), out_t, as_t(full))
    assert np.abs(lifted.detach().permute(1, 2, 0).numpy() - expected).max() < 1e-4
    lifted.mean().backward()
    assert out_t.grad is not None and out_t.grad.abs().sum() > 0


def test_ssim_loss_matches_the_metric():
    from metrics import ssim
    from utils import to_uint8

    x = torch.rand(1, 3, 48, 64)
    y = (x * 0.7 + 0.1).clamp(0, 1)
    metric = ssim(to_uint8(x[0].permute(1, 2, 0).numpy()), to_uint8(y[0].permute(1, 2, 0).numpy()))
    assert abs((1 - loss.ssim_loss(x, y).item()) - metric) < 0.01
    assert loss.ssim_loss(x, x).item() < 1e-6


def test_saturation_loss_is_the_log_chroma_ratio():
    # a photo and the same photo with its colours pulled halfway to their grey (luma kept)
    torch.manual_seed(0)
    target = torch.rand(2, 3, 16, 16)
    luma = loss.ycbcr(target)[:, :1]
    washed = luma + 0.5 * (target - luma)
    assert loss.saturation_loss(target, target).item() < 1e-6
    # a small bias from the +1e-3 guard and the 1e-6 under the root, for chroma ~0.1
    assert abs(loss.saturation_loss(washed, target).item() - math.log(2)) < 0.05
    # it prefers the right chroma over the washed-out one, from either side
    boosted = luma + 2.0 * (target - luma)
    assert loss.saturation_loss(boosted, target) > loss.saturation_loss(target, target)
    washed.requires_grad_(True)
    loss.saturation_loss(washed, target).backward()
    assert torch.isfinite(washed.grad).all() and washed.grad.abs().sum() > 0
