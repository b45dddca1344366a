"""The multi-scale exposure-correction network (Afifi et al., CVPR 2021) and its discriminator.

Generator: a Laplacian pyramid of the input is computed inside the network (so an exported
graph needs no pyramid code on the device); one U-Net per level runs coarse to fine, each
level's result is upsampled by a learned 2x2 stride-2 transposed conv and added to the next
finer Laplacian band. Checkpoints carry the architecture keys, so predict/convert rebuild
exactly what was trained.
"""

import functools
import json
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from config import check_arch
from utils import atomic_write, check_size_multiple

# ---------------------------------------------------------------- the pyramid (one place)


def _gaussian_kernel(channels, like):
    """The 5x5 binomial kernel, one per channel. Made in numpy so that an ONNX trace records a
    constant of known shape rather than the ops that built it; kept per device and type, so that a
    GPU step does not copy it from the host at every level."""
    return _kernel_on(channels, like.device, like.dtype)


@functools.lru_cache(maxsize=32)
def _kernel_on(channels, device, dtype):
    k1 = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0
    kernel = torch.from_numpy(np.ascontiguousarray(np.broadcast_to(np.outer(k1, k1), (channels, 1, 5, 5))))
    return kernel.to(device=device, dtype=dtype)


def pyramid_down(x):
    """Blur with a 5x5 binomial kernel (reflect padding) and halve H and W."""
    return F.conv2d(
        F.pad(x, (2, 2, 2, 2), mode="reflect"), _gaussian_kernel(x.shape[1], x), stride=2, groups=x.shape[1]
    )


def pyramid_up(x):
    """Double H and W (bilinear): any fixed upsampler gives an exact round trip,
    because each band stores the difference to exactly this upsampling."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def gaussian_pyramid(x, level_count):
    """[full resolution, 1/2, ..., 1/2^(level_count-1)]."""
    levels = [x]
    for _ in range(level_count - 1):
        levels.append(pyramid_down(levels[-1]))
    return levels


def laplacian_pyramid(x, level_count):
    """Bands fine to coarse; the last entry is the coarsest Gaussian level."""
    gauss = gaussian_pyramid(x, level_count)
    bands = [g - pyramid_up(g_next) for g, g_next in zip(gauss[:-1], gauss[1:])]
    return bands + [gauss[-1]]


def reconstruct_laplacian(bands):
    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = band + pyramid_up(image)
    return image


# ---------------------------------------------------------------- sizes


def size_multiple(level_count, layer_counts):
    """H and W must be multiples of this: the level j-th from the coarsest is 2^(n-1-j) smaller
    than the image and its U-Net halves it layer_counts[j]-1 more times."""
    return max(2 ** (level_count - 1 - j) * 2 ** (depth - 1) for j, depth in enumerate(layer_counts))


# ---------------------------------------------------------------- attention blocks


class MultiScaleChannelAttention(nn.Module):
    """MS-CAM of Attentional Feature Fusion (Dai et al. 2021): local (pointwise) plus global
    (pooled) channel context. Normalisation layers are left out, as in the rest of the net."""

    def __init__(self, channels, reduction):
        super().__init__()
        inner = max(channels // reduction, 1)
        self.local = nn.Sequential(
            nn.Conv2d(channels, inner, 1), nn.ReLU(inplace=True), nn.Conv2d(inner, channels, 1)
        )
        self.glob = nn.Sequential(
            nn.Conv2d(channels, inner, 1), nn.ReLU(inplace=True), nn.Conv2d(inner, channels, 1)
        )

    def forward(self, x):
        return torch.sigmoid(self.local(x) + self.glob(x.mean(dim=(2, 3), keepdim=True)))


class IterativeAttentionalFusion(nn.Module):
    """iAFF: fuse two same-shaped maps with learned per-pixel, per-channel weights, the
    weights themselves computed from a first attentional fusion."""

    def __init__(self, channels, reduction):
        super().__init__()
        self.first = MultiScaleChannelAttention(channels, reduction)
        self.second = MultiScaleChannelAttention(channels, reduction)

    def forward(self, x, y):
        w = self.first(x + y)
        fused = x * w + y * (1 - w)
        w = self.second(fused)
        return x * w + y * (1 - w)


class PolarizedSelfAttention(nn.Module):
    """Sequential polarized self-attention (Liu et al. 2021): channel-only then spatial-only."""

    def __init__(self, channels):
        super().__init__()
        half = max(channels // 2, 1)
        self.ch_query, self.ch_value = nn.Conv2d(channels, 1, 1), nn.Conv2d(channels, half, 1)
        self.ch_up = nn.Conv2d(half, channels, 1)
        self.ch_norm = nn.LayerNorm([channels, 1, 1])
        self.sp_query, self.sp_value = nn.Conv2d(channels, half, 1), nn.Conv2d(channels, half, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        q = torch.softmax(self.ch_query(x).reshape(n, 1, h * w), dim=-1)  # N,1,HW
        v = self.ch_value(x).reshape(n, -1, h * w)  # N,C/2,HW
        z = torch.matmul(v, q.transpose(1, 2)).unsqueeze(-1)  # N,C/2,1,1
        x = x * torch.sigmoid(self.ch_norm(self.ch_up(z)))
        q = torch.softmax(self.sp_query(x).mean(dim=(2, 3)), dim=-1).unsqueeze(1)  # N,1,C/2
        v = self.sp_value(x).reshape(n, -1, h * w)  # N,C/2,HW
        return x * torch.sigmoid(torch.matmul(q, v).reshape(n, 1, h, w))


# ---------------------------------------------------------------- the global colour head


class GlobalHead(nn.Module):
    """use_global_head: one colour matrix with offset and three tone curves per photo, applied to
    the input before the pyramid, so that the U-Nets' capacity goes to local corrections. Starts as
    the identity (its last layer is zero), so a trained pyramid network warm-starts it unchanged.

    What it decides from (`view`):
    - "blocks": the photo averaged over 2^(levels-1) x 2^(levels-1) blocks (16x16 at 128 px);
    - "whole": a thumbnail 4x finer on each side (64 px at 128) through a deeper small CNN, beside
      soft histograms of the whole photo's luminance, each channel and saturation.
    With `auto_strength` it also predicts how far the photo is from well exposed, a strength in
    (0, 1) by which the generator scales its whole correction (returned as a second output).
    Written with 4-D ops only (no einsum, no 5-D tensors), which ONNX and Rockchip's NPU take."""

    def __init__(self, pool, knots=8, width=64, view="blocks", auto_strength=False):
        super().__init__()
        self.knots, self.view, self.auto_strength = knots, view, auto_strength
        whole = view == "whole"
        self.pool = max(1, pool // 4) if whole else pool
        widths = [16, 32, width, width] if whole else [16, 32, width]
        layers, cin = [], 3
        for i, cout in enumerate(widths):
            layers += [nn.Conv2d(cin, cout, 3, stride=1 if i == 0 and not whole else 2, padding=1)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        inputs = 2 * width + (HISTOGRAM_FEATURES if whole else 0)
        self.mlp = nn.Sequential(nn.Linear(inputs, width), nn.LeakyReLU(0.2, inplace=True))
        self.params = nn.Linear(width, 12 + 3 * knots)  # 3x3 matrix, 3 offsets, 3 curves' slopes
        nn.init.zeros_(self.params.weight), nn.init.zeros_(self.params.bias)
        if auto_strength:  # starts at sigmoid(3) = 0.95 for every photo
            self.strength = nn.Linear(width, 1)
            nn.init.zeros_(self.strength.weight), nn.init.constant_(self.strength.bias, 3.0)

    def forward(self, x):
        thumb = F.avg_pool2d(x, self.pool)
        f = self.features(thumb)
        f = [f.mean(dim=(2, 3)), f.amax(dim=(2, 3))]
        if self.view == "whole":
            f.append(soft_histograms(thumb))
        h = self.mlp(torch.cat(f, 1))
        y = apply_colour(x, self.params(h), self.knots)
        return (y, torch.sigmoid(self.strength(h))) if self.auto_strength else y


# Bins of the whole view's histograms: luminance finer than each channel and saturation.
HISTOGRAM_BINS = {"luminance": 32, "channel": 16, "saturation": 16}
HISTOGRAM_FEATURES = sum(HISTOGRAM_BINS.values()) + 2 * HISTOGRAM_BINS["channel"]  # one per channel


def soft_histograms(x):
    """N x 3 x H x W in [0, 1] -> N x HISTOGRAM_FEATURES: the share of pixels in each bin with
    triangular (linear) binning, so each histogram sums to 1 and moves smoothly with the photo.
    Outside an export, each pixel adds its two weights to its two bins (soft_histograms_pixels);
    exported, every bin's weight of every pixel in 4-D ops (soft_histograms_4d). The same values
    to float rounding (tests/test_model.py); the photo needs no gradient, so none flows here."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return soft_histograms_4d(x)
    return soft_histograms_pixels(x)


def _histogram_signals(x):
    """(signal, bins) in HISTOGRAM_FEATURES' order: luminance, each channel, saturation."""
    luminance = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    saturation = x.amax(dim=1, keepdim=True) - x.amin(dim=1, keepdim=True)
    return [(luminance, HISTOGRAM_BINS["luminance"]), (x, HISTOGRAM_BINS["channel"])] + [
        (saturation, HISTOGRAM_BINS["saturation"])
    ]


def soft_histograms_4d(x):
    out = []
    for signals, bins in _histogram_signals(x):
        centres = torch.linspace(0, 1, bins, device=x.device, dtype=x.dtype).reshape(1, bins, 1, 1)
        for c in range(signals.shape[1]):  # one channel at a time: 4-D tensors only
            signal = signals[:, c : c + 1]
            weight = (1 - (signal.clamp(0, 1) - centres).abs() * (bins - 1)).clamp(min=0)
            out.append(weight.mean(dim=(2, 3)))
    return torch.cat(out, 1)


def soft_histograms_pixels(x):
    """soft_histograms by scatter-add: 16x faster than the 4-D form on a 256 px thumbnail (the
    head's view of a 512 px working photo), where that took half a second for 16 photos."""
    n, out = x.shape[0], []
    for signal, bins in _histogram_signals(x):
        at = signal.clamp(0, 1).reshape(n, signal.shape[1], -1) * (bins - 1)
        low = at.detach().floor().clamp(max=bins - 2)
        upper = at - low  # the upper bin's weight, the lower's is 1 - it
        low = low.long()
        counts = torch.zeros(n, signal.shape[1], bins, dtype=x.dtype, device=x.device)
        counts = counts.scatter_add(2, low, 1 - upper).scatter_add(2, low + 1, upper)
        out.append(counts.flatten(1) / at.shape[-1])
    return torch.cat(out, 1)


def apply_colour(x, p, knots):
    """The head's transform: (I + matrix) x + offset, then per-channel piecewise-linear curves on
    [0, 1]: slope 1 + s_k (at least 0.05) on the k-th of `knots` equal segments; all parameters 0
    is the identity, and a curve never falls. `p`: N x (12 + 3 knots). In training and in PyTorch
    prediction, one matrix product and each pixel's own segment looked up (apply_colour_pixels);
    exported, the same maths in 4-D element-wise ops (apply_colour_4d), which ONNX and Rockchip's
    NPU take. They agree to float rounding, gradients too (tests/test_model.py)."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return apply_colour_4d(x, p, knots)
    return apply_colour_pixels(x, p, knots)


def apply_colour_4d(x, p, knots):
    n, k = x.shape[0], knots
    matrix, offset = p[:, :9], p[:, 9:12]
    y = x + offset.reshape(n, 3, 1, 1)
    for j in range(3):
        y = y + matrix[:, j::3].reshape(n, 3, 1, 1) * x[:, j : j + 1]
    slopes = (1 + p[:, 12:].reshape(n, 3, k)).clamp(min=0.05)
    out = 0
    for i in range(k):
        segment = (y - i / k).clamp(0, 1 / k)
        out = out + slopes[:, :, i].reshape(n, 3, 1, 1) * segment
    return out


def apply_colour_pixels(x, p, knots):
    """apply_colour over the pixels as rows of 3 (a view of a channels-last photo): the 4-D form's
    ~40 passes over the photo, each saved for backward, made ~6; 4.6x faster forward and backward
    at 16 x 512 px on the 2-core CPU, where the head took as long as the pyramid's U-Nets. The curve
    on segment j is start_j + slope_j * y, start_j the curve's value at j/k less slope_j * j/k.
    Float32 throughout, as the 4-D form's element-wise ops are under autocast."""
    n, k = x.shape[0], knots
    with torch.autocast(x.device.type, enabled=False):
        p = p.float()
        matrix = torch.eye(3, dtype=p.dtype, device=p.device) + p[:, :9].reshape(n, 3, 3)
        pixels = x.float().permute(0, 2, 3, 1).reshape(n, -1, 3)
        y = torch.baddbmm(p[:, None, 9:12], pixels, matrix.transpose(1, 2)).clamp(0, 1)
        slopes = (1 + p[:, 12:].reshape(n, 3, k)).clamp(min=0.05)
        at = torch.arange(k, dtype=p.dtype, device=p.device) / k
        starts = (torch.cumsum(slopes, -1) - slopes) / k - slopes * at
        segment = (y.detach() * k).floor_().clamp_(max=k - 1).long()
        look_up = lambda table: torch.gather(table.transpose(1, 2), 1, segment)  # N x pixels x 3
        out = look_up(starts) + look_up(slopes) * y
    out = out.reshape(n, *x.shape[2:], 3).permute(0, 3, 1, 2)  # channels-last strides
    return out if x.is_contiguous(memory_format=torch.channels_last) else out.contiguous()  # x's layout


# ---------------------------------------------------------------- generator


def _double_conv(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
    )


class UNet(nn.Module):
    """`depth` resolution levels, `channels` in the first, doubling at each down-step.
    Predicts a residual: the level's corrected image is its input plus the U-Net's output."""

    def __init__(self, depth, channels, use_iaff=False, iaff_r=4, use_psa=False):
        super().__init__()
        widths = [channels * 2**i for i in range(depth)]
        self.encoders = nn.ModuleList(_double_conv(cin, cout) for cin, cout in zip([3] + widths[:-1], widths))
        # PSA at the bottleneck: the coarsest map is where global context pays off and
        # where attention over H*W positions is cheapest.
        self.bottleneck_attention = PolarizedSelfAttention(widths[-1]) if use_psa else nn.Identity()
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(depth - 1)
        )
        # iAFF replaces the plain concatenation of skip and upsampled decoder features, so
        # the net learns how much of each to keep per channel and pixel.
        self.fusions = (
            nn.ModuleList(IterativeAttentionalFusion(widths[i], iaff_r) for i in range(depth - 1))
            if use_iaff
            else None
        )
        self.decoders = nn.ModuleList(
            _double_conv(widths[i] * (1 if use_iaff else 2), widths[i]) for i in range(depth - 1)
        )
        self.head = nn.Conv2d(widths[0], 3, 1)

    def forward(self, x):
        skips, h = [], x
        for i, encoder in enumerate(self.encoders):
            if i:
                h = F.max_pool2d(h, 2)
            h = encoder(h)
            skips.append(h)
        h = self.bottleneck_attention(skips.pop())
        for i in reversed(range(len(self.decoders))):
            up, skip = self.ups[i](h), skips[i]
            h = self.decoders[i](
                self.fusions[i](skip, up) if self.fusions is not None else torch.cat([skip, up], 1)
            )
        return x + self.head(h)


class Generator(nn.Module):
    def __init__(
        self,
        laplacian_level_count,
        layer_count_of_every_unet,
        first_layer_out_channels_of_every_unet,
        use_iaff=False,
        iaff_r=4,
        use_psa=False,
        use_global_head=False,
        global_view="blocks",
        auto_strength=False,
    ):
        super().__init__()
        self.level_count = laplacian_level_count
        pool = 2 ** (laplacian_level_count - 1)
        self.global_head = (
            GlobalHead(pool, view=global_view, auto_strength=auto_strength) if use_global_head else None
        )
        self.multiple = size_multiple(laplacian_level_count, layer_count_of_every_unet)
        # Index 0 is the coarsest level, as the conf lists U-Nets coarse to fine.
        self.unets = nn.ModuleList(
            UNet(d, c, use_iaff, iaff_r, use_psa)
            for d, c in zip(layer_count_of_every_unet, first_layer_out_channels_of_every_unet)
        )
        # iAFF is not used where a level's result meets the next band: with 3 channels there is
        # nothing to reduce, and the sum already is the pyramid's own reconstruction rule.
        self.level_ups = nn.ModuleList(
            nn.ConvTranspose2d(3, 3, 2, stride=2) for _ in range(laplacian_level_count - 1)
        )
        for up in self.level_ups:  # start as nearest-neighbour upsampling, i.e. a plain pyramid
            nn.init.zeros_(up.bias)
            with torch.no_grad():
                up.weight.zero_()
                up.weight[range(3), range(3)] = 1.0

    def forward(self, x, return_levels=False):
        """x: N x 3 x H x W in [0, 1]. Returns the corrected image (not clamped), or with
        return_levels the per-level results coarse to fine (the last is the image)."""
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            check_size_multiple(x.shape[-2], x.shape[-1], self.multiple)
        source, strength = x, None
        if self.global_head is not None:
            x = self.global_head(x)
            if self.global_head.auto_strength:
                x, strength = x
        bands = laplacian_pyramid(x, self.level_count)[::-1]  # coarse to fine
        outputs = [self.unets[0](bands[0])]
        for unet, up, band in zip(self.unets[1:], self.level_ups, bands[1:]):
            outputs.append(unet(band + up(outputs[-1])))
        if strength is not None:  # each level moves from the input's own level by the strength
            s = strength.reshape(-1, 1, 1, 1)
            inputs = gaussian_pyramid(source, self.level_count)[::-1]
            outputs = [a + s * (b - a) for a, b in zip(inputs, outputs)]
        return outputs if return_levels else outputs[-1]


class Discriminator(nn.Module):
    """Stride-2 convolutions down to a few pixels, then one real/fake logit per image."""

    def __init__(self, image_size, channels=32, max_channels=256):
        super().__init__()
        layers, cin, side = [], 3, min(image_size)
        while side > 8:
            cout = min(channels, max_channels)
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin, channels, side = cout, channels * 2, side // 2
        self.features = nn.Sequential(*layers)
        self.logit = nn.Linear(cin, 1)

    def forward(self, x):
        return self.logit(self.features(x).mean(dim=(2, 3))).squeeze(1)


# ---------------------------------------------------------------- build and checkpoints (one place)


# Architecture keys added after the first checkpoints were written, and what older ones mean by them.
ARCH_DEFAULTS = {"use_global_head": False, "global_view": "blocks", "auto_strength": False}


def build_generator(arch):
    return Generator(**arch)


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())


# A checkpoint is a dict that torch.load(weights_only=True) reads: "arch" (the architecture keys)
# and "generator" (its state dict) always; "conf" (the train section it was trained with) where
# train.py wrote it or a release kept it; best.pth adds "epoch", "valid_psnr", "valid_ssim";
# last.pth adds what resuming needs: "discriminator", "optimizer_g", "optimizer_d", "epoch",
# "best_psnr", "history", "rng" (train.rng_states, tensors and plain types only) and "conf".


def save_checkpoint(path, payload):
    """Write atomically: a kill at any moment leaves the old file whole."""
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path, fallback_arch=None):
    """A checkpoint's dict, safely unpickled; ValueError naming the file if it is not one of ours.
    A bare state dict (weights with no architecture) is read as `fallback_arch` where one is given
    (the architecture keys of the script's conf section)."""
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises pickle, zip and runtime errors for foreign files
        raise ValueError(
            f"{path} is not a model this project reads (a .pth checkpoint of train.py, or a .onnx "
            f"of convert_2_onnx.py)"
        ) from None
    tensors = isinstance(checkpoint, dict) and all(torch.is_tensor(v) for v in checkpoint.values())
    bare = tensors and bool(checkpoint)
    if bare and fallback_arch:
        checkpoint = {"arch": dict(fallback_arch), "generator": checkpoint}
    if not isinstance(checkpoint, dict) or "arch" not in checkpoint or "generator" not in checkpoint:
        raise ValueError(f"{path} is not an exposure-correct checkpoint (no 'arch'/'generator' entries)")
    for key, value in ARCH_DEFAULTS.items():  # keys added since it was written
        checkpoint["arch"].setdefault(key, value)
    return checkpoint


def export_generator_weights(path, generator, arch, half=False, extra=None):
    state = {
        k: (v.half() if half and v.is_floating_point() else v) for k, v in generator.state_dict().items()
    }
    save_checkpoint(path, {"arch": dict(arch), "generator": state, **(extra or {})})


def release(path, out_path):
    """The file to ship from any checkpoint: its generator's weights in float16 (half the size, the
    same outputs to 8-bit rounding), its architecture and the train section it was trained with."""
    checkpoint = read_checkpoint(path)
    generator, arch = load_generator(path)
    export_generator_weights(out_path, generator, arch, half=True, extra={"conf": checkpoint.get("conf", {})})


def load_generator(path, asked=None, fallback=None, device="cpu"):
    """Rebuild the generator of any checkpoint train.py writes (best.pth, last.pth) or the shipped
    file, with the architecture it carries. `asked`: architecture keys set on the command line,
    which must agree with it (config.ConfError if not); `fallback`: the architecture of weights
    that carry none (a bare state dict). ValueError for a file that is not a checkpoint."""
    checkpoint = read_checkpoint(path, fallback)
    arch = checkpoint["arch"]
    check_arch(asked or {}, arch, f"the checkpoint {path}")
    generator = build_generator(arch)
    try:
        generator.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in checkpoint["generator"].items()}
        )
    except RuntimeError as e:  # the weights and the architecture do not match
        first = str(e).strip().splitlines()[1].strip() if len(str(e).splitlines()) > 1 else "mismatch"
        raise ValueError(f"{path}: its weights do not fit the architecture {arch} ({first})") from None
    return generator.to(device).eval(), arch


def init_from_smaller(generator, path):
    """Warm-start `generator` from a checkpoint of an architecture it extends (e.g. the shipped
    model into a use_psa one): every tensor of the checkpoint must find a tensor of the same name and
    shape here; the generator's other tensors (the added modules) keep their fresh initialisation.
    Returns their names; ValueError naming the first tensor that does not fit."""
    own = generator.state_dict()
    loaded = read_checkpoint(path)["generator"]
    for name, tensor in loaded.items():
        if name not in own or own[name].shape != tensor.shape:
            where = "has no such tensor" if name not in own else f"holds it as {tuple(own[name].shape)}"
            raise ValueError(
                f"{path} does not fit this architecture: its {name} {tuple(tensor.shape)}, the model {where}"
            )
    own.update({k: v.to(own[k].dtype) for k, v in loaded.items()})
    generator.load_state_dict(own)
    return [k for k in own if k not in loaded]


# ---------------------------------------------------------------- ONNX export


def export_onnx(generator, arch, path, shape, dynamic, opset=17):
    """TorchScript exporter (dynamo=False): its graphs run fully on Rockchip NPUs. One input
    `image`, one output `corrected` clamped to [0, 1]; the architecture and the size multiple go
    into the metadata."""
    import onnx

    class Clamped(nn.Module):  # the device gets a displayable image, no post-processing
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, image):
            return self.net(image).clamp(0, 1)

    axes = {
        "image": {0: "batch", 2: "height", 3: "width"},
        "corrected": {0: "batch", 2: "height", 3: "width"},
    }

    def write(tmp):
        with warnings.catch_warnings():
            # Known and harmless for this graph: the exporter's deprecation notice, the tracer's
            # notes on shape arithmetic, and constant folding of the pyramid kernels.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
            torch.onnx.export(
                Clamped(generator.eval()),
                torch.rand(*shape),
                tmp,
                input_names=["image"],
                output_names=["corrected"],
                dynamic_axes=axes if dynamic else None,
                opset_version=opset,
                dynamo=False,
            )
        graph = onnx.load(tmp)
        for key, value in (
            ("arch", json.dumps(arch)),
            ("size_multiple", str(generator.multiple)),
            ("input", "RGB, N x 3 x H x W float32 in [0, 1]"),
            ("output", "corrected RGB, same layout"),
        ):
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(graph)
        onnx.save(graph, tmp)

    atomic_write(path, write)
