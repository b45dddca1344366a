"""Losses of the method. Normalisation: the paper's loss divided by 3*h*w (the element count of
the full-resolution image), so the terms keep their scale whatever the crop size:
reconstruction = mean L1; pyramid level l (l = 1 finest) = 2^(l-2) * its summed L1 / (3hw),
i.e. its mean L1 times 2^(l-2) / 4^(l-1); the paper's adversarial weight 3*h*w*n becomes
adversarial_loss_weight = n (the level count). Weights are conf keys in `train`."""
import torch.nn.functional as F

from model import gaussian_pyramid


def reconstruction_loss(output, target):
    return F.l1_loss(output, target)


def pyramid_loss(level_outputs, target):
    """level_outputs: the generator's per-level results coarse to fine (last = full size).
    Level l = 2..n counted from the finest (l = 1, covered by the reconstruction loss) is
    weighted 2^(l-2) against the target's Gaussian level of the same size, its L1 summed and
    divided by the full-resolution element count (so mean L1 * 2^(l-2) / 4^(l-1))."""
    n = len(level_outputs)
    gauss = gaussian_pyramid(target, n)  # finest first: gauss[l-1] is level l
    total = 0.0
    for l in range(2, n + 1):
        total = total + 2 ** (l - 2) / 4 ** (l - 1) * F.l1_loss(level_outputs[n - l], gauss[l - 1])
    return total


def resize_for_discriminator(images, size):
    return F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def generator_adversarial_loss(fake_logits):
    """Non-saturating -log D(G(x)). Computed with gradient: it must reach the generator."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits, fake_logits):
    """-log D(y) - log(1 - D(G(x))); fake images must be detached by the caller."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
