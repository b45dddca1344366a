"""The conf: the schema of conf.json's sections (every key, its kind and what it must be),
loading and validating a section with one-line errors that name the key, the command line's
`--KEY VALUE` overrides, and conf files made for generated data (benchmarks, checks). No torch."""

import argparse
import json
import os
import re
import sys

from utils import fail

ARCH_KEYS = (
    "laplacian_level_count",
    "layer_count_of_every_unet",
    "first_layer_out_channels_of_every_unet",
    "use_iaff",
    "iaff_r",
    "use_psa",
    "use_global_head",
    "global_view",
    "auto_strength",
)


_ARCH_SCHEMA = {
    "laplacian_level_count": "posint",
    "layer_count_of_every_unet": "per_level",
    "first_layer_out_channels_of_every_unet": "per_level",
    "use_iaff": "bool",
    "iaff_r": "posint",
    "use_psa": "bool",
    "use_global_head": "bool",
    "global_view": "view",
    "auto_strength": "bool",
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
        "pair_ev_jitter": "ev_jitter",
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
        "lift_crop": "share",
        "lift_scale": "lift_scale",
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
        "respect_exposure_compensation": "bool",
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
        "share": (lambda v: is_num(v) and 0 < v <= 1, "a number in (0, 1]"),
        "lift_scale": (lambda v: is_num(v) and 1 <= v <= 4, "a number in [1, 4]"),
        "strength": (lambda v: is_num(v) and 0 <= v <= 2, "a number in [0, 2]"),
        "ev_jitter": (lambda v: is_num(v) and 0 <= v <= 2, "a number of stops in [0, 2] (0: off)"),
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
        "view": (lambda v: v in ("blocks", "whole"), '"blocks" or "whole"'),
        "cache": (lambda v: isinstance(v, bool) or v == "auto", '"auto", true or false'),
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
STRING_KINDS = ("str", "file", "file_or_empty", "dir", "dir_or_empty", "path", "format", "precision", "view")


def _check_value(kind, value, level_count):
    """Return None if `value` is a valid `kind`, else what was expected."""
    ok, expected = _kinds(level_count)[kind]
    return None if ok(value) else expected


def validate_section(conf, section, first=()):
    """Raise ConfError, naming the key, for anything missing, unknown or ill-typed; the keys in
    `first` (those given on the command line) are checked before the others."""
    if section not in conf:
        raise ConfError(f"section '{section}' is missing")
    if not isinstance(conf[section], dict):
        raise ConfError(f"section '{section}' must be an object of keys, got {_shown(conf[section])}")
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
            if isinstance(values[key], str) and values[key].lower().endswith(".onnx"):
                hint = " (python convert_2_onnx.py makes it from a .pth)"
            raise ConfError(f"[{section}] key '{key}' must be {expected}, got {values[key]!r}{hint}")
    if len(values.get("working_sizes", [])) != len(values.get("working_size_weights", [])):
        raise ConfError(
            f"[{section}] keys 'working_sizes' and 'working_size_weights' must have the same length"
        )
    return values


def _shown(value):
    """A value as an error message shows it: its JSON, cut short."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_conf(path):
    """The whole conf file, unvalidated (load_section validates the section a script uses);
    ConfError unless it is a JSON object (one object per section)."""
    with open(path, encoding="utf-8") as f:
        conf = json.load(f)
    if not isinstance(conf, dict):
        raise ConfError(f"must hold a JSON object with one object per section, got {_shown(conf)}")
    return conf


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
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read the conf file {path}: {getattr(e, 'strerror', None) or type(e).__name__}")
    except ConfError as e:
        named = re.findall(r"'([^']+)'", str(e).split(" must ")[0])  # the keys the message is about
        fail(f"{'command line' if set(named) & set(overrides) else path}: {e}")


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
    except (OSError, ValueError):
        file_values = {}  # said by load_section below, after --help has had its chance
    if not isinstance(file_values, dict):
        file_values = {}
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
    args.given = set(overrides)  # the keys set for this run: asked_arch checks a model against them
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


def arch_of(section):
    """The architecture keys of a conf section: what builds a model from scratch, and what weights
    that carry no architecture of their own are read as."""
    return {key: section[key] for key in ARCH_KEYS if key in section}


def asked_arch(section, given):
    """The architecture keys of `section` set on the command line (`given`, parse_with_conf's
    args.given): a model that carries its own architecture must agree with these, and only these."""
    return {key: section[key] for key in ARCH_KEYS if key in section and key in given}


def _moot(key, arch):
    """Keys that change nothing in this architecture (docs/conf.md): the global stage's options
    without a global stage, iAFF's ratio without iAFF."""
    if key in ("global_view", "auto_strength"):
        return not arch.get("use_global_head", False)
    return key == "iaff_r" and not arch.get("use_iaff", False)


def check_arch(asked, arch, source):
    """ConfError, in one line, for the first key of `asked` that contradicts the model's `arch`."""
    for key, value in asked.items():
        if key in arch and value != arch[key] and not _moot(key, arch):
            raise ConfError(
                f"--{key} {json.dumps(value)} contradicts {source}, which was trained with "
                f"{json.dumps(arch[key])} (a model carries its architecture: leave --{key} out)"
            )


def synthesis_conf(base, photos, path, check=True, **changes):
    """A conf file whose train section is `base` on the photos of one folder (inputs synthesised, no
    validation, from scratch) with `changes`, validated as train.py validates it (`check`; an older
    commit's conf is left to that commit's own train.py); returns its path."""
    no_pairs = dict.fromkeys(
        ("valid_data_dir", "paired_train_input_dir", "paired_train_gt_dir", "paired_valid_input_dir"), ""
    )
    train = dict(base, train_data_dir=photos, paired_valid_gt_dir="", init_generator_from="", **no_pairs)
    train.update(changes)
    if check:
        validate_section({"train": train}, "train")
    with open(path, "w") as f:
        json.dump({"train": train}, f)
    return path
