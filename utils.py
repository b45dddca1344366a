"""Shared helpers with no torch dependency (predict.py's ONNX path imports this and no torch):
conf loading and validation, image listing / reading / writing, metrics."""

import argparse
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
ARCH_KEYS = (
    "laplacian_level_count",
    "layer_count_of_every_unet",
    "first_layer_out_channels_of_every_unet",
    "use_iaff",
    "iaff_r",
    "use_psa",
    "use_global_head",
)

# ---------------------------------------------------------------- conf

_ARCH_SCHEMA = {
    "laplacian_level_count": "posint",
    "layer_count_of_every_unet": "per_level",
    "first_layer_out_channels_of_every_unet": "per_level",
    "use_iaff": "bool",
    "iaff_r": "posint",
    "use_psa": "bool",
    "use_global_head": "bool",
}

# Every key each section must have, and its kind (checked by _check_value).
SCHEMA = {
    "train": {
        "image_size": "size",
        "discriminator_image_size": "size",
        "train_data_dir": "dir_or_empty",
        "valid_data_dir": "dir_or_empty",
        "paired_train_input_dir": "dir_or_empty",
        "paired_train_gt_dir": "dir_or_empty",
        "paired_valid_input_dir": "dir_or_empty",
        "paired_valid_gt_dir": "dir_or_empty",
        "max_image_side": "int",
        "cache_images": "cache",
        "batch_size": "posint",
        "epochs": "posint",
        "init_lr": "number",
        "final_lr": "number",
        "weight_decay": "number",
        "discriminator_init_lr": "number",
        "discriminator_final_lr": "number",
        "discriminator_weight_decay": "number",
        "begin_use_adv_loss_epoch": "posint",
        "reconstruction_loss_weight": "number",
        "pyramid_loss_weight": "number",
        "adversarial_loss_weight": "number",
        "color_jitter_brightness": "unit",
        "color_jitter_contrast": "unit",
        "color_jitter_saturation": "unit",
        "color_jitter_hue": "hue",
        "ev_synthesis_fraction": "unit",
        "ev_range": "range",
        "CUDA_VISIBLE_DEVICES": "str",
        "num_workers": "workers",
        "seed": "int",
        "model_save_dir": "str",
        "resume": "bool",
        "init_generator_from": "file_or_empty",
        "init_discriminator_from": "file_or_empty",
        "lr_step_epochs": "int",
        "crops_per_photo": "posint",
        "working_sizes": "sizes",
        "working_size_weights": "weights",
        "identity_fraction": "unit",
        "guided_loss_weight": "number",
        "ssim_loss_weight": "number",
        "chroma_loss_weight": "number",
        "global_loss_weight": "number",
        "saturation_loss_weight": "number",
        "global_head_lr_scale": "number",
        "validate_all_sizes_every": "posint",
        "fit_check_count": "int",
        "checkpoint_every_steps": "int",
        "precision": "precision",
        **_ARCH_SCHEMA,
    },
    "predict": {
        "img_pth": "path",
        "image_size": "size",
        "use_orig_size": "bool",
        "max_side": "int",
        "guided_upsampling": "bool",
        "result_output_dir": "str",
        "output_format": "format",
        "strip_metadata": "bool",
        "max_megapixels": "number",
        "pretrained_model": "file",
        "show_result": "bool",
        "self_ensemble": "bool",
        "strength": "strength",
        "temporal_smoothing": "smoothing",
        "video_crf": "crf",
        **_ARCH_SCHEMA,
    },
    "convert_to_onnx": {
        "pth_file_path": "file",
        "dummy_input_image_size": "nchw",
        "onnx_output_path": "str",
        "dynamic_bhw": "bool",
        "opset": "posint",
        **_ARCH_SCHEMA,
    },
    "convert_to_rknn": {
        "ONNX_MODEL": "file",
        "RKNN_MODEL": "str",
        "laplacian_level_count": "posint",
        "rknn_batch_size": "posint",
        "target_platform": "str",
        "image_size": "size",
        "quantize": "bool",
        "quantize_dataset_dir": "dir_or_empty",
        "do_inference": "bool",
        "inference_image_path": "file_or_empty",
        "inference_out_path": "str",
    },
    "evaluate": {
        "model": "file_or_empty",
        "data_dir": "dir",
        "predictions_dir": "dir_or_empty",
        "report_dir": "str",
        "max_side": "int",
        "guided_upsampling": "bool",
        "self_ensemble": "bool",
        "strength": "strength",
    },
}


# Where a user missing a data folder is sent (the README links it).
DATA_HELP = "where to get the data: docs/data.md"

DATA_KEYS = (
    "train_data_dir",
    "valid_data_dir",
    "paired_train_input_dir",
    "paired_train_gt_dir",
    "paired_valid_input_dir",
    "paired_valid_gt_dir",
    "data_dir",
)


class ConfError(ValueError):
    pass


def _kinds(level_count):
    """Each kind of conf value: (its check, what it must be in words)."""
    is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)
    is_num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    checks = {
        "posint": (lambda v: is_int(v) and v > 0, "a positive integer"),
        "int": (lambda v: is_int(v) and v >= 0, "a non-negative integer"),
        "number": (lambda v: is_num(v) and v >= 0, "a non-negative number"),
        "unit": (lambda v: is_num(v) and 0 <= v <= 1, "a number in [0, 1]"),
        "hue": (lambda v: is_num(v) and 0 <= v <= 0.5, "a number in [0, 0.5]"),
        "strength": (lambda v: is_num(v) and 0 <= v <= 2, "a number in [0, 2]"),
        "smoothing": (lambda v: is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
        "crf": (
            lambda v: is_int(v) and 0 <= v <= 51,
            "an integer in [0, 51] (H.264 quality: lower is better)",
        ),
        "sizes": (
            lambda v: isinstance(v, list) and all(is_int(x) and x > 0 for x in v),
            "a list of positive integers (long sides in pixels), or []",
        ),
        "weights": (
            lambda v: isinstance(v, list) and all(is_num(x) and x >= 0 for x in v) and (not v or sum(v) > 0),
            "a list of non-negative numbers, one per working size",
        ),
        "bool": (lambda v: isinstance(v, bool), "true or false"),
        "str": (lambda v: isinstance(v, str), "a string"),
        "size": (
            lambda v: isinstance(v, list) and len(v) == 2 and all(is_int(x) and x > 0 for x in v),
            "[height, width], two positive integers",
        ),
        "nchw": (
            lambda v: isinstance(v, list)
            and len(v) == 4
            and all(is_int(x) and x > 0 for x in v)
            and v[1] == 3,
            "[N, 3, H, W], positive integers",
        ),
        "range": (
            lambda v: isinstance(v, list) and len(v) == 2 and all(is_num(x) for x in v) and v[0] <= v[1],
            "[low, high] with low <= high",
        ),
        "per_level": (
            lambda v: isinstance(v, list) and all(is_int(x) and x > 0 for x in v) and len(v) == level_count,
            f"a list of {level_count} positive integers, one per level "
            f"(laplacian_level_count is {level_count})",
        ),
        "format": (
            lambda v: v in OUTPUT_FORMATS,
            '"same" (each photo in its own format) or one of "jpg", "png", "tif", "webp", "heic"',
        ),
        "precision": (lambda v: v in ("auto", "bf16", "fp32"), '"auto", "bf16" or "fp32"'),
        "cache": (lambda v: v in ("auto", True, False), '"auto", true or false'),
        "workers": (lambda v: v == "auto" or (is_int(v) and v >= 0), '"auto" or a non-negative integer'),
        "file": (lambda v: isinstance(v, str) and os.path.isfile(v), "an existing file"),
        "file_or_empty": (
            lambda v: isinstance(v, str) and (v == "" or os.path.isfile(v)),
            'an existing file or ""',
        ),
        "dir": (lambda v: isinstance(v, str) and os.path.isdir(v), "an existing folder"),
        "dir_or_empty": (
            lambda v: isinstance(v, str) and (v == "" or os.path.isdir(v)),
            'an existing folder or ""',
        ),
        "path": (
            lambda v: (isinstance(v, str) and os.path.exists(v))
            or (isinstance(v, list) and v and all(isinstance(x, str) and os.path.exists(x) for x in v)),
            "an existing file or folder, or a list of them",
        ),
    }
    return checks


OUTPUT_FORMATS = ("same", "jpg", "png", "tif", "webp", "heic")

# Kinds whose value is a string: given on the command line, the text is taken as it is ("0" stays "0").
STRING_KINDS = ("str", "file", "file_or_empty", "dir", "dir_or_empty", "path", "format", "precision")


def _check_value(kind, value, level_count):
    """Return None if `value` is a valid `kind`, else what was expected."""
    ok, expected = _kinds(level_count)[kind]
    return None if ok(value) else expected


def validate_section(conf, section, first=()):
    """Raise ConfError, naming the key, for anything missing, unknown or ill-typed; the keys in
    `first` (those given on the command line) are checked before the others."""
    if section not in conf or not isinstance(conf[section], dict):
        raise ConfError(f"section '{section}' is missing")
    values, schema = conf[section], SCHEMA[section]
    for key in values:
        if key not in schema:
            raise ConfError(f"[{section}] unknown key '{key}'")
    for key in schema:
        if key not in values:
            raise ConfError(f"[{section}] missing key '{key}'")
    level_count = values.get("laplacian_level_count")
    for key in sorted(schema, key=lambda k: k not in first):
        expected = _check_value(schema[key], values[key], level_count)
        if expected is not None:
            hint = f" ({DATA_HELP})" if key in DATA_KEYS else ""
            raise ConfError(f"[{section}] key '{key}' must be {expected}, got {values[key]!r}{hint}")
    if len(values.get("working_sizes", [])) != len(values.get("working_size_weights", [])):
        raise ConfError(
            f"[{section}] keys 'working_sizes' and 'working_size_weights' must have the same length"
        )
    return values


def read_conf(path):
    """The whole conf file, unvalidated (load_section validates the section a script uses)."""
    with open(path) as f:
        return json.load(f)


def load_section(path, section, overrides=None):
    """Load one section, apply `overrides` (key -> value, from the command line) and validate the
    result; on any problem print one line naming the key, and where it came from, and exit with
    code 2. An override may mend the file's value (a data folder that is not here)."""
    overrides = overrides or {}
    try:
        conf = read_conf(path)
        if isinstance(conf.get(section), dict):
            conf[section] = {**conf[section], **overrides}
        return validate_section(conf, section, first=overrides)
    except FileNotFoundError:
        fail(f"conf file not found: {path}")
    except json.JSONDecodeError as e:
        fail(f"{path} is not valid JSON: {e}")
    except ConfError as e:
        key = re.search(r"key '([^']+)'", str(e))
        fail(f"{'command line' if key and key.group(1) in overrides else path}: {e}")


def parse_value(text, kind):
    """A command-line value: taken as it is for string keys, else parsed as JSON where it parses
    (numbers, true/false, lists such as [128,256]) and kept as a string otherwise, so that the
    schema's check names the key and what it must be."""
    if kind in STRING_KINDS:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_with_conf(parser, section, positional=None, argv=None):
    """Parse the script's own flags, plus `--KEY VALUE` (or `--KEY=VALUE`) for every key of
    `section`, over the conf file named by --conf. `positional` = (argument, key): the script's
    positional argument that, when given, replaces that key. Returns (args, the validated
    section); the file itself is never changed."""
    argv = sys.argv[1:] if argv is None else list(argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--conf", default="conf.json")
    conf_path = pre.parse_known_args(argv)[0].conf
    try:
        file_values = read_conf(conf_path).get(section, {})
    except (OSError, ValueError, AttributeError):
        file_values = {}  # said by load_section below, after --help has had its chance
    # The usage line names the script's own arguments; the keys are listed under their own heading.
    parser.usage = parser.format_usage().split(":", 1)[1].strip() + " [--KEY VALUE ...]"
    group = parser.add_argument_group(
        f"keys of the [{section}] section of {conf_path} (--KEY VALUE overrides one for this run)"
    )
    taken = set(parser._option_string_actions)
    for key, kind in SCHEMA[section].items():
        if f"--{key}" not in taken:
            value = json.dumps(file_values[key]) if key in file_values else "(missing)"
            expected = _kinds(file_values.get("laplacian_level_count"))[kind][1]
            group.add_argument(
                f"--{key}", metavar="V", default=argparse.SUPPRESS, help=f"conf: {value}; {expected}"
            )
    for token in argv:  # one line for an unknown key, as for one in the file, not argparse's usage
        name = token[2:].split("=", 1)[0]
        if token.startswith("--") and name and f"--{name}" not in parser._option_string_actions:
            fail(f"command line: [{section}] unknown key '{name}' (--help lists the keys)")
    args = parser.parse_args(argv)
    overrides = {
        key: parse_value(getattr(args, key), kind)
        for key, kind in SCHEMA[section].items()
        if key in vars(args) and parser._option_string_actions.get(f"--{key}") in group._group_actions
    }
    if positional and getattr(args, positional[0]):
        paths = getattr(args, positional[0])
        for path in paths:
            if not os.path.exists(path):
                fail(f"no such file or folder: {path}")
        overrides[positional[1]] = paths if len(paths) > 1 else paths[0]
    return args, load_section(conf_path, section, overrides)


def correction_settings(section):
    """inference.correct_batch's keyword arguments from a `predict` or `evaluate` section."""
    return {
        "max_side": section["max_side"],
        "guided": section["guided_upsampling"],
        "ensemble": section["self_ensemble"],
        "image_size": None if section.get("use_orig_size", True) else section["image_size"],
        "strength": section["strength"],
    }


def argument_parser(doc, section):
    """Every script takes --conf PATH (default conf.json) and reads one section of it."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--conf", default="conf.json", help=f"conf file (section '{section}')")
    return parser


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def check_arch(conf, arch, source):
    """The architecture keys present in a conf section must match the model's."""
    for key in ARCH_KEYS:
        if key in conf and key in arch and conf[key] != arch[key]:
            raise ConfError(f"conf key '{key}' is {conf[key]!r} but {source} was trained with {arch[key]!r}")


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


# ---------------------------------------------------------------- metrics (../shared/GUIDE.md section 4)


def psnr(output_uint8, target_uint8):
    mse = np.mean((output_uint8.astype(np.float64) - target_uint8.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(output_uint8, target_uint8):
    """MATLAB-style SSIM: Gaussian window sigma 1.5, population covariance, 8-bit range."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            output_uint8,
            target_uint8,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
        )
    )


# The look: what PSNR averages away. Colours in CIELAB (D65, from sRGB, OpenCV's formula); luma as
# Rec. 709 weights on the 8-bit sRGB values, in levels of 255 like the brightness bias.
LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], np.float32)


def look_stats(rgb_uint8):
    """{chroma: mean CIELAB chroma C*ab, a, b: mean a*, b*, black: 2nd-percentile luma,
    median: median luma, mean: mean level} of an 8-bit RGB image."""
    import cv2

    lab = cv2.cvtColor(rgb_uint8.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    luma = rgb_uint8.astype(np.float32) @ LUMA_WEIGHTS
    black, median = np.percentile(luma, (2, 50))
    return {
        "chroma": float(np.hypot(lab[..., 1], lab[..., 2]).mean()),
        "a": float(lab[..., 1].mean()),
        "b": float(lab[..., 2].mean()),
        "black": float(black),
        "median": float(median),
        "mean": float(rgb_uint8.mean()),
    }


def look_metrics(out, target):
    """The look of an output against its ground truth, from two look_stats: saturation_ratio (mean
    chroma over the ground truth's), brightness_bias (mean level difference), black_level (2nd-percentile
    luma difference), median_shift (median luma difference), cast_a / cast_b (mean a*, b* difference).
    The chroma ratio's denominator is at least 1 (an almost grey ground truth)."""
    return {
        "saturation_ratio": out["chroma"] / max(target["chroma"], 1.0),  # a grey photo: no blow-up
        "brightness_bias": out["mean"] - target["mean"],
        "black_level": out["black"] - target["black"],
        "median_shift": out["median"] - target["median"],
        "cast_a": out["a"] - target["a"],
        "cast_b": out["b"] - target["b"],
    }


# ---------------------------------------------------------------- generated data for the benchmarks


def synthetic_photo(height, width, seed=0):
    """A photo-like JPEG source: smooth colour fields with fine texture at full resolution."""
    rng = np.random.default_rng(seed)
    base = resize(rng.random((6, 9, 3), dtype=np.float32), height, width)
    return np.clip(base * 0.6 + rng.normal(0, 0.03, (height, width, 1)).astype(np.float32), 0, 1)


def synthesis_conf(base, photos, path, **changes):
    """A conf file whose train section is `base` on the photos of one folder (inputs synthesised, no
    validation, from scratch) with `changes`, validated as train.py validates it; returns its path."""
    no_pairs = dict.fromkeys(
        ("valid_data_dir", "paired_train_input_dir", "paired_train_gt_dir", "paired_valid_input_dir"), ""
    )
    train = dict(base, train_data_dir=photos, paired_valid_gt_dir="", init_generator_from="", **no_pairs)
    train.update(changes)
    validate_section({"train": train}, "train")
    with open(path, "w") as f:
        json.dump({"train": train}, f)
    return path
