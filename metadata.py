"""A photo's metadata carried from its file to its result by exiv2 (the library digiKam and
darktable use, through pyexiv2): EXIF with maker notes and GPS, IPTC and XMP, typed as the camera
wrote them (a rational stays a rational). What changes on the way: the orientation becomes 1 (the
pixels are upright now), the thumbnail goes (it shows the uncorrected picture), and the tags of
the source file's own image layout (strips, tiles, sub-IFDs, a DNG's raw-data tags) stay behind,
for they describe the source's pixels, not the result's.

exiv2 writes JPEG, PNG, TIFF and WebP; it reads those, HEIC/HEIF (BMFF) and camera RAW. It does not
write HEIC: for a HEIC result, photo.py gives pillow-heif the EXIF block that `exif_block` makes.
"""

import contextlib
import os
import tempfile
from fractions import Fraction

EXIV2_WRITES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")

# IFD0 tags that describe the photo; the other baseline TIFF tags (254-343) describe the source's
# own pixels (size, strips, samples), as do these and the DNG tags (50706-52735, a raw file's
# calibration) but for two that describe the camera. Left out of the result, with every sub-image.
DESCRIPTIVE_BASELINE = {269, 270, 271, 272, 274, 282, 283, 296, 305, 306, 315, 316}
LAYOUT_TAGS = {330, 513, 514, 700, 33421, 33422, 34675}  # SubIFDs, JPEG thumbnail, XMP, CFA, ICC
DNG_TAGS, DNG_DESCRIPTIVE = range(50706, 52736), {50735, 50736}  # CameraSerialNumber, LensInfo


def is_layout(key, tag):
    """An EXIF key of the source that describes its file rather than the photo."""
    if key.startswith(("Exif.SubImage", "Exif.Image2", "Exif.Image3", "Exif.Thumbnail")):
        return True
    if not key.startswith("Exif.Image."):
        return False
    baseline = 254 <= tag <= 343 and tag not in DESCRIPTIVE_BASELINE
    return baseline or tag in LAYOUT_TAGS or (tag in DNG_TAGS and tag not in DNG_DESCRIPTIVE)


def _exiv2():
    import pyexiv2

    pyexiv2.set_log_level(4)  # mute: a camera's odd maker note is not the user's problem
    return pyexiv2


def copy_metadata(source, destination):
    """EXIF, IPTC and XMP of the file `source` into the file `destination` (a format exiv2 writes),
    orientation 1, no thumbnail, no layout tags of the source. The ICC profile is the encoder's
    business (photo.py writes the profile the pixels are in). False if exiv2 cannot read `source`.
    A TIFF result takes them from a clean copy on a tiny JPEG: exiv2 would otherwise write the
    source's layout (its bits per sample, say) over the result's own."""
    if destination.lower().endswith((".tif", ".tiff")):
        with clean_copy(source) as clean:
            return clean is not None and _copy(clean, destination)
    return _copy(source, destination)


def _copy(source, destination):
    """False if exiv2 reads no metadata from `source`; an error writing `destination` is raised (the
    caller names the file: a result must not lose its metadata unsaid)."""
    pyexiv2 = _exiv2()
    try:
        src = pyexiv2.Image(source)
    except (RuntimeError, OSError, ValueError):  # a format or file exiv2 does not read
        return False
    try:
        layout = {k for k, d in src.read_exif_detail().items() if is_layout(k, int(d["tagNumber"]))}
        with pyexiv2.Image(destination) as dst:
            src.copy_to_another_image(dst, exif=True, iptc=True, xmp=True, comment=False, icc=False)
    finally:
        src.close()
    tidy(destination, layout)
    return True


@contextlib.contextmanager
def clean_copy(source):
    """A temporary 8x8 JPEG carrying the source's metadata as copy_metadata leaves it (None if
    exiv2 reads none), removed afterwards."""
    from PIL import Image

    handle, tmp = tempfile.mkstemp(suffix=".jpg")
    os.close(handle)
    try:
        Image.new("RGB", (8, 8)).save(tmp, "JPEG")
        yield tmp if _copy(source, tmp) else None
    finally:
        os.remove(tmp)


def tidy(path, layout):
    """The result's orientation 1 (EXIF and XMP), its thumbnail gone, and the source's layout tags
    (`layout`) gone."""
    pyexiv2 = _exiv2()
    with pyexiv2.Image(path) as image:
        exif = image.read_exif_detail()
        own = path.lower().endswith((".tif", ".tiff"))
        drop = {
            k: None
            for k in layout & set(exif)
            if not (
                own
                and k.startswith("Exif.Image.")
                and (254 <= int(exif[k]["tagNumber"]) <= 343 or int(exif[k]["tagNumber"]) == 34675)
            )
        }
        if drop:
            image.modify_exif(drop)
        if "Exif.Image.Orientation" in exif:
            image.modify_exif({"Exif.Image.Orientation": "1"})
        if "Xmp.tiff.Orientation" in image.read_xmp():
            image.modify_xmp({"Xmp.tiff.Orientation": "1"})
        image.clear_thumbnail()


def exposure_bias(path):
    """The exposure compensation the photo was shot with (EXIF ExposureBiasValue), in stops: the
    photographer's choice to make it darker (< 0) or brighter than the camera's meter. None when the
    file has no such tag, or exiv2 cannot read it."""
    try:
        with _exiv2().Image(path) as image:
            value = image.read_exif().get("Exif.Photo.ExposureBiasValue")
    except (RuntimeError, OSError, ValueError):
        return None
    try:
        bias = float(Fraction(str(value).split()[0])) if value else None
    except (ValueError, ZeroDivisionError):  # a tag that is not a number says nothing
        return None
    return bias if bias is not None and abs(bias) <= 10 else None


def write_icc(path, icc):
    """The ICC profile into a file exiv2 writes (PNG: its iCCP chunk)."""
    with _exiv2().Image(path) as image:
        image.modify_icc(icc)


def xmp_packet(source):
    """The XMP packet of `source` as bytes (for a HEIC result), None if there is none exiv2 reads."""
    try:
        with _exiv2().Image(source) as image:
            packet = image.read_raw_xmp()
    except (RuntimeError, OSError, ValueError):
        return None
    return packet.encode("utf-8") if packet else None


def exif_block(source):
    """The EXIF of `source` as the block Pillow and pillow-heif take (b"Exif\\0\\0" + TIFF structure),
    as exiv2 encodes every tag (maker notes included) with copy_metadata's changes; None if the
    source has none exiv2 reads."""
    from PIL import Image

    with clean_copy(source) as clean:
        if clean is None:
            return None
        with Image.open(clean) as im:
            exif = im.getexif()
            return exif.tobytes() if len(exif) else None
