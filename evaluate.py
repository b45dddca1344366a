"""Score a model (or a folder of existing outputs) on paired data in MSEC layout, alone or paired
against a second model.

`python evaluate.py [--conf conf.json]` reads the `evaluate` section: `data_dir` holds
INPUT_IMAGES/<scene>_<EV>.JPG and the ground truths, either GT_IMAGES/<scene>.jpg (one per scene)
or, as the MSEC test split, expert_a_testing_set/ ... expert_e_testing_set/ (any of them present:
each input is scored against every expert that has its scene, and the mean over experts, as the
paper's Table 1). The model (.pth or .onnx) runs through the code path of predict.py
(inference.correct_image); with `predictions_dir` set, the outputs found there (named after the
inputs, any image extension) are scored instead. PSNR and SSIM (MATLAB-style, via scikit-image) on
8-bit RGB at the ground truth's own resolution, beside the identity baseline (the input itself).
Writes a table to stdout, metrics.json and per_image.csv to `report_dir`.

`--compare OTHER` (a model, or a folder of outputs) scores OTHER on the same inputs and reports
the paired difference (this model minus OTHER): its mean, a 95% interval over scenes (t over the
per-scene mean differences: the EVs of one scene are not independent) and how many scenes got
better, overall and per EV. OTHER may also be an earlier report's per_image.csv on the same inputs
(scored with the same settings): its scores are reused, for a model that is no longer at hand.

`--good-photos` feeds the ground truths themselves as inputs and scores each output against its
input: a well-exposed photo should come back (nearly) unchanged. `--scenes N` scores N scenes
spread evenly over the sorted scene names (a fixed subset, e.g. of the training photos, to see
how well a model fits what it was trained on).
"""

import functools
import os
import re
import sys
import time

import numpy as np

from inference import correct_image, load_backend
from photo import ImageReadError, read_image
from config import DATA_HELP, ConfError, argument_parser, correction_settings, parse_with_conf
from metrics import psnr, look_metrics, look_stats, ssim
from utils import (
    MSEC_INPUT_NAME,
    IMAGE_EXTENSIONS,
    fail,
    find_msec_pairs,
    list_images,
    resize,
    to_uint8,
    write_csv,
    write_json,
)

EV_ORDER = ("N1.5", "N1", "0", "P1", "P1.5")
GROUPS = {
    "all": EV_ORDER,
    "under (N1.5, N1)": ("N1.5", "N1"),
    "over/normal (0, P1, P1.5)": ("0", "P1", "P1.5"),
}
EXPERT_FOLDER = re.compile(r"^expert_(?P<name>[a-z])_testing_set$", re.IGNORECASE)


def parse_args():
    parser = argument_parser(__doc__, "evaluate")
    parser.add_argument(
        "--limit", type=int, default=None, help="score only the first N inputs (default: all)"
    )
    parser.add_argument(
        "--scenes", type=int, default=None, help="score N scenes spread evenly over the sorted names"
    )
    parser.add_argument(
        "--good-photos",
        action="store_true",
        help="feed the ground truths as inputs and score each output against its input",
    )
    parser.add_argument(
        "--compare",
        default="",
        metavar="OTHER",
        help="a second model (.pth/.onnx), folder of outputs or earlier per_image.csv: paired difference",
    )
    return parse_with_conf(parser, "evaluate")


def main():
    args, conf = parse_args()
    for flag, value in (("--limit", args.limit), ("--scenes", args.scenes)):
        if value is not None and value < 1:
            fail(f"{flag} must be at least 1, got {value}")
    if not conf["predictions_dir"] and not conf["model"]:
        fail("[evaluate] set 'model' (a .pth or .onnx) or 'predictions_dir' (outputs to score)")
    if args.good_photos and conf["predictions_dir"]:
        fail(
            "--good-photos runs the model on the ground truths: set 'model' and leave 'predictions_dir' empty"
        )
    if args.good_photos and "report_dir" not in args.given:  # never over the default report of inputs
        conf["report_dir"] += "_good_photos"
    items, unmatched = find_items(conf["data_dir"], args.good_photos)
    items = subset(items, args.scenes, args.limit)
    correction = correction_settings(conf)  # predict.py's settings for photos at their own size
    source = model_source(conf["model"], conf["predictions_dir"], "model")
    other = None
    if args.compare.lower().endswith(".csv"):
        other = earlier_scores(args.compare, items)
    elif args.compare:  # a folder holds outputs, anything else is a model
        folder = args.compare if os.path.isdir(args.compare) else ""
        other = model_source("" if folder else args.compare, folder, "--compare")
    if isinstance(other, tuple) and args.good_photos and other[1]:
        fail("--good-photos with --compare needs a model to compare with, not a folder of outputs")
    started = time.time()
    rows, missing = score(items, source, other, correction, args.good_photos)
    for message in missing:
        print(f"warning: {message}")
    if not rows:
        fail("nothing was scored")
    summary, paired = summarise(rows), (compare_summary(rows) if other else None)
    scenes = None if args.good_photos else scene_brightness(rows)
    experts = expert_names(rows)
    print_table(summary, args.good_photos, experts)
    if scenes:
        print_scenes(scenes)
    if paired:
        print_comparison(paired, conf["model"] or conf["predictions_dir"], args.compare)
    report = {
        "model": conf["model"] if source[0] else None,
        "predictions_dir": conf["predictions_dir"] or None,
        "compare": args.compare or None,
        "data_dir": conf["data_dir"],
        "experts": experts,
        "good_photos": args.good_photos,
        **correction,
        "scored": len(rows),
        "not_scored": missing + [f"no ground truth: {p}" for p in unmatched],
        "seconds": round(time.time() - started, 1),
        "groups": summary,
        **({"scenes": scenes} if scenes else {}),
        **({"paired_difference": paired} if paired else {}),
    }
    write_report(conf["report_dir"], report, rows)
    print(f"{len(rows)} scored, {len(missing) + len(unmatched)} not scored; report in {conf['report_dir']}")
    sys.exit(1 if missing else 0)


def model_source(model, predictions_dir, what):
    """(backend or None, predictions folder or ''): where a model's outputs come from."""
    if predictions_dir:
        return None, predictions_dir
    try:
        return load_backend(model), ""
    except (ConfError, ValueError) as e:
        fail(f"{what}: {e}")


def earlier_scores(path, items):
    """{input name: {other_psnr, other_ssim}} from an earlier report's per_image.csv, which must
    hold a row for every input about to be scored."""
    import csv

    try:
        with open(path, newline="") as f:
            rows = {r["input"]: r for r in csv.DictReader(f)}
        # an older report has no look columns: its PSNR/SSIM are still paired
        carried = next(iter(rows.values()), {})
        keys = ("psnr", "ssim") + tuple(k for k in LOOK_KEYS + ("brightness",) if k in carried)
        scores = {k: {f"other_{key}": float(r[key]) for key in keys} for k, r in rows.items()}
    except (OSError, KeyError, ValueError, TypeError) as e:
        fail(f"--compare {path}: not a readable per_image.csv of evaluate.py ({type(e).__name__}: {e})")
    absent = [os.path.basename(i["input"]) for i in items if os.path.basename(i["input"]) not in scores]
    if absent:
        fail(f"--compare {path} has no row for {len(absent)} of the {len(items)} inputs (e.g. {absent[0]})")
    return scores


# ---------------------------------------------------------------- the inputs and their ground truths


def ground_truth_folders(data_dir):
    """{expert: folder}: GT_IMAGES as expert 'gt', and the test split's expert_<x>_testing_set
    folders as expert 'x' (those present)."""
    folders = {}
    if os.path.isdir(os.path.join(data_dir, "GT_IMAGES")):
        folders["gt"] = os.path.join(data_dir, "GT_IMAGES")
    names = sorted(os.listdir(data_dir)) if os.path.isdir(data_dir) else []
    for name in names:
        match = EXPERT_FOLDER.match(name)
        if match and os.path.isdir(os.path.join(data_dir, name)):
            folders[match["name"].lower()] = os.path.join(data_dir, name)
    return folders


def find_items(data_dir, good_photos):
    """Inputs as {input, scene, ev, gts: {expert: path}} in MSEC layout, and the inputs with no
    ground truth in any expert's folder. With good_photos, each ground truth once as its own input
    (EV "GT"), of the first expert; or, for a plain folder of photos (as shot, say), each photo."""
    input_dir, folders = os.path.join(data_dir, "INPUT_IMAGES"), ground_truth_folders(data_dir)
    if good_photos and not folders and os.path.isdir(data_dir):
        return plain_folder_items(data_dir), []
    if not os.path.isdir(input_dir) or not folders:
        fail(
            f"[evaluate] key 'data_dir': {data_dir} must hold INPUT_IMAGES/ and GT_IMAGES/ (or the test "
            f"split's expert_a_testing_set/ ... expert_e_testing_set/) ({DATA_HELP})"
        )
    by_input = {}
    for expert, folder in folders.items():
        for input_path, gt_path, ev in find_msec_pairs(input_dir, folder)[0]:
            stem = os.path.splitext(os.path.basename(input_path))[0]
            match = MSEC_INPUT_NAME.match(stem)
            item = by_input.setdefault(
                input_path,
                {"input": input_path, "scene": match["scene"] if match else stem, "ev": ev, "gts": {}},
            )
            item["gts"][expert] = gt_path
    unmatched = [p for p in list_images(input_dir)[0] if p not in by_input]
    for path in unmatched:
        print(f"warning: no ground truth for {path} in any of {', '.join(folders.values())}")
    items = [by_input[p] for p in sorted(by_input)]
    if good_photos:
        first = next(iter(folders))
        gts = sorted({(i["scene"], i["gts"][first]) for i in items if first in i["gts"]})
        items = [{"input": gt, "scene": scene, "ev": "GT", "gts": {first: gt}} for scene, gt in gts]
    if not items:
        fail(f"no (input, ground truth) pairs in {data_dir}")
    return items, unmatched


def plain_folder_items(folder):
    """Every photo of a folder (subfolders too) as its own good-photo input, its name the scene."""
    photos = list_images(folder)[0]
    if not photos:
        fail(f"[evaluate] key 'data_dir': {folder} holds no photos")
    return [{"input": p, "scene": os.path.relpath(p, folder), "ev": "GT", "gts": {"gt": p}} for p in photos]


def subset(items, scenes, limit):
    """`scenes` scenes spread evenly over the sorted scene names (all their inputs), then the first
    `limit` inputs."""
    if scenes:
        names = sorted({i["scene"] for i in items})
        keep = {names[k] for k in np.linspace(0, len(names) - 1, min(scenes, len(names))).round().astype(int)}
        items = [i for i in items if i["scene"] in keep]
    return items[:limit] if limit else items


# ---------------------------------------------------------------- scoring


def score(items, source, other, correction, good_photos):
    """One row per scored input: PSNR/SSIM of the output against each expert's ground truth and their
    mean (psnr, ssim); of OTHER's output too with --compare (other_psnr, other_ssim); and, unless the
    ground truth is the input (good_photos), of the input itself (the identity baseline)."""
    from tqdm import tqdm

    rows, missing = [], []
    for item in tqdm(items, desc="evaluating", unit="photo"):
        try:
            photo, _, _ = read_image(item["input"])
            targets = {e: read_ground_truth(p) for e, p in item["gts"].items()}
            outputs = {"": prediction_for(item["input"], photo, *source, correction)}
            if isinstance(other, tuple):
                outputs["other_"] = prediction_for(item["input"], photo, *other, correction)
        except (ImageReadError, FileNotFoundError) as e:
            missing.append(str(e))
            continue
        row = {"input": os.path.basename(item["input"]), "scene": item["scene"], "ev": item["ev"]}
        if isinstance(other, dict):
            row.update(other[row["input"]])
        if not good_photos:
            outputs["identity_"] = photo
        for prefix, output in outputs.items():
            row.update(scores_against(output, targets, prefix, per_expert=prefix == ""))
        if good_photos:  # how far the photo's median brightness moved, either way
            row["abs_median_shift"] = abs(row["median_shift"])
        rows.append(row)
    return rows, missing


def scores_against(output, targets, prefix, per_expert):
    """{prefix}psnr / {prefix}ssim and the look ({prefix}saturation_ratio, brightness_bias, ...:
    metrics.look_metrics): the mean over the experts' ground truths; psnr_<expert> too where there is
    more than one expert (or the experts are the test split's)."""
    scores, cache, looks = {}, {}, []
    for expert, (target, target_stats) in targets.items():
        if target.shape[:2] not in cache:  # at the ground truth's own resolution
            resized = resize(output, *target.shape[:2]) if output.shape[:2] != target.shape[:2] else output
            out = to_uint8(resized)
            cache[target.shape[:2]] = (out, look_stats(out))
        out, stats = cache[target.shape[:2]]
        scores[expert] = (psnr(out, target), ssim(out, target))
        looks.append(look_metrics(stats, target_stats))
    row = {
        f"{prefix}psnr": float(np.mean([s[0] for s in scores.values()])),
        f"{prefix}ssim": float(np.mean([s[1] for s in scores.values()])),
    }
    if prefix != "identity_":  # too bright (bias > 0) or dark, washed out (ratio < 1), lifted blacks ...
        row.update({f"{prefix}{k}": float(np.mean([look[k] for look in looks])) for k in LOOK_KEYS})
        # the mean level of the output and of the experts' photos: the scene brightness report's
        row[f"{prefix}brightness"] = float(np.mean([stats["mean"] for _, stats in cache.values()]))
        if prefix == "":
            row["gt_brightness"] = float(np.mean([stats["mean"] for _, stats in targets.values()]))
    if per_expert and list(scores) != ["gt"]:
        for expert, (p, s) in scores.items():
            row.update({f"psnr_{expert}": p, f"ssim_{expert}": s})
    return row


LOOK_KEYS = ("saturation_ratio", "brightness_bias", "black_level", "median_shift", "cast_a", "cast_b")


@functools.lru_cache(maxsize=8)
def read_ground_truth(path):
    """(uint8 RGB, its metrics.look_stats); cached because the five EVs of a scene come one after
    another and share them."""
    image = to_uint8(read_image(path)[0])
    return image, look_stats(image)


def prediction_for(input_path, photo, backend, predictions_dir, correction):
    if backend is not None:
        return correct_image(photo, backend, **correction)
    stem = os.path.splitext(os.path.basename(input_path))[0]
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        candidate = os.path.join(predictions_dir, stem + ext)
        if os.path.isfile(candidate):
            return read_image(candidate)[0]
    raise FileNotFoundError(f"no output for {input_path} in {predictions_dir}")


def write_report(report_dir, report, rows):
    os.makedirs(report_dir, exist_ok=True)
    write_json(os.path.join(report_dir, "metrics.json"), report)
    write_csv(
        os.path.join(report_dir, "per_image.csv"),
        [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
    )


# ---------------------------------------------------------------- summaries


def group_rows(rows):
    """{group name: its rows}: all inputs, under- and over-exposed, each EV (those present)."""
    groups = dict(GROUPS, **{f"EV {ev}": (ev,) for ev in EV_ORDER})
    chosen = {
        name: rows if name == "all" else [r for r in rows if r["ev"] in evs] for name, evs in groups.items()
    }
    return {name: rs for name, rs in chosen.items() if rs}


def expert_names(rows):
    return sorted({k[len("psnr_") :] for r in rows for k in r if k.startswith("psnr_")})


def summarise(rows):
    """Means over each group of the scores the rows carry (the saturation ratio: its median); a score
    only some rows carry (an expert whose folder covers some of the inputs) is the mean over those,
    with their count."""
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in ("input", "scene", "ev")))
    summary = {}
    for name, rs in group_rows(rows).items():
        entry = {"count": len(rs)}
        for k in keys:
            values = [r[k] for r in rs if k in r]
            if values:  # a ratio's mean is pulled up by near-grey photos: the median for it
                entry[k] = round(float((np.median if k.endswith("saturation_ratio") else np.mean)(values)), 4)
            if k.startswith("psnr_") and len(values) < len(rs):
                entry[f"count_{k[len('psnr_'):]}"] = len(values)
        summary[name] = entry
    return summary


def paired_interval(differences, confidence=0.95):
    """Mean of per-scene differences and its t interval over scenes ([nan, nan] for one scene)."""
    from scipy import stats

    d = np.asarray(differences, np.float64)
    mean = float(d.mean())
    if len(d) < 2:
        return mean, [float("nan"), float("nan")]
    half = float(stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return mean, [mean - half, mean + half]


# The paired look: saturation ratio higher is better; the others are errors, better nearer zero.
PAIRED_LOOK = {
    "saturation_ratio": lambda r, p: r[p + "saturation_ratio"],
    "abs_brightness_bias": lambda r, p: abs(r[p + "brightness_bias"]),
    "abs_black_level": lambda r, p: abs(r[p + "black_level"]),
    "cast": lambda r, p: float(np.hypot(r[p + "cast_a"], r[p + "cast_b"])),
}


def compare_summary(rows):
    """Per group: the model's and OTHER's mean PSNR/SSIM, the mean of the per-scene differences
    (model - OTHER, each scene's inputs in the group averaged first), its 95% interval over scenes,
    and the scenes where the model scored higher (PSNR); the same paired differences of the look
    (PAIRED_LOOK) where both sides carry it."""
    measures = {"psnr": lambda r, p: r[p + "psnr"], "ssim": lambda r, p: r[p + "ssim"]}
    if all("other_cast_a" in r and "cast_a" in r for r in rows):
        measures.update(PAIRED_LOOK)
    summary = {}
    for name, rs in group_rows(rows).items():
        scenes = {}
        for r in rs:
            scenes.setdefault(r["scene"], []).append([f(r, "") - f(r, "other_") for f in measures.values()])
        per_scene = np.array([np.mean(d, axis=0) for d in scenes.values()])
        entry = {
            "inputs": len(rs),
            "scenes": len(scenes),
            "psnr": round(float(np.mean([r["psnr"] for r in rs])), 4),
            "other_psnr": round(float(np.mean([r["other_psnr"] for r in rs])), 4),
            "scenes_better": int((per_scene[:, 0] > 0).sum()),
        }
        for k, key in enumerate(measures):
            difference, interval = paired_interval(per_scene[:, k])
            digits = 4 if key == "psnr" else 5
            entry[f"{key}_difference"] = round(difference, digits)
            entry[f"{key}_ci95"] = [round(x, digits) for x in interval]
        summary[name] = entry
    return summary


def scene_brightness(rows):
    """How each scene's brightness is judged, whatever its input's exposure (issue 50): a scene's
    level is the mean over its inputs of the outputs' mean level. spread: the mean over scenes of
    the range (max - min) of their outputs' mean levels, in levels of 255 (0: the same photo at every
    exposure); correlation and slope: of the scenes' levels against the experts' (slope 1 follows
    the expert, 0 gives every scene one level). With --compare, OTHER's too where its rows carry
    the brightness (other_*), and the spread paired over scenes with its interval."""
    result = {}
    for who, prefix in (("", ""), ("other_", "other_")):
        if not all(f"{prefix}brightness" in r and "gt_brightness" in r for r in rows):
            continue
        scenes = {}
        for r in rows:
            scenes.setdefault(r["scene"], []).append((r[f"{prefix}brightness"], r["gt_brightness"]))
        levels = np.array([[np.mean([o for o, _ in v]), v[0][1]] for v in scenes.values()])
        spreads = {s: np.ptp([o for o, _ in v]) for s, v in scenes.items() if len(v) > 1}
        result[f"{who}scenes"] = len(scenes)
        result[f"{who}spread"] = round(float(np.mean(list(spreads.values()))), 3) if spreads else None
        if len(levels) > 2 and levels[:, 1].std() > 0 and levels[:, 0].std() > 0:
            result[f"{who}correlation"] = round(float(np.corrcoef(levels[:, 0], levels[:, 1])[0, 1]), 4)
            result[f"{who}slope"] = round(float(np.polyfit(levels[:, 1], levels[:, 0], 1)[0]), 4)
        result[f"_{who}spreads"] = spreads
    if "_other_spreads" in result and result["_spreads"]:
        own, theirs = result["_spreads"], result["_other_spreads"]
        difference, interval = paired_interval([own[s] - theirs[s] for s in own])
        result["spread_difference"] = round(difference, 3)
        result["spread_ci95"] = [round(x, 3) for x in interval]
    return {k: v for k, v in result.items() if not k.startswith("_")}


def print_scenes(s):
    line = f"\nscenes: {s['scenes']}; spread of one scene's outputs (max - min of their mean levels): "
    line += "-" if s["spread"] is None else f"{s['spread']:.2f} levels"
    if "correlation" in s:
        line += f"; the scenes' levels against the expert's: correlation {s['correlation']:.3f}"
        line += f", slope {s['slope']:.3f}"
    print(line)
    if "spread_difference" in s:
        low, high = s["spread_ci95"]
        print(f"paired: spread {s['spread_difference']:+.2f} levels [{low:+.2f}, {high:+.2f}] against OTHER "
              f"({s['other_spread']:.2f}); its correlation {s.get('other_correlation', float('nan')):.3f}, "
              f"slope {s.get('other_slope', float('nan')):.3f}")


# Each column starts with a space, so that wide values (a bias of +100 levels) never run together.
LOOK_HEADER = f" {'sat':>6} {'bias':>7} {'black':>7} {'a*':>6} {'b*':>6}"
LOOK_NOTE = (
    "sat: mean CIELAB chroma over the ground truth's (median over inputs); bias: mean level, black: "
    "2nd-percentile luma, a*/b*: mean CIELAB, each output minus ground truth (levels of 255, CIELAB units)"
)


def look_columns(s):
    return (
        f" {s['saturation_ratio']:>6.3f} {s['brightness_bias']:>+7.2f} {s['black_level']:>+7.2f}"
        f" {s['cast_a']:>+6.2f} {s['cast_b']:>+6.2f}"
    )


def print_table(summary, good_photos, experts):
    if good_photos:
        print(f"\n{'good photos as inputs':<28}{'n':>5}{'PSNR':>9}{'SSIM':>8}{LOOK_HEADER} {'|median|':>8}")
        s = summary["all"]
        scores = f"{s['count']:>5}{s['psnr']:>9.3f}{s['ssim']:>8.4f}"
        print(f"{'all':<28}{scores}{look_columns(s)} {s['abs_median_shift']:>8.2f}")
        print(f"(output against its own input; {LOOK_NOTE}; |median|: how far the median luma moved)")
        return
    mean = "mean of experts " if experts else ""
    print(
        f"\n{'inputs':<28}{'n':>5}{mean + 'PSNR':>9}{'SSIM':>8}{LOOK_HEADER}   {'identity PSNR':>13}{'SSIM':>8}"
    )
    for name, s in summary.items():
        print(
            f"{name:<28}{s['count']:>5}{s['psnr']:>9.3f}{s['ssim']:>8.4f}{look_columns(s)}   "
            f"{s['identity_psnr']:>13.3f}{s['identity_ssim']:>8.4f}"
        )
    print(f"({LOOK_NOTE})")
    if experts:  # the paper's Table 1: PSNR / SSIM against each expert, and their mean
        print(f"\n{'PSNR / SSIM per expert':<28}" + "".join(f"{'expert ' + e.upper():>16}" for e in experts))
        for name, s in summary.items():
            print(f"{name:<28}" + "".join(f"{s[f'psnr_{e}']:>9.3f} /{s[f'ssim_{e}']:>.4f}" for e in experts))
        partial = {e: summary["all"][f"count_{e}"] for e in experts if f"count_{e}" in summary["all"]}
        for e, n in partial.items():
            print(
                f"expert {e.upper()}: scored on the {n} of {summary['all']['count']} inputs its folder covers"
            )


def print_comparison(paired, model, other):
    print(f"\npaired: {model} minus {other} (95% interval over scenes)")
    print(
        f"{'inputs':<28}{'scenes':>7}{'PSNR':>9}{'other':>9}{'difference':>12}{'95% interval':>20}{'better':>8}"
    )
    for name, s in paired.items():
        low, high = s["psnr_ci95"]
        print(
            f"{name:<28}{s['scenes']:>7}{s['psnr']:>9.3f}{s['other_psnr']:>9.3f}{s['psnr_difference']:>+12.3f}"
            f"{f'[{low:+.3f}, {high:+.3f}]':>20}{s['scenes_better']:>5}/{s['scenes']}"
        )
    if "saturation_ratio_difference" not in paired["all"]:
        return
    print("\nthe look, paired (model minus other; sat higher is better, the errors nearer 0 are)")
    print(f"{'inputs':<28}" + "".join(f" {k:>23}" for k in PAIRED_LOOK))
    for name, s in paired.items():
        cells = [
            f"{s[f'{k}_difference']:+.3f} [{s[f'{k}_ci95'][0]:+.2f},{s[f'{k}_ci95'][1]:+.2f}]"
            for k in PAIRED_LOOK
        ]
        print(f"{name:<28}" + "".join(f" {c:>23}" for c in cells))


if __name__ == "__main__":
    main()
