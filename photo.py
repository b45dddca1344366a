"""Photo files: reading and writing, with their metadata and colour profiles (the one home of both).

read_photo gives float RGB in sRGB (the colours the network learned) and what the file carried
(format, bit depth, EXIF, XMP, ICC profile); write_photo turns a result back into the photo's
colour space and writes it with that metadata. Formats: JPEG, PNG, TIFF, WebP, BMP (Pillow and
OpenCV), HEIC/HEIF (pillow-heif, in and out) and camera RAW (rawpy/LibRaw, in: demosaiced with the
camera's white balance into 16-bit sRGB). No torch here: the ONNX path of predict.py imports this.

Colour: a photo whose ICC profile is not sRGB is converted to sRGB in float, without clipping, and
the result back into the input's own profile when it is written (colour.py, the colour maths).
"""

import io
import os
import re
import struct


import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

import metadata
from colour import from_srgb, to_srgb
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
    """`reason`, where set, says why in words that stand without the path (for the page)."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason


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


def check_declared_size(path, h, w, max_megapixels):
    """ImageReadError if the size the photo's header declares is over max_megapixels (0: no limit).
    Called on the opened file, before its pixels are decoded."""
    if max_megapixels and h * w > max_megapixels * 1e6:
        raise ImageReadError(
            f"{path} declares {w} x {h} pixels ({h * w / 1e6:.0f} MP), over the limit of "
            f"{max_megapixels:g} MP (max_megapixels)"
        )


def read_photo(path, max_megapixels=MAX_MEGAPIXELS, rows=False):
    """Read a photo as (rgb, alpha, info): rgb float32 H x W x 3 in sRGB with the EXIF orientation
    applied (in [0, 1], or beyond it for colours outside sRGB that a wider profile holds), alpha
    float32 H x W or None (straight, not premultiplied), info {format, bit_depth, icc, profile,
    source, alpha_associated} for write_photo, and exposure_bias (metadata.exposure_bias). Grayscale
    becomes RGB, CMYK is converted, 16-bit PNG/TIFF and 10/12-bit HEIF keep their precision.
    ImageReadError if the file cannot be read, or declares more than max_megapixels (0: no limit).
    With `rows`, rgb of a photo without alpha is a row function instead (photo_rows): its 8 or 16-bit
    samples are kept, and each strip becomes float sRGB when it is asked for, so that a large photo
    never exists whole in float."""
    if path.lower().endswith(RAW_EXTENSIONS):
        rgb, alpha, info = read_raw(path, max_megapixels)
        info["exposure_bias"] = metadata.exposure_bias(path)
        return (photo_rows(rgb, 1 / 65535.0, info) if rows else rgb.astype(np.float32) / 65535.0), alpha, info
    kind = None
    try:
        with Image.open(path) as im:
            kind = im.format
            check_declared_size(path, im.height, im.width, max_megapixels)
            info = metadata_of(im, path)
            info["exposure_bias"] = metadata.exposure_bias(path)
            data, info["bit_depth"] = decode_pixels(path, im)
    except DECODE_ERRORS as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        # a file of a known kind that fails to decode is corrupt or cut short, not "not a photo"
        reason = f"is a {kind} file that cannot be decoded ({why[:80]})" if kind else None
        raise ImageReadError(f"cannot read {path}: {why}", reason) from None
    if data.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported sample type {data.dtype} in {path}")
    data = data if data.ndim == 3 else data[..., None]
    channels = data.shape[2]
    rgb = data[..., :3] if channels >= 3 else np.repeat(data[..., :1], 3, axis=2)
    alpha = data[..., 3] if channels == 4 else data[..., 1] if channels == 2 else None
    scale = 1.0 / (2 ** info["bit_depth"] - 1)
    if rows and alpha is None and channels >= 3:
        return photo_rows(rgb, scale, info), None, info
    rgb = rgb.astype(np.float32, order="C")  # one copy, contiguous whatever the slicing above
    rgb *= scale  # in place: a 24-megapixel photo is 288 MB in float32
    alpha = None if alpha is None else alpha.astype(np.float32) * scale
    if alpha is not None and info["alpha_associated"]:  # premultiplied: the colours themselves
        np.divide(rgb, alpha[..., None], out=rgb, where=alpha[..., None] > 0)
    if channels >= 3:
        rgb = to_srgb(rgb, info)
    else:  # a grey photo turned RGB: a grey profile does not describe its RGB values
        info.update(icc=None, profile=None)
    return rgb, alpha, info


def photo_rows(samples, scale, info, strip_rows=256):
    """A photo as a row function: rows(top, count) gives those rows as float32 sRGB, as read_photo
    gives the whole (samples x scale, then to_srgb); rows.shape is (H, W, 3). `info` is left as
    the whole photo's conversion leaves it (its profile, for writing back). With a matrix profile
    other than sRGB, also rows.native (the rows in the profile's own space, not converted) and
    rows.to_srgb / rows.from_srgb for arrays (a photo at the network's size)."""
    original = dict(info)
    to_srgb(np.zeros((1, 1, 3), np.float32), info)

    def rows(top, count):
        part = samples[top : top + count].astype(np.float32)
        part *= scale
        return to_srgb(part, dict(original))

    rows.shape = tuple(samples.shape[:2]) + (3,)
    rows.samples = samples  # write_photo(into=...): a result may take their place once read
    if info.get("profile") is not None:  # a matrix profile other than sRGB: its own space too

        def native(top, count):
            part = samples[top : top + count].astype(np.float32)
            part *= scale
            return part

        native.shape = rows.shape
        rows.native = native  # inference corrects in it: the full-size photo is never converted
        rows.to_srgb = lambda x: to_srgb(x, dict(original))
        rows.from_srgb = lambda x: from_srgb(x, info["profile"])
    return rows


def photo_pixels(rgb):
    """A photo as an array, whole: read_photo's rgb either way."""
    return rgb(0, rgb.shape[0]) if callable(rgb) else rgb


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
    """(uint8/uint16 samples, upright; their bit depth). OpenCV for PNG/TIFF, which keeps 16-bit
    samples that Pillow reduces to 8 bits for colour images; pillow-heif's own reader for a 10 or
    12-bit HEIF (Pillow's plugin gives 8 bits); OpenCV for a whole RGB JPEG (less memory); Pillow
    for everything else."""
    orientation = im.getexif().get(ORIENTATION, 1)
    bits = im.info.get("bit_depth", 8) if im.format == "HEIF" else 8
    if bits > 8:
        heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)  # samples shifted to 16 bits
        data = np.asarray(heif) >> (16 - bits)
        return _EXIF_TRANSPOSE.get(orientation, lambda a: a)(data), bits
    if im.format in ("PNG", "TIFF"):
        data = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if data is None:
            raise ImageReadError("its pixels do not decode")  # read_photo names the file
        if data.ndim == 3:
            data = cv2.cvtColor(data, cv2.COLOR_BGR2RGB if data.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
        return _EXIF_TRANSPOSE.get(orientation, lambda a: a)(data), 16 if data.dtype == np.uint16 else 8
    if im.format == "JPEG" and im.mode == "RGB" and jpeg_complete(path):
        # OpenCV decodes into the array itself: Pillow holds 4 B/px and the array is a copy on top
        # (a 144 MP photo: 0.43 GB instead of 1 GB). A file cut short goes to Pillow, which raises.
        data = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if data is not None and data.shape == (im.height, im.width, 3):
            swap_red_blue(data)
            return _EXIF_TRANSPOSE.get(orientation, lambda a: a)(data), 8
    im.load()  # raises on truncated files
    if orientation != 1:  # in place: a copy of a 144 MP photo is 576 MB more (Pillow keeps 4 B/px)
        ImageOps.exif_transpose(im, in_place=True)
    if im.mode in ("CMYK", "YCbCr", "1", "L", "I", "F"):
        im = im.convert("RGB")
    elif im.mode in ("P", "LA", "PA"):
        im = im.convert("RGBA")
    return image_samples(im), 8


def jpeg_complete(path):
    """Whether a JPEG ends with its end-of-image marker (FF D9), trailing padding aside. OpenCV
    decodes a file cut short without a word (grey below the cut), where Pillow raises."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4096))
        return f.read().rstrip(b"\0\r\n ").endswith(b"\xff\xd9")


def image_samples(im, band=512):
    """np.asarray(im), a band of rows at a time: whole, Pillow's tobytes would hold the photo's
    samples twice over on top of its own copy (1.9 GB instead of 1.0 for a 144 MP JPEG)."""
    first = np.asarray(im.crop((0, 0, im.width, min(im.height, band))))
    data = np.empty((im.height,) + first.shape[1:], first.dtype)
    data[:band] = first
    for top in range(band, im.height, band):
        data[top : top + band] = np.asarray(im.crop((0, top, im.width, min(im.height, top + band))))
    return data


def metadata_of(im, path):
    """What write_photo needs of the file: its path (metadata.py reads EXIF, IPTC and XMP from it),
    its ICC profile, and whether a TIFF's alpha is associated (premultiplied, ExtraSamples 1)."""
    extra = im.tag_v2.get(338) if im.format == "TIFF" else None
    return {
        "format": im.format,
        "source": path,
        "icc": im.info.get("icc_profile") or None,
        "profile": None,
        "alpha_associated": (extra if isinstance(extra, int) else (extra or (0,))[0]) == 1,
    }


def read_raw(path, max_megapixels=MAX_MEGAPIXELS):
    """A camera RAW file: demosaiced by LibRaw with the camera's white balance, no automatic
    brightening (the exposure as shot is what the model corrects), sRGB primaries and curve, 16
    bits. Its metadata travels by exiv2 from the file itself (metadata.py). A development that
    comes out mostly pure white from data above the file's white level (LibRaw read 255 for a Nikon
    film scanner's NEF whose data reach 54998) is developed again at the data's own white level,
    said in info["note"]; one mostly white while the file's embedded preview is not is refused."""
    import rawpy

    info = {"format": "RAW", "bit_depth": 16, "source": path, "icc": None, "profile": None}
    try:
        with rawpy.imread(path) as raw:
            check_declared_size(path, raw.sizes.height, raw.sizes.width, max_megapixels)
            check_raw_data(path, raw.sizes.raw_width * raw.sizes.raw_height)
            data = develop(raw)
            share, top, white = clipped_share(data, 65535), int(raw.raw_image_visible.max()), raw.white_level
            if share > MOSTLY_CLIPPED and top > white:
                data = develop(raw, user_sat=top)
                info["note"] = (  # information, not a warning: the development is right
                    f"developed from the range its data really use: the white level its file states "
                    f"({white}, below the data's {top}) would have turned {share:.0%} of it pure white"
                )
            elif share > MOSTLY_CLIPPED and preview_clipped_share(raw) < 0.1:
                reason = (
                    f"develops {share:.0%} pure white while its embedded preview does not (a misread RAW)"
                )
                raise ImageReadError(f"cannot read {path}: it {reason}", reason)
    except ImageReadError:
        raise
    except (rawpy.LibRawError, OSError, ValueError) as e:
        raise ImageReadError(
            f"cannot read {path}: not a readable camera RAW file ({type(e).__name__})"
        ) from None
    return data, None, info  # uint16 samples: read_photo scales them


MOSTLY_CLIPPED = 0.5  # a development with more than this share of pure white pixels is suspect


def develop(raw, **options):
    import rawpy

    return raw.postprocess(
        use_camera_wb=True,
        no_auto_bright=True,
        output_bps=16,
        output_color=rawpy.ColorSpace.sRGB,
        gamma=(2.4, 12.92),
        **options,
    )


def clipped_share(data, top):
    """The share of pixels at the top value in every channel, within 0.2% of it: LibRaw's colour
    matrix rounds clipped 16-bit white to 65534 in some channels."""
    return float((data.min(axis=-1) >= top - top // 500).mean())


def preview_clipped_share(raw):
    """clipped_share of the file's embedded preview, 1.0 where there is none readable."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
        pixels = (
            thumb.data
            if thumb.format == rawpy.ThumbFormat.BITMAP
            else np.asarray(Image.open(io.BytesIO(thumb.data)))
        )
    except Exception:  # LibRaw raises several kinds for files without a preview it reads
        return 1.0
    return clipped_share(
        pixels.reshape(pixels.shape[0], -1, pixels.shape[-1] if pixels.ndim == 3 else 1), 255
    )


def check_raw_data(path, sensor_pixels):
    """A RAW file far smaller than its sensor's pixels (under half a bit each, which no camera's
    compression reaches) holds metadata without the image data (a DNG stub, a truncated file):
    LibRaw would 'develop' it into a black or striped photo."""
    size = os.path.getsize(path)
    if size * 16 < sensor_pixels:
        reason = (
            f"holds no image data ({size / 1024:.0f} KB for a {sensor_pixels / 1e6:.1f} MP sensor: "
            "metadata only, or truncated)"
        )
        raise ImageReadError(f"cannot read {path}: it {reason}", reason)


# ---------------------------------------------------------------- writing


def output_xmp(data):
    """The input's XMP for a HEIC result (exiv2 carries it for the other formats), orientation 1."""
    if not data:
        return None
    text = data.decode("utf-8", "replace")
    text = re.sub(r'tiff:Orientation="\d"', 'tiff:Orientation="1"', text)
    text = re.sub(r"<tiff:Orientation>\d</tiff:Orientation>", "<tiff:Orientation>1</tiff:Orientation>", text)
    return text.encode("utf-8")


def output_bits(ext, bit_depth):
    """The result's bits per sample: the input's where the format holds it (16 in PNG and TIFF,
    10 or 12 in HEIF), else 8."""
    if ext in (".png", ".tif", ".tiff") and bit_depth > 8:
        return 16
    if ext in (".heic", ".heif") and bit_depth in (10, 12):
        return bit_depth
    return 8


def write_photo(path, rgb, alpha=None, info=None, strip=False, into=None):
    """Write a result (float RGB in sRGB, as read_photo gives) by the path's extension: JPEG
    (quality 95), PNG, TIFF (deflate), WebP, HEIC, BMP; the input's bit depth where the format holds
    it (output_bits), its alpha (premultiplied again where the input's was). With `info`, the result
    goes back into the input's colour profile and carries its EXIF, IPTC and XMP (metadata.py:
    orientation 1, no thumbnail) and ICC profile; `strip` writes none of it, in sRGB. Written to a
    temporary name first, then renamed. `rgb` may also be a renderer (inference.lazy_results):
    the result is then rendered, converted and quantized WRITE_ROWS rows at a time into the samples
    the encoder takes, and never exists whole in float. `into`: the input's own samples
    (photo_rows' rows.samples), which the result's may overwrite strip by strip where they fit, each
    strip after its rows were read (a per-pixel renderer's only); the input is gone afterwards."""
    info = info or {}
    ext = os.path.splitext(path)[1].lower()
    bits = output_bits(ext, info.get("bit_depth", 8))
    profile = None if strip else info.get("profile")
    icc = None if strip else info.get("icc")
    alpha = None if ext in (".jpg", ".jpeg", ".heic", ".heif") else alpha
    associated = alpha is not None and info.get("alpha_associated") and ext in (".tif", ".tiff")
    data = samples(rgb, alpha, profile, associated, bits, into)
    source = None if strip else info.get("source")
    meta = {"icc": icc, "associated": associated, "bits": bits, "source": source}
    meta["quality"] = info.get("quality", JPEG_QUALITY)
    if source and ext in (".heic", ".heif"):  # exiv2 does not write HEIF: pillow-heif takes them
        meta.update(exif=metadata.exif_block(source), xmp=output_xmp(metadata.xmp_packet(source)))

    def write(tmp):
        encode(tmp, ext, data, meta)
        if source and ext in metadata.EXIV2_WRITES:
            metadata.copy_metadata(source, tmp)

    atomic_write(path, write)


WRITE_ROWS = 256  # rows per strip from float result to samples (a multiple of apply_affine_maps' 64)


def samples(rgb, alpha, profile, associated, bits, into=None):
    """The encoder's samples (uint8 / uint16 H x W x 3, or 4 with alpha) of a float result, or of a
    renderer's, strip by strip: into the profile's space (from_srgb), premultiplied where the
    input was, quantized. Every step is per pixel, so the strips give what the whole would. Into
    `into` where it has their shape and type (a 144 MP photo's result then costs no 0.43 GB more)."""
    height, width = rgb.shape[:2]
    shape, dtype = (height, width, 3 if alpha is None else 4), np.uint16 if bits > 8 else np.uint8
    fits = into is not None and into.shape == shape and into.dtype == dtype and callable(rgb)
    data = into if fits else np.empty(shape, dtype)
    native = getattr(rgb, "native", False)  # inference.correction_renderer: already in the profile's space
    for top in range(0, height, WRITE_ROWS):
        part = rgb(top, WRITE_ROWS) if callable(rgb) else rgb[top : top + WRITE_ROWS]
        if native and profile is None:  # a renderer in the photo's profile, written stripped: sRGB
            part = rgb.to_srgb(part)
        elif profile is not None and not native:
            part = from_srgb(part, profile)
        if associated:
            part = part * alpha[top : top + WRITE_ROWS, :, None]
        data[top : top + WRITE_ROWS, :, :3] = quantize(part, bits)
        if alpha is not None:
            data[top : top + WRITE_ROWS, :, 3] = quantize(alpha[top : top + WRITE_ROWS], bits)
    return data


def quantize(x, bits):
    if bits > 8:
        return (np.clip(x, 0, 1) * (2**bits - 1) + 0.5).astype(np.uint16)
    # OpenCV scales, rounds and saturates in one parallel pass; negatives are clipped first, as
    # convertScaleAbs would mirror them.
    return cv2.convertScaleAbs(x if x.min() >= 0 else np.maximum(x, 0), alpha=255.0)


def encode(tmp, ext, data, meta):
    """One encoder per format, each a library's; `data` uint8/uint16 H x W x 3 or 4 (RGB order)."""
    if ext == ".png":  # OpenCV's fast PNG (16 bits too); exiv2 adds the profile
        write_cv2(tmp, data, PNG_FAST)
        if meta["icc"]:
            metadata.write_icc(tmp, meta["icc"])
    elif ext in (".tif", ".tiff"):
        import tifffile

        extra = ["ASSOCALPHA" if meta["associated"] else "UNASSALPHA"] if data.shape[2] == 4 else None
        tifffile.imwrite(
            tmp,
            data,
            photometric="rgb",
            compression="zlib",
            predictor=True,
            extrasamples=extra,
            iccprofile=meta["icc"],
            metadata=None,
        )
    elif ext == ".bmp":
        write_cv2(tmp, data, [])
    elif ext in (".heic", ".heif"):
        write_heif(tmp, data, meta)
    elif ext in (".jpg", ".jpeg"):  # OpenCV's libjpeg-turbo from the samples themselves: Pillow
        # would first copy them into an image of 4 bytes a pixel (576 MB more at 144 MP)
        write_cv2(tmp, data, [cv2.IMWRITE_JPEG_QUALITY, meta["quality"]], in_place=True)
        if meta["icc"]:
            metadata.write_icc(tmp, meta["icc"])
    else:
        im = Image.fromarray(data)
        kwargs = {"icc_profile": meta["icc"]} if meta["icc"] else {}
        if ext == ".webp":
            im.save(tmp, "WEBP", quality=meta["quality"], **kwargs)
        else:
            raise OSError(f"cannot write {ext} files")


def write_heif(tmp, data, meta):
    """HEIC through pillow-heif: 8 bits from Pillow, 10 or 12 from 16-bit samples shifted up, with
    the EXIF block, XMP and profile it writes itself."""
    kwargs = {k: v for k, v in (("exif", meta.get("exif")), ("xmp", meta.get("xmp"))) if v}
    if meta["icc"]:
        kwargs["icc_profile"] = meta["icc"]
    options = dict(quality=HEIC_QUALITY, enc_params=HEIC_ENCODER, **kwargs)
    if meta["bits"] == 8:
        Image.fromarray(data).save(tmp, "HEIF", **options)
        return
    mode = "RGB;16" if data.shape[2] == 3 else "RGBA;16"
    shifted = np.ascontiguousarray(data << (16 - meta["bits"]))
    heif = pillow_heif.from_bytes(mode, (data.shape[1], data.shape[0]), shifted.tobytes())
    pillow_heif.options.SAVE_HDR_TO_12_BIT = meta["bits"] == 12
    heif.save(tmp, format="HEIF", **options)


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


def write_cv2(tmp, data, params, in_place=False):
    """OpenCV's encoders take BGR: `in_place` reorders `data` itself (no copy), leaving it BGR."""
    if in_place:
        swap_red_blue(data)
    else:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR if data.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    if not cv2.imwrite(tmp, data, params):
        raise OSError(f"could not write {tmp}")


def swap_red_blue(data, band=256):
    """RGB(A) <-> BGR(A) in place, a band of rows at a time: cv2.cvtColor into its own source
    copies the whole photo first (0.43 GB more at 144 MP)."""
    for top in range(0, data.shape[0], band):
        rows = data[top : top + band, :, :3]
        rows[...] = rows[..., ::-1]  # numpy copies the overlapping band, not the photo
    return data


def write_image(path, rgb, alpha=None, bit_depth=8, quality=JPEG_QUALITY):
    """A plain sRGB image with no metadata (figures, test photos, benchmarks, the simulator's output,
    packed training sets); `quality` of JPEG and WebP."""
    write_photo(path, rgb, alpha, {"bit_depth": bit_depth, "quality": quality}, strip=True)


def output_extension(path, output_format):
    """The extension of a photo's result: its own with output_format "same" (a RAW file gives a
    16-bit TIFF, which every editor opens), else output_format's."""
    ext = os.path.splitext(path)[1]
    if output_format != "same":
        return "." + output_format
    return ".tif" if ext.lower() in RAW_EXTENSIONS else ext  # as the input spells it: .HEIC stays .HEIC


def output_paths(inputs, roots, out_dir, output_format):
    """{input: result_paths' path for it} (predict.py: inputs are distinct files)."""
    return dict(zip(inputs, result_paths(inputs, roots, out_dir, output_format)))


def download_names(names, labels, output_format):
    """The page's file names for results: `<stem>_corrected.<ext>`, never an original's name, with
    the list's "(2)" carried over from its label ("photo.jpg (2)" gives "photo_corrected (2).jpg");
    unique without regard to case (a zip may be unpacked where case does not count): x.tif and
    x.dng give x_corrected.tif and x_dng_corrected.tif."""
    taken, out = set(), []
    for name, label in zip(names, labels):
        stem, ext = os.path.splitext(name)
        fmt = output_extension(name, output_format)
        dup = label[len(name):]  # "" or " (2)"
        candidates = [f"{stem}_corrected{dup}{fmt}", f"{stem}_{ext.lstrip('.').lower()}_corrected{dup}{fmt}"]
        candidates += [f"{stem}_corrected{dup} ({n}){fmt}" for n in range(2, len(names) + 3)]
        chosen = next(c for c in candidates if c.lower() not in taken)
        taken.add(chosen.lower())
        out.append(chosen)
    return out


def result_paths(inputs, roots, out_dir, output_format):
    """Each input's result path, in the inputs' order: its subfolder relative to its root
    (roots[input]) under out_dir, named after it, in output_format ("same": the input's own,
    output_extension). Never an input's own path, and never the same path for two inputs (the same
    file twice included): the second photo.jpg gives photo_jpg_corrected.jpg, x.dng beside x.tif
    gives x_dng_corrected.tif. predict.py's naming rule (the page names downloads by download_names)."""
    taken, input_set, paths = set(), {os.path.abspath(p) for p in inputs}, []
    for path in inputs:
        rel = os.path.relpath(path, roots[path]) if roots[path] else os.path.basename(path)
        stem, ext = os.path.splitext(rel)
        fmt = output_extension(path, output_format).lstrip(".")
        candidate, n = os.path.join(out_dir, f"{stem}.{fmt}"), 1
        while candidate in input_set or candidate in taken:
            suffix = "_corrected" if n == 1 else f"_corrected{n}"
            candidate, n = os.path.join(out_dir, f"{stem}_{ext.lstrip('.').lower()}{suffix}.{fmt}"), n + 1
        taken.add(candidate)
        paths.append(candidate)
    return paths
