"""Colour profiles: a photo's colours into sRGB and back, in float and unclipped (the one home of
the colour maths; photo.py reads and writes the files).

A matrix/TRC profile (Display P3, Adobe RGB, ProPhoto, camera profiles) is converted with float
maths: its tone curves as lookup tables interpolated by OpenCV, its matrix through XYZ (D50), so
that colours outside sRGB keep values below 0 or above 1 and a photo corrected at strength 0 comes
back as it was. A profile of another kind (lookup tables) goes through LittleCMS in 8 bits, and
the result is written in sRGB. No torch here: the ONNX path of predict.py imports this.
"""

import io
import struct

import cv2
import numpy as np
from PIL import Image, ImageCms


def _s15(data, offset):
    return struct.unpack(">i", data[offset : offset + 4])[0] / 65536.0


def _curve(tag, grid):
    """A TRC tag ('curv' or 'para') evaluated on `grid` (encoded values in [0, 1])."""
    kind = tag[:4]
    if kind == b"curv":
        count = struct.unpack(">I", tag[8:12])[0]
        if count == 0:
            return grid.copy()
        if count == 1:
            return grid ** (struct.unpack(">H", tag[12:14])[0] / 256.0)
        table = np.frombuffer(tag[12 : 12 + 2 * count], ">u2").astype(np.float64) / 65535.0
        return np.interp(grid, np.linspace(0, 1, count), table)
    if kind == b"para":
        function = struct.unpack(">H", tag[8:10])[0]
        count = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}[function]
        g, a, b, c, d, e, f = [_s15(tag, 12 + 4 * i) for i in range(count)] + [0.0] * (7 - count)
        if function == 0:
            return grid**g
        if function == 1:
            return np.where(grid >= -b / a, np.maximum(a * grid + b, 0) ** g, 0.0)
        if function == 2:
            return np.where(grid >= -b / a, np.maximum(a * grid + b, 0) ** g + c, c)
        if function == 3:
            return np.where(grid >= d, np.maximum(a * grid + b, 0) ** g, c * grid)
        if function == 4:
            return np.where(grid >= d, np.maximum(a * grid + b, 0) ** g + e, c * grid + f)
    raise ValueError("unsupported tone curve")


def parse_matrix_profile(icc):
    """A matrix/TRC RGB profile as {matrix: RGB -> XYZ (D50), grid, curves: 3 tables}; None for a
    profile of another kind (or not readable)."""
    try:
        if icc[16:20] != b"RGB " or len(icc) < 132:
            return None
        count = struct.unpack(">I", icc[128:132])[0]
        tags = {}
        for i in range(count):
            sig, offset, size = struct.unpack(">4sII", icc[132 + 12 * i : 144 + 12 * i])
            tags[sig] = icc[offset : offset + size]
        names = (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC")
        if not all(n in tags for n in names):
            return None
        matrix = np.array([[_s15(tags[n], 8 + 4 * k) for n in names[:3]] for k in range(3)])
        grid = np.linspace(0.0, 1.0, 4097)
        curves = [np.maximum.accumulate(_curve(tags[n], grid)) for n in names[3:]]
        return {"matrix": matrix, "grid": grid, "curves": curves}
    except (struct.error, ValueError, ZeroDivisionError, IndexError):
        return None


def _srgb_profile():
    if not hasattr(_srgb_profile, "cached"):
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        _srgb_profile.cached = (icc, parse_matrix_profile(icc))
    return _srgb_profile.cached


def is_srgb(profile):
    srgb = _srgb_profile()[1]
    return np.abs(profile["matrix"] - srgb["matrix"]).max() < 2e-3 and all(
        np.abs(c - s).max() < 2e-3 for c, s in zip(profile["curves"], srgb["curves"])
    )


def srgb_decode(x):
    """The sRGB curve, odd-symmetric and unbounded, for colours outside [0, 1]: through a float32
    lookup table on |x| in [0, 1] (apply_curves) with x's sign, the exact curve past |x| = 1."""
    return _odd_curve(x, _srgb_luts()[0], _srgb_decode_exact)


def srgb_encode(x):
    return _odd_curve(x, _srgb_luts()[1], _srgb_encode_exact)


def _odd_curve(x, luts, exact):
    """An odd-symmetric curve through its table on |x|: the negative values a wide-gamut colour
    gives in sRGB (a sixth of a saturated photo's) take the table too, not the float64 formula."""
    x = np.ascontiguousarray(x, np.float32)
    y = apply_curves(np.abs(x), luts, in_place=True)
    np.copysign(y, x, out=y)
    return _with_exact_outside(x, y, lambda v, c: exact(v), low=-1.0)


def _srgb_decode_exact(x):
    a = np.abs(x)
    return np.sign(x) * np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)


def _srgb_encode_exact(x):
    a = np.abs(x)
    return np.sign(x) * np.where(
        a <= 0.0031308, a * 12.92, 1.055 * np.maximum(a, 0.0031308) ** (1 / 2.4) - 0.055
    )


# Colour conversion at memory speed (issue 40): a curve is a table of LUT_SIZE float32 values over
# [0, 1], interpolated linearly by OpenCV's remap (threaded, strip by strip), within 4e-6 of the
# exact sRGB curves; the float64 power over a 12 MP photo's 36 M values took 4 s.
LUT_SIZE = 16385
SHADOW_EXACT = 0.002  # below this linear value a profile's inverse curve is interpolated exactly


def _srgb_luts():
    if not hasattr(_srgb_luts, "cached"):
        grid = np.linspace(0.0, 1.0, LUT_SIZE)
        _srgb_luts.cached = tuple(
            np.repeat(f(grid)[None].astype(np.float32), 3, 0)
            for f in (_srgb_decode_exact, _srgb_encode_exact)
        )
    return _srgb_luts.cached


def apply_curves(x, luts, width=3 * 1024, strip_rows=64, in_place=False):
    """y[..., c] = luts[c] (3 x N tables over [0, 1]) interpolated linearly at x[..., c], for a
    float array whose last axis is the 3 channels; values outside [0, 1] take the ends (as
    np.interp). One remap over the interleaved values seen as rows of `width` (OpenCV takes at
    most 32767 a side), a row's map_y naming each value's channel, i.e. its table. `in_place`
    writes y over a contiguous float32 x: each large array is page-faulted afresh, which on this
    2-core machine cost as much as the tables themselves."""
    x = np.ascontiguousarray(x, np.float32)
    flat, n = x.reshape(-1), luts.shape[1]
    out = flat if in_place else np.empty_like(flat)
    chan = np.tile(np.arange(3, dtype=np.float32), (strip_rows, width // 3))
    step = width * strip_rows
    for start in range(0, len(flat), step):
        part = flat[start : start + step]
        rows, rest = divmod(len(part), width)
        shapes = [(rows, width)] if rows else []
        shapes += [(1, rest)] if rest else []
        at = start
        for h, w in shapes:
            values = flat[at : at + h * w].reshape(h, w) * np.float32(n - 1)
            out[at : at + h * w] = cv2.remap(
                luts, values, chan[:h, :w], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            ).reshape(-1)
            at += h * w
    return out.reshape(x.shape)


def _with_exact_outside(x, y, exact, low=0.0):
    """y, with exact(values, channel) where x lies outside [low, 1]: colours out of gamut, and for
    a pure power curve's inverse the deepest shadows, where its slope is too steep for a table."""
    flat_x, flat_y = np.ascontiguousarray(x).reshape(-1), y.reshape(-1)  # y: contiguous, a view
    at = np.flatnonzero((flat_x < low) | (flat_x > 1))  # one pass, not one per strided channel
    if at.size:
        channel = at % 3
        for c in range(3):
            pick = at[channel == c]
            flat_y[pick] = exact(flat_x[pick].astype(np.float64), c)
    return y


def _profile_luts(profile):
    """The profile's curves as (decode, encode) tables for apply_curves: its own curves (sampled on
    a uniform grid already) and their inverses resampled on LUT_SIZE points. Kept for the last few
    profiles (by content), not in the profile, which a page session holds per photo."""
    key = hash(b"".join(c.tobytes() for c in profile["curves"]))
    if key not in _PROFILE_LUTS:
        grid = np.linspace(0.0, 1.0, LUT_SIZE)
        decode = np.stack(profile["curves"]).astype(np.float32)
        encode = np.stack([np.interp(grid, c, profile["grid"]) for c in profile["curves"]]).astype(np.float32)
        if len(_PROFILE_LUTS) >= 8:
            _PROFILE_LUTS.pop(next(iter(_PROFILE_LUTS)))
        _PROFILE_LUTS[key] = (decode, encode)
    return _PROFILE_LUTS[key]


_PROFILE_LUTS = {}


def to_srgb(rgb, info):
    """The photo's colours in sRGB (float, unclipped); records in info how to go back."""
    if not info["icc"]:
        return rgb
    profile = parse_matrix_profile(info["icc"])
    if profile is not None and is_srgb(profile):
        return rgb
    if profile is None:  # LittleCMS in 8 bits; the result is written in sRGB
        im = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(info["icc"]))
            im = ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"))
        except (ImageCms.PyCMSError, OSError):
            pass  # an unreadable profile: the values are taken as sRGB
        info.update(icc=_srgb_profile()[0])
        return np.asarray(im, np.float32) / 255.0
    info["profile"] = profile
    linear = apply_curves(rgb, _profile_luts(profile)[0])
    to_srgb_linear = np.linalg.solve(_srgb_profile()[1]["matrix"], profile["matrix"])
    return srgb_encode(_transform(linear, to_srgb_linear, in_place=True))


def from_srgb(rgb, profile):
    """to_srgb's inverse, into the profile's encoding (values outside its gamut clipped)."""
    to_profile_linear = np.linalg.solve(profile["matrix"], _srgb_profile()[1]["matrix"])
    linear = _transform(srgb_decode(rgb), to_profile_linear, in_place=True)
    np.clip(linear, 0, 1, out=linear)
    exact = lambda v, c: np.interp(v, profile["curves"][c], profile["grid"])
    return _with_exact_outside(linear, apply_curves(linear, _profile_luts(profile)[1]), exact, SHADOW_EXACT)


def _transform(x, matrix, in_place=False):
    """x @ matrix.T over the last axis (3) by OpenCV (threaded): float32 values, the sums in float64
    (a float32 sum would turn a deep shadow's -1e-9 into +1e-8, which a gamma-2.2 inverse makes 2e-4)."""
    x = np.ascontiguousarray(x, np.float32)
    flat = x.reshape(-1, 1, 3)
    return cv2.transform(flat, matrix.astype(np.float64), dst=flat if in_place else None).reshape(x.shape)
