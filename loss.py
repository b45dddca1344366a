"""Losses of the method. Normalisation: the paper's loss divided by 3*h*w (the element count of
the full-resolution image), so the terms keep their scale whatever the crop size:
reconstruction = mean L1; pyramid level l (l = 1 finest) = 2^(l-2) * its summed L1 / (3hw),
i.e. its mean L1 times 2^(l-2) / 4^(l-1); the paper's adversarial weight 3*h*w*n becomes
adversarial_loss_weight = n (the level count). Weights are conf keys in `train`."""

import torch
import torch.nn.functional as F

from inference import fit_affine_planes, guided_radius
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


# ---------------------------------------------------------------- losses on what ships


def box_mean(radius):
    """Window mean of a sequence of N x H x W planes, reflect borders: inference.box_filter in
    torch, for fit_affine_planes. The planes go through together, as the channels of one
    channels-last tensor, in two 1-D passes (the mean of the window's column means), each a
    depthwise convolution: on a CPU 4-10x faster than avg_pool2d, and the same means to float
    rounding."""
    size = 2 * radius + 1

    def box(planes):
        y = F.pad(torch.stack(planes, -1).permute(0, 3, 1, 2), (radius,) * 4, mode="reflect")
        weight = torch.full((y.shape[1], 1, 1, size), 1 / size, dtype=y.dtype, device=y.device)
        y = F.conv2d(F.conv2d(y, weight, groups=y.shape[1]), weight.transpose(2, 3), groups=y.shape[1])
        return y.permute(0, 2, 3, 1).unbind(-1)  # so that the gradients come back channels last too

    return box


def guided_lift(low_in, low_out, full_in, windows=None):
    """inference.guided_upsample, differentiable: the affine maps fitted between the low-resolution
    pair (3 x h x w, or N x 3 x h x w for photos of one size) by the same fit_affine_planes,
    upsampled bilinearly to full_in's size (3 x H x W or N x 3 x H x W) and applied to it, clipped
    to [0, 1] as prediction does. With `windows` (per photo (top, left, H, W)), full_in is that
    window of a photo of H x W (train.py's lift_crop): the maps are upsampled only there."""
    if low_in.dim() == 3:
        return guided_lift(low_in[None], low_out[None], full_in[None], windows)[0]
    n, _, h, w = low_in.shape
    box = box_mean(guided_radius(h, w))
    maps = torch.stack(fit_affine_planes(low_in.unbind(1), low_out.unbind(1), box), 1)
    size = tuple(full_in.shape[-2:])
    if windows is None:
        maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    else:  # the same bilinear weights as F.interpolate's, for the window's rows and columns only
        rows = torch.stack([bilinear_matrix(h, big_h, top, size[0]) for top, _, big_h, _ in windows])
        cols = torch.stack([bilinear_matrix(w, big_w, left, size[1]) for _, left, _, big_w in windows])
        maps = rows[:, None].to(maps) @ maps @ cols[:, None].transpose(-1, -2).to(maps)
    coef_a, coef_b = maps.split([9, 3], 1)  # split, not slices: a slice's gradient is a whole zero map
    coef_a = coef_a.reshape(n, 3, 3, *size)  # coef_a[:, i, c]: input i in c
    return ((full_in[:, :, None] * coef_a).sum(1) + coef_b).clamp(0, 1)


def bilinear_matrix(src, dst, start, count):
    """count x src weights of F.interpolate(mode="bilinear", align_corners=False) from src to dst
    samples along one axis, for the output samples start .. start + count - 1."""
    x = ((torch.arange(start, start + count, dtype=torch.float64) + 0.5) * src / dst - 0.5).clamp(min=0)
    i0 = x.floor().long().clamp(max=src - 1)
    frac = x - i0
    i1 = (i0 + 1).clamp(max=src - 1)
    m = torch.zeros(count, src, dtype=torch.float64)
    m[torch.arange(count), i0] += 1 - frac
    m[torch.arange(count), i1] += frac
    return m.float()


def _gaussian_window(like, size=11, sigma=1.5):
    x = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_loss(output, target):
    """1 - SSIM (Gaussian window sigma 1.5, as the metric), on N x 3 x H x W or 3 x H x W in [0, 1].
    On a CPU a few photos at a time (about CPU_SSIM_PIXELS), where the maps stay in cache: 1.5x
    faster than the whole batch at once. Split, not sliced: a slice's gradient is a zero map of
    the whole batch."""
    output, target = (t if t.dim() == 4 else t[None] for t in (output, target))
    n, _, h, w = output.shape
    chunk = max(1, CPU_SSIM_PIXELS // (h * w)) if output.device.type == "cpu" else n
    values = [_ssim_map(x, y).sum() for x, y in zip(output.split(chunk), target.split(chunk))]
    return 1 - sum(values) / (n * 3 * (h - 10) * (w - 10))


CPU_SSIM_PIXELS = 200_000


def _gaussian_blur(maps):
    """The metric's 11-tap Gaussian (sigma 1.5), 'valid', as two 1-D depthwise convolutions (on a
    CPU over channels-last maps, where they run 3-8x faster)."""
    c = maps.shape[1]
    g = _gaussian_window(maps).view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous()
    if maps.device.type == "cpu":
        maps = maps.contiguous(memory_format=torch.channels_last)
    return F.conv2d(F.conv2d(maps, g, groups=c), g.transpose(2, 3), groups=c)


def _ssim_map(output, target):
    # the target's two maps blurred apart: in training only the output's three carry a gradient
    mu_x, xx, xy = _gaussian_blur(torch.cat([output, output * output, output * target], 1)).chunk(3, 1)
    mu_y, yy = _gaussian_blur(torch.cat([target, target * target], 1)).chunk(2, 1)
    c1, c2 = 0.01**2, 0.03**2
    # (2 mu_x mu_y + c1)(2 cov + c2) / ((mu_x^2 + mu_y^2 + c1)(var_x + var_y + c2)), in fewer passes
    mu_xy, mu_sq = mu_x * mu_y, mu_x * mu_x + mu_y * mu_y
    num = (2 * mu_xy + c1) * (2 * (xy - mu_xy) + c2)
    return num / ((mu_sq + c1) * (xx + yy - mu_sq + c2))


# ---------------------------------------------------------------- the look (issue 28)

# Rec. 601 full-range YCbCr rows: luma, then the two colour-difference axes.
_YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def ycbcr(images):
    """3 x H x W or N x 3 x H x W RGB -> the same shape in Y, Cb, Cr (Cb, Cr centred on 0)."""
    matrix = torch.tensor(_YCBCR, dtype=images.dtype, device=images.device)
    return torch.einsum("ij,...jhw->...ihw", matrix, images)


def chroma_loss(output, target):
    """L1 of the colour-difference channels (Cb, Cr) alone: added to the RGB L1 it weights chroma
    up against luma, where a washed-out output costs little in RGB."""
    return F.l1_loss(ycbcr(output)[..., 1:, :, :], ycbcr(target)[..., 1:, :, :])


def global_stats(image):
    """A photo's (3 x H x W) global look as 7 numbers: luma mean and 2nd/50th/98th percentiles, mean
    chroma magnitude, mean Cb and Cr (N x 3 x H x W: N x 7)."""
    y, cb, cr = ycbcr(image).flatten(-2).unbind(-2)
    levels = torch.quantile(y, torch.tensor([0.02, 0.5, 0.98], dtype=y.dtype, device=y.device), dim=-1)
    means = [y.mean(-1), *levels, mean_chroma(image), cb.mean(-1), cr.mean(-1)]
    return torch.stack(means, -1)


def mean_chroma(images):
    """Mean chroma magnitude |(Cb, Cr)| of each image (3 x H x W -> a scalar, N x 3 x H x W -> N)."""
    cb, cr = ycbcr(images)[..., 1:, :, :].unbind(-3)
    return torch.sqrt(cb * cb + cr * cr + 1e-6).mean(dim=(-2, -1))


def saturation_loss(output, target):
    """|log| of the ratio of the output's mean chroma magnitude (Cb, Cr) to the target's: the
    saturation ratio evaluate.py reports, as a loss. Scale-free, so a washed-out dark photo costs as
    much as a bright one; one number per photo, so unlike a pixel L1 it cannot be met by shrinking
    the colours where the network is unsure of them."""
    return (torch.log(mean_chroma(output) + 1e-3) - torch.log(mean_chroma(target) + 1e-3)).abs().mean()


def global_stats_loss(output, target):
    """L1 between the output's and the target's global_stats: the per-photo brightness, black and
    white points and saturation that the pixel losses average away."""
    return F.l1_loss(global_stats(output), global_stats(target))
