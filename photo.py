"""Photo files: reading and writing, with their metadata and colour profiles (the one home of both).

read_photo gives float RGB in sRGB (the colours the network learned) and what the file carried
(format, bit depth, EXIF, XMP, ICC profile); write_photo turns a result back into the photo's
colour space and writes it with that metadata. Formats: JPEG, PNG, TIFF, WebP, BMP (Pillow and
OpenCV), HEIC/HEIF (pillow-heif, in and out) and camera RAW (rawpy/LibRaw, in: demosaiced with the
camera's white balance into 16-bit sRGB). No torch here: the ONNX path of predict.py imports this.

Colour: a photo whose ICC profile is not sRGB is converted to sRGB in float, without clipping
(colours outside sRGB's gamut keep values below 0 or above 1), so that at strength 0 it comes back
as it was; the result is converted back with the same float maths and written with the input's
own profile. Matrix/TRC profiles (Display P3, Adobe RGB, ProPhoto, camera profiles) are converted
this way; a profile of another kind (lookup tables) goes through LittleCMS in 8 bits and the
result is written in sRGB with an sRGB profile. No profile: sRGB, as the web assumes.
"""

import io
import os
import re
import struct
import zlib

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageOps, TiffImagePlugin, UnidentifiedImageError

from utils import RAW_EXTENSIONS, atomic_write

try:  # HEIC/HEIF through Pillow; without pillow-heif such files are unreadable like any other
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover
    pillow_heif = None

# The one guard against decompression bombs (a header declaring 30000 x 30000): read_photo refuses
# a photo whose declared size is over the limit before decoding it, so Pillow's own check is off.
Image.MAX_IMAGE_PIXELS = None
MAX_MEGAPIXELS = 200

ORIENTATION = 0x0112
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
# HEIC: x265's "ultrafast" preset at quality 75. On a 12 MP iPhone HEIC (886 KB) re-encoded here,
# under load: the default preset at 90 took 61 s, 3.9x the input's size, 64.2 dB against the input;
# ultrafast at 75 took 3.5 s, 1.6x the size, 53.9 dB (docs/predict.md).
JPEG_QUALITY, HEIC_QUALITY, HEIC_ENCODER = 95, 75, {"preset": "ultrafast"}

_EXIF_TRANSPOSE = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: a.swapaxes(0, 1)[::-1],
}


class ImageReadError(ValueError):
    pass


# ---------------------------------------------------------------- reading


def read_image(path):
    """(rgb, alpha, bit_depth) for training and scoring: rgb in sRGB, clipped to [0, 1]."""
    rgb, alpha, info = read_photo(path)
    return np.clip(rgb, 0, 1, out=rgb), alpha, info["bit_depth"]


# What decoders raise for files that are not photos, or broken ones (a HEIC of metadata only raises
# EOFError, a damaged TIFF RuntimeError): each becomes one ImageReadError naming the file.
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    RuntimeError,
    struct.error,
)


def check_declared_size(path, max_megapixels):
    """ImageReadError if the photo's header declares more than max_megapixels (0: no limit)."""
    h, w = photo_size(path)
    if max_megapixels and h * w > max_megapixels * 1e6:
        raise ImageReadError(
            f"{path} declares {w} x {h} pixels ({h * w / 1e6:.0f} MP), over the limit of "
            f"{max_megapixels:g} MP (max_megapixels)"
        )


def read_photo(path, max_megapixels=MAX_MEGAPIXELS):
    """Read a photo as (rgb, alpha, info): rgb float32 H x W x 3 in sRGB with the EXIF orientation
    applied (in [0, 1], or beyond it for colours outside sRGB that a wider profile holds), alpha
    float32 H x W or None, info {format, bit_depth, exif, xmp, icc, profile} for write_photo.
    Grayscale becomes RGB, CMYK is converted, 16-bit PNG/TIFF keep their precision. ImageReadError
    if the file cannot be read, or declares more than max_megapixels (0: no limit)."""
    check_declared_size(path, max_megapixels)
    if path.lower().endswith(RAW_EXTENSIONS):
        return read_raw(path)
    try:
        with Image.open(path) as im:
            info = metadata_of(im)
            data = decode_pixels(path, im)
    except DECODE_ERRORS as e:
        raise ImageReadError(
            f"cannot read {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    if data.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported sample type {data.dtype} in {path}")
    info["bit_depth"] = 16 if data.dtype == np.uint16 else 8
    data = data if data.ndim == 3 else data[..., None]
    channels = data.shape[2]
    rgb = data[..., :3] if channels >= 3 else np.repeat(data[..., :1], 3, axis=2)
    alpha = data[..., 3] if channels == 4 else data[..., 1] if channels == 2 else None
    scale = 1.0 / (65535.0 if info["bit_depth"] == 16 else 255.0)
    rgb = rgb.astype(np.float32, order="C")  # one copy, contiguous whatever the slicing above
    rgb *= scale  # in place: a 24-megapixel photo is 288 MB in float32
    if channels >= 3:
        rgb = to_srgb(rgb, info)
    else:  # a grey photo turned RGB: a grey profile does not describe its RGB values
        info.update(icc=None, profile=None)
    return rgb, (None if alpha is None else alpha.astype(np.float32) * scale), info


def photo_size(path):
    """(height, width) as stored, from the file's header alone; ImageReadError if unreadable."""
    try:
        if path.lower().endswith(RAW_EXTENSIONS):
            import rawpy

            with rawpy.imread(path) as raw:
                return raw.sizes.height, raw.sizes.width
        with Image.open(path) as im:
            return im.height, im.width
    except Exception as e:  # Pillow and LibRaw raise many kinds for files that are not photos
        raise ImageReadError(
            f"cannot read {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None


def decode_pixels(path, im):
    """uint8/uint16 samples, upright. OpenCV for PNG/TIFF, which keeps 16-bit samples that Pillow
    reduces to 8 bits for colour images; Pillow for everything else."""
    orientation = im.getexif().get(ORIENTATION, 1)
    if im.format in ("PNG", "TIFF"):
        data = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if data is None:
            raise ImageReadError(f"cannot decode {path}")
        if data.ndim == 3:
            data = cv2.cvtColor(data, cv2.COLOR_BGR2RGB if data.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
        return _EXIF_TRANSPOSE.get(orientation, lambda a: a)(data)
    im.load()  # raises on truncated files
    im = ImageOps.exif_transpose(im)
    if im.mode in ("CMYK", "YCbCr", "1", "L", "I", "F"):
        im = im.convert("RGB")
    elif im.mode in ("P", "LA", "PA"):
        im = im.convert("RGBA")
    return np.asarray(im)


def metadata_of(im):
    """What of a Pillow image's file write_photo carries over: EXIF bytes, XMP bytes, ICC bytes."""
    exif = im.getexif()
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if xmp is None and im.format == "TIFF":
        xmp = im.tag_v2.get(700)
    xmp = xmp.encode() if isinstance(xmp, str) else xmp
    return {
        "format": im.format,
        "exif": exif.tobytes() if len(exif) else None,
        "xmp": bytes(xmp) if xmp else None,
        "icc": im.info.get("icc_profile") or None,
        "profile": None,
    }


def read_raw(path):
    """A camera RAW file: demosaiced by LibRaw with the camera's white balance, no automatic
    brightening (the exposure as shot is what the model corrects), sRGB primaries and curve, 16
    bits. EXIF where Pillow can read it from the file (TIFF-based RAWs: DNG, NEF, ARW, ...)."""
    import rawpy

    try:
        with rawpy.imread(path) as raw:
            check_raw_data(path, raw.sizes.raw_width * raw.sizes.raw_height)
            data = raw.postprocess(
                use_camera_wb=True,
                no_auto_bright=True,
                output_bps=16,
                output_color=rawpy.ColorSpace.sRGB,
                gamma=(2.4, 12.92),
            )
    except ImageReadError:
        raise
    except (rawpy.LibRawError, OSError, ValueError) as e:
        raise ImageReadError(
            f"cannot read {path}: not a readable camera RAW file ({type(e).__name__})"
        ) from None
    info = {
        "format": "RAW",
        "bit_depth": 16,
        "exif": raw_exif(path),
        "xmp": None,
        "icc": None,
        "profile": None,
    }
    return data.astype(np.float32) / 65535.0, None, info


def check_raw_data(path, sensor_pixels):
    """A RAW file far smaller than its sensor's pixels (under half a bit each, which no camera's
    compression reaches) holds metadata without the image data (a DNG stub, a truncated file):
    LibRaw would 'develop' it into a black or striped photo."""
    size = os.path.getsize(path)
    if size * 16 < sensor_pixels:
        raise ImageReadError(
            f"cannot read {path}: it holds no image data ({size / 1024:.0f} KB for a "
            f"{sensor_pixels / 1e6:.1f} MP sensor: metadata only, or truncated)"
        )


def raw_exif(path):
    """The EXIF of a TIFF-based RAW (DNG, NEF, ARW, CR2, ORF, RW2, PEF, ...) read with tifffile: the
    camera, date, author and copyright of IFD0 and the Exif and GPS sub-IFDs, as EXIF bytes. None
    for other RAWs (CR3, RAF): their pixels are corrected without metadata."""
    import tifffile

    ifd0 = (271, 272, 306, 315, 33432)  # Make, Model, DateTime, Artist, Copyright
    try:
        with tifffile.TiffFile(path) as tif:
            tags = {t.code: t.value for t in tif.pages[0].tags}
    except Exception:  # tifffile raises many kinds for files that are not TIFF-based
        return None
    exif = Image.Exif()
    for code in ifd0:
        if isinstance(tags.get(code), str):
            exif[code] = tags[code]
    for sub in (EXIF_IFD, GPS_IFD):
        for name, value in (tags.get(sub) or {}).items():
            code = tifffile.TIFF.TAGS.get(name) if sub == EXIF_IFD else tifffile.TIFF.GPS_TAGS.get(name)
            if isinstance(code, int) and isinstance(value, (str, int, float, tuple, bytes)):
                exif.get_ifd(sub)[code] = value
    return exif.tobytes() if len(exif) or any(exif.get_ifd(s) for s in (EXIF_IFD, GPS_IFD)) else None


# ---------------------------------------------------------------- colour profiles


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
    """The sRGB curve, odd-symmetric and unbounded, for colours outside [0, 1]."""
    a = np.abs(x)
    return np.sign(x) * np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)


def srgb_encode(x):
    a = np.abs(x)
    return np.sign(x) * np.where(
        a <= 0.0031308, a * 12.92, 1.055 * np.maximum(a, 0.0031308) ** (1 / 2.4) - 0.055
    )


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
    linear = np.stack([np.interp(rgb[..., c], profile["grid"], profile["curves"][c]) for c in range(3)], -1)
    to_srgb_linear = np.linalg.solve(_srgb_profile()[1]["matrix"], profile["matrix"])
    return srgb_encode(linear @ to_srgb_linear.T).astype(np.float32)


def from_srgb(rgb, profile):
    """to_srgb's inverse, into the profile's encoding (values outside its gamut clipped)."""
    to_profile_linear = np.linalg.solve(profile["matrix"], _srgb_profile()[1]["matrix"])
    linear = np.clip(srgb_decode(rgb) @ to_profile_linear.T, 0, 1)
    return np.stack(
        [np.interp(linear[..., c], profile["curves"][c], profile["grid"]) for c in range(3)], -1
    ).astype(np.float32)


# ---------------------------------------------------------------- metadata for the output


def output_exif(data):
    """The input's EXIF for its result: orientation 1 (the pixels are upright now); the thumbnail
    (IFD1) is not written, so no viewer shows the uncorrected picture."""
    if not data:
        return None
    exif = Image.Exif()
    exif.load(data)
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    for ifd in (EXIF_IFD, GPS_IFD):  # load the sub-IFDs, so that tobytes writes them whole
        if ifd in exif:
            exif.get_ifd(ifd)
    return exif


def output_xmp(data):
    if not data:
        return None
    text = data.decode("utf-8", "replace")
    text = re.sub(r'tiff:Orientation="\d"', 'tiff:Orientation="1"', text)
    text = re.sub(r"<tiff:Orientation>\d</tiff:Orientation>", "<tiff:Orientation>1</tiff:Orientation>", text)
    return text.encode("utf-8")


# ---------------------------------------------------------------- writing


def write_photo(path, rgb, alpha=None, info=None, strip=False):
    """Write a result (float RGB in sRGB, as read_photo gives) by the path's extension: JPEG
    (quality 95), PNG, TIFF, WebP, HEIC, BMP; 16 bits in PNG and TIFF where info says the input had
    them. With `info`, the result goes back into the input's colour profile and carries its EXIF
    (orientation 1, no thumbnail), XMP and ICC profile; `strip` writes none of it, in sRGB.
    Written to a temporary name first, then renamed."""
    info = info or {}
    ext = os.path.splitext(path)[1].lower()
    bit_depth = info.get("bit_depth", 8) if ext in (".png", ".tif", ".tiff") else 8
    icc, exif, xmp = None, None, None
    if not strip:
        if info.get("profile") is not None:
            rgb = from_srgb(rgb, info["profile"])
        icc, exif, xmp = info.get("icc"), output_exif(info.get("exif")), output_xmp(info.get("xmp"))
    alpha = None if ext in (".jpg", ".jpeg", ".heic", ".heif") else alpha
    data = quantize(rgb, bit_depth)
    if alpha is not None:
        data = np.dstack([data, quantize(alpha[..., None], bit_depth)])
    meta = {"icc": icc, "exif": exif, "xmp": xmp}
    atomic_write(path, lambda tmp: encode(tmp, ext, data, meta))


def quantize(x, bit_depth):
    if bit_depth == 16:
        return (np.clip(x, 0, 1) * 65535.0 + 0.5).astype(np.uint16)
    # OpenCV scales, rounds and saturates in one parallel pass; negatives are clipped first, as
    # convertScaleAbs would mirror them.
    return cv2.convertScaleAbs(x if x.min() >= 0 else np.maximum(x, 0), alpha=255.0)


def encode(tmp, ext, data, meta):
    """One encoder per format; `data` uint8/uint16 H x W x 3 or 4 (RGB order)."""
    if ext == ".png":  # OpenCV's fast PNG, then the metadata chunks
        write_cv2(tmp, data, PNG_FAST)
        if any(meta.values()):
            add_png_chunks(tmp, meta)
    elif ext in (".tif", ".tiff") and data.dtype == np.uint16:
        write_tiff16(tmp, data, meta)
    elif ext == ".bmp":
        write_cv2(tmp, data, [])
    else:
        im = Image.fromarray(data)
        kwargs = {k: v for k, v in (("icc_profile", meta["icc"]), ("exif", meta["exif"])) if v}
        if ext in (".jpg", ".jpeg"):
            im.save(tmp, "JPEG", quality=JPEG_QUALITY, xmp=meta["xmp"] or b"", **kwargs)
        elif ext == ".webp":
            im.save(tmp, "WEBP", quality=JPEG_QUALITY, xmp=meta["xmp"] or b"", **kwargs)
        elif ext in (".heic", ".heif"):
            im.save(
                tmp,
                "HEIF",
                quality=HEIC_QUALITY,
                enc_params=HEIC_ENCODER,
                **({"xmp": meta["xmp"]} if meta["xmp"] else {}),
                **kwargs,
            )
        elif ext in (".tif", ".tiff"):
            try:  # LZW goes through libtiff, which refuses some cameras' EXIF ("Error setting from
                im.save(tmp, "TIFF", compression="tiff_lzw", tiffinfo=tiff_tags(meta))  # dictionary")
            except RuntimeError:  # Pillow's own writer takes them, uncompressed
                im.save(tmp, "TIFF", tiffinfo=tiff_tags(meta))
        else:
            raise OSError(f"cannot write {ext} files")


# Fast PNG (level 1, SUB filter, Huffman-only): in one measurement here a 24-megapixel photo
# encoded in 1.5 s instead of 2.7 s at level 1 with libpng's adaptive filters; files are larger.
PNG_FAST = [
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
    cv2.IMWRITE_PNG_FILTER,
    cv2.IMWRITE_PNG_FILTER_SUB,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
]


def write_cv2(tmp, data, params):
    order = cv2.COLOR_RGB2BGR if data.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    if not cv2.imwrite(tmp, cv2.cvtColor(data, order), params):
        raise OSError(f"could not write {tmp}")


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def add_png_chunks(path, meta):
    """iCCP, eXIf and XMP (iTXt) chunks right after IHDR, as the PNG specification places them."""
    with open(path, "rb") as f:
        png = f.read()
    chunks = b""
    if meta["icc"]:
        chunks += _chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(meta["icc"]))
    if meta["exif"]:
        chunks += _chunk(b"eXIf", meta["exif"].tobytes()[6:])  # without the "Exif\0\0" of JPEG
    if meta["xmp"]:
        chunks += _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + meta["xmp"])
    end_of_ihdr = 8 + 8 + 13 + 4
    with open(path, "wb") as f:
        f.write(png[:end_of_ihdr] + chunks + png[end_of_ihdr:])


def tiff_tags(meta, ifd=None):
    """EXIF (with its Exif and GPS sub-IFDs), XMP and ICC as TIFF tags of the image's own IFD."""
    ifd = ifd if ifd is not None else TiffImagePlugin.ImageFileDirectory_v2()
    if meta["exif"]:
        for tag, value in meta["exif"].items():
            if tag not in (EXIF_IFD, GPS_IFD):
                ifd[tag] = value
        for sub in (EXIF_IFD, GPS_IFD):
            if sub in meta["exif"]:
                ifd[sub] = dict(meta["exif"].get_ifd(sub))
    if meta["xmp"]:
        ifd[700] = meta["xmp"]
    if meta["icc"]:
        ifd[34675] = meta["icc"]
    return ifd


def write_tiff16(path, data, meta):
    """A 16-bit RGB(A) TIFF, uncompressed (Pillow encodes 8 bits only): the header, the IFD with
    the metadata tags (serialised by Pillow, which points StripOffsets past itself), the samples."""
    h, w, channels = data.shape
    pixels = data.astype("<u2").tobytes()
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    tiff_tags(meta, ifd)
    for tag in (256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 338, ORIENTATION):
        ifd.pop(tag, None) if tag in ifd else None
    ifd[256], ifd[257], ifd[258] = w, h, (16,) * channels
    ifd[259], ifd[262], ifd[277], ifd[278], ifd[284] = 1, 2, channels, h, 1
    ifd[273], ifd[279] = 0, len(pixels)
    ifd.tagtype[273] = ifd.tagtype[279] = 4  # LONG
    if channels == 4:
        ifd[338] = 2  # unassociated alpha
    if meta["exif"]:
        ifd[ORIENTATION] = 1
    directory = ifd.tobytes(8)  # (a test reads such files back with OpenCV and Pillow)
    with open(path, "wb") as f:
        f.write(b"II*\0" + struct.pack("<I", 8) + directory + pixels)


def write_image(path, rgb, alpha=None, bit_depth=8):
    """A plain sRGB image with no metadata (figures, test photos, benchmarks, the simulator's output)."""
    write_photo(path, rgb, alpha, {"bit_depth": bit_depth})


def output_extension(path, output_format):
    """The extension of a photo's result: its own with output_format "same" (a RAW file gives a
    16-bit TIFF, which every editor opens), else output_format's."""
    ext = os.path.splitext(path)[1]
    if output_format != "same":
        return "." + output_format
    return ".tif" if ext.lower() in RAW_EXTENSIONS else ext  # as the input spells it: .HEIC stays .HEIC
