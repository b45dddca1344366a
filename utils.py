"""Shared helpers with no torch dependency (predict.py's ONNX path imports this and no torch): the
file kinds, one-line failures, image listing, MSEC pairs, atomic writes, resizing and the size
check, and synthetic photos for benchmarks. The conf has its own module (config.py), and so do
the metrics (metrics.py)."""

import csv
import json
import os
import re
import sys

import cv2
import numpy as np

# Camera RAW files (read by rawpy/LibRaw in photo.py).
RAW_EXTENSIONS = (".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw")
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".heic",
    ".heif",
) + RAW_EXTENSIONS
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm")


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


# ---------------------------------------------------------------- image files


def list_images(path):
    """A file, or every image file under a folder (subfolders too), sorted. Returns
    (images, skipped) where skipped are the non-image files of the folder."""
    if os.path.isfile(path):
        return [path], []
    images, skipped = [], []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            (images if name.lower().endswith(IMAGE_EXTENSIONS) else skipped).append(full)
    return images, skipped


MSEC_INPUT_NAME = re.compile(r"^(?P<scene>.+)_(?P<ev>N1\.5|N1|0|P1|P1\.5)$")


def find_msec_pairs(input_dir, gt_dir):
    """Match `<scene>_<EV>.<ext>` inputs to `<scene>.<ext>` ground truths (any case, any image
    extension). Returns (pairs, unmatched_inputs) with pairs as (input_path, gt_path, ev)."""
    gts = {}
    for path in list_images(gt_dir)[0]:
        gts[os.path.splitext(os.path.basename(path))[0]] = path
    pairs, unmatched = [], []
    for path in list_images(input_dir)[0]:
        stem = os.path.splitext(os.path.basename(path))[0]
        match = MSEC_INPUT_NAME.match(stem)
        scene = match["scene"] if match else stem
        if scene in gts:
            pairs.append((path, gts[scene], match["ev"] if match else ""))
        else:
            unmatched.append(path)
    return pairs, unmatched


def atomic_write(path, write):
    """Create `path` by `write(temporary path)` in the same folder, then rename: a kill at any moment
    leaves the old file whole (the one home of write-to-temp-then-rename). The temporary name
    keeps the extension, by which encoders choose the format."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}{os.path.splitext(path)[1]}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, data):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)

    atomic_write(path, write)


def write_csv(path, rows):
    """Rows may differ in keys (e.g. scores measured only some epochs): the header is their union,
    in first-seen order, and a missing value is left empty."""
    fields = list(dict.fromkeys(key for row in rows for key in row))

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def to_uint8(rgb):
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def resize(rgb, height, width):
    """Area averaging when shrinking (no aliasing), bilinear when enlarging."""
    shrinking = height * width < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def pad_bottom_right(image, height, width):
    """Reflect-pad H x W x C `image` at the bottom and right to at least height x width (the one
    padding used by training crops and by the network's size multiple at prediction)."""
    h, w = image.shape[:2]
    if h >= height and w >= width:
        return image
    mode = "reflect" if min(h, w) > 1 else "edge"
    return np.pad(image, ((0, max(0, height - h)), (0, max(0, width - w)), (0, 0)), mode=mode)


def check_size_multiple(height, width, multiple, what="image size"):
    """The one size check: the network needs H and W that are positive multiples of `multiple`
    (ValueError naming `what` otherwise)."""
    if height <= 0 or width <= 0 or height % multiple or width % multiple:
        raise ValueError(
            f"{what} {height}x{width}: H and W must be multiples of {multiple} for this architecture "
            f"(pad or resize to multiples of {multiple})"
        )


def fit_long_side(height, width, max_side):
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


# ---------------------------------------------------------------- generated data for the benchmarks


def synthetic_photo(height, width, seed=0):
    """A photo-like JPEG source: smooth colour fields with fine texture at full resolution."""
    rng = np.random.default_rng(seed)
    base = resize(rng.random((6, 9, 3), dtype=np.float32), height, width)
    return np.clip(base * 0.6 + rng.normal(0, 0.03, (height, width, 1)).astype(np.float32), 0, 1)
