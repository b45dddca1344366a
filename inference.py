"""Running a trained generator on photos, shared by predict, evaluate, convert_2_rknn and benchmark.

The backends (PyTorch for .pth, ONNX Runtime for .onnx), the working-size rule, self-ensemble,
guided upsampling (the one home of its formula: training lifts its outputs with the same
`fit_affine_planes`) and the correction strength. No torch at import time: the ONNX path runs
without it.
"""

import json
import os

import cv2
import numpy as np

from config import check_arch
from utils import fit_long_side, pad_bottom_right, resize

# ---------------------------------------------------------------- backends


class Backend:
    """run(batch N x 3 x H x W float32 in [0, 1]) -> corrected batch, clipped to [0, 1];
    multiple: H and W must be multiples of it; fixed_size: (H, W) of a static-shape model, or None."""

    def __init__(self, run, multiple, arch, fixed_size=None):
        self.run, self.multiple, self.arch, self.fixed_size = run, multiple, arch, fixed_size


def load_backend(model_path, asked=None, fallback=None):
    """A .onnx runs in ONNX Runtime, anything else is a checkpoint for PyTorch, each with the
    architecture it carries. `asked`: architecture keys set on the command line, which must agree
    with the model's (config.ConfError if not); `fallback`: the architecture of bare weights."""
    if not os.path.isfile(model_path):
        onnx = model_path.lower().endswith(".onnx")
        hint = " (python convert_2_onnx.py makes it from a .pth)" if onnx else ""
        raise ValueError(f"model file not found: {model_path}{hint}")
    if model_path.lower().endswith(".onnx"):
        return load_onnx_backend(model_path, asked)
    return load_torch_backend(model_path, asked, fallback)


def load_onnx_backend(path, asked=None):
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(path, providers=ort.get_available_providers())
    except Exception as e:  # onnxruntime raises its own exception types for a bad file
        raise ValueError(f"{path} is not a readable ONNX model ({str(e).splitlines()[0][:120]})") from None
    meta = session.get_modelmeta().custom_metadata_map
    if "arch" not in meta:
        raise ValueError(f"{path} has no 'arch' metadata: export it with convert_2_onnx.py")
    arch = json.loads(meta["arch"])
    check_arch(asked or {}, arch, path)
    input_name = session.get_inputs()[0].name
    shape = session.get_inputs()[0].shape
    fixed = tuple(shape[2:]) if all(isinstance(s, int) for s in shape[2:]) else None
    fixed_batch = shape[0] if isinstance(shape[0], int) else None

    def run(batch):
        if fixed_batch and len(batch) != fixed_batch:  # a static batch: run one slice at a time
            return np.concatenate([run(batch[i : i + 1]) for i in range(len(batch))])
        # No clip here: the exported graph ends in a clamp to [0, 1] (convert_2_onnx.export_onnx).
        return session.run(None, {input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    return Backend(run, int(meta["size_multiple"]), arch, fixed)


def load_torch_backend(path, asked=None, fallback=None):
    import torch

    from model import load_generator

    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator, arch = load_generator(path, asked, fallback, device)

    def run(batch):
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(device)
            return generator(x).clamp(0, 1).cpu().numpy()

    return Backend(run, generator.multiple, arch)


# ---------------------------------------------------------------- correction


def network_size(height, width, backend, max_side, image_size=None):
    """The size the network runs at, before padding to the multiple: a static model's own size,
    else `image_size` when given, else the photo shrunk to `max_side` on its long side (0: never)."""
    if backend.fixed_size:
        return tuple(backend.fixed_size)
    if image_size:
        return tuple(image_size)
    return fit_long_side(height, width, max_side) if max_side else (height, width)


def shrink(photo, height, width, strip_rows=256):
    """The photo at height x width (utils.resize), from an array or from a row function
    (photo.read_photo(rows=True)); a row function's photo is shrunk in strips across (area
    averages of whole rows), then down: the same averages to float rounding, never whole in float."""
    full_h, full_w = photo.shape[:2]
    if not callable(photo) or height * width >= full_h * full_w:
        whole = photo(0, full_h) if callable(photo) else photo
        return whole if whole.shape[:2] == (height, width) else resize(whole, height, width)
    across = [
        cv2.resize(
            photo(top, strip_rows), (width, min(strip_rows, full_h - top)), interpolation=cv2.INTER_AREA
        )
        for top in range(0, full_h, strip_rows)
    ]
    return cv2.resize(np.concatenate(across), (width, height), interpolation=cv2.INTER_AREA)


def small_photo(photo, height, width, natives=None):
    """The photo at the network's size in sRGB, clipped (a wide-gamut photo holds sRGB values
    beyond [0, 1]). A photo read with a profile of its own is shrunk in that space and only the
    small picture converted; that picture is appended to `natives` (else None is)."""
    native = getattr(photo, "native", None)
    small = None if native is None else shrink(native, height, width)
    if natives is not None:
        natives.append(small)
    if small is None:
        return np.clip(shrink(photo, height, width), 0, 1)
    return np.clip(photo.to_srgb(small.copy()), 0, 1)


def run_network(batch, backend, ensemble=False):
    """The backend on an N x 3 x H x W batch; with `ensemble`, the mean over the four flips (none,
    horizontal, vertical, both), each flipped back: a cheap self-ensemble at a small working size."""
    if not ensemble:
        return backend.run(batch)
    total = backend.run(batch)
    for axes in ((3,), (2,), (2, 3)):
        total += np.flip(backend.run(np.ascontiguousarray(np.flip(batch, axes))), axes)
    return total / 4


def network_outputs(photos, backend, max_side, image_size=None, ensemble=False, natives=None):
    """(network input, network output) at the network size for each float RGB photo (H x W x 3
    in [0, 1]); the photos must share a network size (network_size). Padded to the size multiple
    at the bottom and right (as training pads) and cropped back. `natives`: a list that takes
    each photo's network-size picture in its own profile's space (None without one)."""
    sizes = {network_size(*p.shape[:2], backend, max_side, image_size) for p in photos}
    assert len(sizes) == 1, "photos in one batch must share a network size"
    net_h, net_w = sizes.pop()
    small = [small_photo(p, net_h, net_w, natives) for p in photos]
    m = backend.multiple
    pad_h, pad_w = -(-net_h // m) * m, -(-net_w // m) * m
    if backend.fixed_size and (pad_h, pad_w) != tuple(backend.fixed_size):
        raise ValueError(
            f"the model takes {backend.fixed_size} only; export it with dynamic_bhw for other sizes"
        )
    padded = np.stack([pad_bottom_right(s, pad_h, pad_w) for s in small]).transpose(0, 3, 1, 2)
    outputs = run_network(padded, backend, ensemble).transpose(0, 2, 3, 1)[:, :net_h, :net_w]
    return list(zip(small, outputs))


def correct_batch(
    photos, backend, max_side, guided=True, image_size=None, ensemble=False, strength=1.0, clip=True
):
    """Correct float RGB photos (H x W x 3 in [0, 1]) that share a network size (network_size);
    each result has its photo's exact size. Reduced photos are lifted back by guided upsampling
    (`guided`) or plain resizing. `strength` scales the correction (0: none, 1: the model's).
    Results are in [0, 1]; with clip=False guided results are not clipped, so that the colours a
    wide-gamut photo holds outside sRGB survive to photo.write_photo, which clips in its own space."""
    results = lazy_results(photos, backend, max_side, guided, image_size, ensemble, strength, clip)
    return [r if isinstance(r, np.ndarray) else r(0, r.shape[0]) for r in results]


def lazy_results(
    photos, backend, max_side, guided=True, image_size=None, ensemble=False, strength=1.0, clip=True,
    biases=None, notes=None,
):
    """correct_batch's results, a guided one as a renderer (correction_renderer) that gives its rows
    on demand: photo.write_photo takes it strip by strip, so the full-size result never exists in
    float (predict.py: memory grows with the photo's width, not its area, beyond the photo itself).
    `biases`: each photo's exposure compensation in stops, or None (intended_strength); a photo's
    correction tempered for it adds (its index, intent_note) to the list `notes`."""
    results, natives = [], []
    outputs = network_outputs(photos, backend, max_side, image_size, ensemble, natives)
    for i, (photo, (low_in, low_out)) in enumerate(zip(photos, outputs)):
        bias = biases[i] if biases else None
        s = intended_strength(strength, bias, low_in, low_out)
        if notes is not None and s != strength:
            notes.append((i, intent_note(bias, s / strength)))
        full_size = photo.shape[:2] == low_in.shape[:2]
        if guided:
            correction = fitted_correction(low_in, low_out, full_size, photo, natives[i])
            results.append(correction_renderer(photo, correction, s, clip))
        elif full_size and s == 1:
            results.append(np.ascontiguousarray(low_out))
        else:
            lifted = low_out if full_size else resize(low_out, *photo.shape[:2])
            whole = photo(0, photo.shape[0]) if callable(photo) else photo
            results.append(np.clip(lifted if s == 1 else whole + s * (lifted - whole), 0, 1))
    return results


def intended_strength(strength, exposure_bias, low_in, low_out):
    """The strength for a photo shot with exposure compensation (`exposure_bias` stops, EXIF
    ExposureBiasValue): the photographer chose to make it darker (or brighter) than the meter did,
    so a correction the other way undoes a choice, not an error. Such a correction is tempered, to
    half at 1 stop and to none from 2 stops; one the same way as the tag, or a photo without the
    tag, keeps `strength`. The way is the mean level of the network's output against its input."""
    if not exposure_bias:
        return strength
    moves = float(np.mean(low_out)) - float(np.mean(low_in))
    if exposure_bias * moves >= 0:
        return strength
    return strength * min(1.0, max(0.0, 1 - abs(exposure_bias) / 2))


def intent_note(exposure_bias, share):
    """What intended_strength did, in a photographer's words."""
    way, undone = ("darker", "brightened") if exposure_bias < 0 else ("brighter", "darkened")
    return (
        f"shot {abs(exposure_bias):.2g} EV {way} on purpose (exposure compensation): "
        f"{undone} {share:.0%} as far as without it"
    )


def correct_image(
    rgb, backend, max_side, guided=True, image_size=None, ensemble=False, strength=1.0, clip=True
):
    return correct_batch([rgb], backend, max_side, guided, image_size, ensemble, strength, clip)[0]


def prepare_correction(photo, backend, max_side, image_size=None, ensemble=False):
    """What the network says about one photo, kept so that another strength re-renders without
    running it again (app.py): the network's input and output and the fitted affine maps."""
    natives = []
    low_in, low_out = network_outputs([photo], backend, max_side, image_size, ensemble, natives)[0]
    return fitted_correction(low_in, low_out, photo.shape[:2] == low_in.shape[:2], photo, natives[0])


# A photo no larger than the working size is corrected at its own size, where the network's output
# shows the 8 px blocks of its coarsest level (2^(levels-1)) as a faint grid: its maps are fitted
# over windows wider than a block (radius 4: 9 px), which the lift from a smaller size does anyway.
FULL_SIZE_RADIUS = 4


def fitted_correction(low_in, low_out, full_size=False, photo=None, native_in=None):
    """The affine maps from the network's input to its output (both sRGB at the network's size).
    Given the photo's network-size picture in its own profile's space (`native_in`), the maps are
    fitted there, from it to the output taken into that space, and marked "native": applied to the
    photo's own rows they give the result in its profile (a Display P3 photo is never converted at
    full size, and at strength 0 comes back exactly)."""
    radius = max(guided_radius(*low_in.shape[:2]), FULL_SIZE_RADIUS) if full_size else None
    fit_in, fit_out = (low_in, low_out) if native_in is None else (native_in, photo.from_srgb(low_out))
    maps = fit_maps(fit_in, fit_out, radius)
    return {"low_in": low_in, "low_out": low_out, "maps": maps, "native": native_in is not None}


def render_correction(photo, correction, strength=1.0, clip=True):
    """The guided result at `strength`: the maps, scaled to the strength, applied at the photo's
    full resolution (at the network's size too: no block grid, and strength acts on maps)."""
    return apply_affine_maps(*scale_strength(*correction["maps"], strength), photo, clip=clip)


def correction_renderer(photo, correction, strength=1.0, clip=True):
    """render_correction by rows: render(top, count) gives rows top .. top + count - 1 of the
    result (the same values); render.shape is the result's (H, W)."""
    coef_a, coef_b = scale_strength(*correction["maps"], strength)
    source = photo.native if correction.get("native") else photo

    def render(top, count):
        return apply_affine_maps(
            coef_a, coef_b, source, clip=clip, rows=(top, min(top + count, photo.shape[0]))
        )

    render.shape = photo.shape[:2]
    render.native = bool(correction.get("native"))  # photo.write_photo: already in the profile's space
    if render.native:
        render.to_srgb = photo.to_srgb  # for a result written without its profile
    return render


# ---------------------------------------------------------------- guided upsampling (the one formula)

GUIDED_EPS = 1e-3


def guided_radius(height, width):
    """Window radius at the network's size: about 1/128 of the long side, at least 2."""
    return max(2, round(max(height, width) / 128))


def fit_affine_maps(low_in, low_out, box, xp, eps=GUIDED_EPS):
    """Fit, in each (2r+1)^2 window, the affine colour map out = A @ in + b (least squares, ridge
    `eps` towards the identity), then average the coefficients over windows. low_in, low_out:
    (..., H, W, 3) numpy arrays or torch tensors, `xp` their module, `box` a window mean over the
    H and W axes of (..., H, W, C). Returns A (..., H, W, 3, 3) with A[i, c] the weight of input
    channel i in output c, and b (..., H, W, 3): fit_affine_planes on the channel planes."""

    def box_planes(planes):
        return tuple(xp.moveaxis(box(xp.stack(planes, -1)), -1, 0))

    planes = fit_affine_planes(
        tuple(xp.moveaxis(low_in, -1, 0)), tuple(xp.moveaxis(low_out, -1, 0)), box_planes, eps
    )
    shape = tuple(low_in.shape[:-1])
    return xp.stack(planes[:9], -1).reshape(shape + (3, 3)), xp.stack(planes[9:], -1)


# the input's covariance is symmetric: its six distinct entries, in this order
SYMMETRIC_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def fit_affine_planes(ins, outs, box, eps=GUIDED_EPS):
    """fit_affine_maps on channel planes: `ins`, `outs` the three planes of the low-resolution input
    and output (arrays or tensors of one shape), `box` a window mean of a sequence of planes.
    Returns 12 planes: A[i][c] at 3 i + c, then b[c]. Each window solves the ridge-regularised
    normal equations (cov_in + eps I) A = cov_io + eps I in closed form (a symmetric 3x3 inverse
    by cofactors), so the same element-wise sums run in numpy and, differentiably, in torch. The
    ridge pulls A towards the identity, not 0: where a window is too flat to tell how the network
    scales detail, detail is kept as it is."""
    # the input's own statistics first, apart: in training they need no gradient
    firsts = box([*ins] + [ins[a] * ins[b] for a, b in SYMMETRIC_PAIRS])
    mean_in, squares = firsts[:3], firsts[3:]
    seconds = box([*outs] + [ins[a] * outs[c] for a in range(3) for c in range(3)])
    mean_out, cross = seconds[:3], seconds[3:]
    cov_in = [
        squares[k] - mean_in[a] * mean_in[b] + (eps if a == b else 0.0)
        for k, (a, b) in enumerate(SYMMETRIC_PAIRS)
    ]
    cov_io = [
        [cross[3 * a + c] - mean_in[a] * mean_out[c] + (eps if a == c else 0.0) for c in range(3)]
        for a in range(3)
    ]
    inv = symmetric_inverse(*cov_in)
    coef_a = [
        inv[a][0] * cov_io[0][c] + inv[a][1] * cov_io[1][c] + inv[a][2] * cov_io[2][c]
        for a in range(3)
        for c in range(3)
    ]
    coef_b = [
        mean_out[c] - mean_in[0] * coef_a[c] - mean_in[1] * coef_a[3 + c] - mean_in[2] * coef_a[6 + c]
        for c in range(3)
    ]
    return box(coef_a + coef_b)


def symmetric_inverse(s00, s01, s02, s11, s12, s22):
    """The inverse of the symmetric 3x3 matrix of these entries, element-wise over their planes:
    cofactors over the determinant (eps keeps the determinant away from 0)."""
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    r = 1 / (s00 * c00 + s01 * c01 + s02 * c02)
    c00, c01, c02, c11, c12, c22 = (c * r for c in (c00, c01, c02, c11, c12, c22))
    return ((c00, c01, c02), (c01, c11, c12), (c02, c12, c22))


def box_filter(radius):
    """numpy window mean for fit_affine_maps (H x W x C); reflect-101 borders, as torch's 'reflect'."""
    size = (2 * radius + 1, 2 * radius + 1)
    return lambda x: cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT_101)


def scale_strength(coef_a, coef_b, strength):
    """The correction at `strength` s in its own space: A -> I + s (A - I), b -> s b."""
    if strength == 1:
        return coef_a, coef_b
    coef_a = coef_a * strength
    for i in range(3):
        coef_a[..., i, i] += 1 - strength
    return coef_a, coef_b * strength


def fit_maps(low_in, low_out, radius=None, eps=GUIDED_EPS):
    """fit_affine_maps on numpy H x W x 3 photos, with prediction's window radius (guided_radius)."""
    radius = radius or guided_radius(*low_in.shape[:2])
    return fit_affine_maps(low_in.astype(np.float32), low_out.astype(np.float32), box_filter(radius), np, eps)


def guided_upsample(low_in, low_out, full_in, strength=1.0, radius=None, eps=GUIDED_EPS):
    """Lift a low-resolution correction to full resolution: the affine maps fitted between the
    low-resolution pair (fit_affine_maps), upsampled bilinearly and applied to the full-resolution
    input. Detail comes from the full-resolution input, the colour and tone change from the network
    (the paper's bilateral guided upsampling, in guided-filter form)."""
    coef_a, coef_b = fit_maps(low_in, low_out, radius, eps)
    coef_a, coef_b = scale_strength(coef_a, coef_b, strength)
    return apply_affine_maps(coef_a, coef_b, full_in)


def apply_affine_maps(coef_a, coef_b, full_in, strip_rows=64, out=None, clip=True, rows=None):
    """out = A @ in + b at full resolution, with A and b bilinearly upsampled (as cv2.resize
    would) strip by strip: each strip's coefficients come from a warpAffine of the small maps,
    so a 24-megapixel photo never needs full-size coefficient maps and stays in cache. `out`:
    float32 in [0, 1] by default (unclipped with clip=False); a uint8 array is filled with the
    result in 0..255, rounded. `rows` = (first, end): only those rows of the result (out holds
    end - first rows); each row's values are the same whatever range it is rendered in."""
    h, w = coef_b.shape[:2]
    full_h, full_w = full_in.shape[:2]
    first, end = rows or (0, full_h)
    sx, sy = w / full_w, h / full_h
    maps = [np.ascontiguousarray(coef_a[:, :, i, :]) for i in range(3)] + [np.ascontiguousarray(coef_b)]
    out = np.empty((end - first, full_w, 3), np.float32) if out is None else out
    for top in range(first, end, strip_rows):  # a range from a multiple of strip_rows: the same strips
        count = min(strip_rows, end - top)
        # dst (x, y) -> src ((x + 0.5) * sx - 0.5, (top + y + 0.5) * sy - 0.5): cv2.resize's bilinear grid.
        matrix = np.float32([[sx, 0, 0.5 * sx - 0.5], [0, sy, (top + 0.5) * sy - 0.5]])
        warp = lambda m: cv2.warpAffine(
            m,
            matrix,
            (full_w, count),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        strip = (
            full_in(top, count) if callable(full_in) else full_in[top : top + count]
        )  # read_photo(rows=True)
        at = slice(top - first, top - first + count)
        if strip.dtype != np.float32:  # one conversion per strip, not one per channel product
            strip = strip.astype(np.float32)
        acc = warp(maps[3])
        for i in range(3):
            gain = warp(maps[i])
            gain *= strip[:, :, i : i + 1]
            acc += gain
        if out.dtype == np.uint8:  # scaled, rounded and saturated in one pass (negatives clipped first)
            out[at] = cv2.convertScaleAbs(np.maximum(acc, 0, out=acc), alpha=255.0)
        elif clip:
            np.clip(acc, 0, 1, out=out[at])
        else:
            out[at] = acc
    return out
