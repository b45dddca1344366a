"""Score a model (or a folder of existing outputs) on paired data in MSEC layout.

`python evaluate.py [--conf conf.json]` reads the `evaluate` section: `data_dir` holds
INPUT_IMAGES/<scene>_<EV>.JPG and GT_IMAGES/<scene>.jpg. The model (.pth or .onnx) runs through
the code path of predict.py (inference.correct_image); with `predictions_dir` set, the outputs
found there (named after the inputs, any image extension) are scored instead. PSNR and SSIM
(MATLAB-style, via scikit-image) on 8-bit RGB at the ground truth's own resolution, beside the
identity baseline (the input itself). Writes a table to stdout, metrics.json and per_image.csv
to `report_dir`.

`--good-photos` feeds the ground truths themselves as inputs and scores each output against its
input: a well-exposed photo should come back (nearly) unchanged.
"""

import functools
import os
import sys
import time

import numpy as np

from inference import correct_image, load_backend
from utils import (
    DATA_HELP,
    ConfError,
    IMAGE_EXTENSIONS,
    ImageReadError,
    argument_parser,
    correction_settings,
    fail,
    find_msec_pairs,
    parse_with_conf,
    psnr,
    read_image,
    resize,
    ssim,
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


def parse_args():
    parser = argument_parser(__doc__, "evaluate")
    parser.add_argument(
        "--limit", type=int, default=None, help="score only the first N inputs (default: all)"
    )
    parser.add_argument(
        "--good-photos",
        action="store_true",
        help="feed the ground truths as inputs and score each output against its input",
    )
    return parse_with_conf(parser, "evaluate")


def main():
    args, conf = parse_args()
    if args.limit is not None and args.limit < 1:
        fail(f"--limit must be at least 1, got {args.limit}")
    if not conf["predictions_dir"] and not conf["model"]:
        fail("[evaluate] set 'model' (a .pth or .onnx) or 'predictions_dir' (outputs to score)")
    if args.good_photos and conf["predictions_dir"]:
        fail(
            "--good-photos runs the model on the ground truths: set 'model' and leave 'predictions_dir' empty"
        )
    pairs, unmatched = find_pairs(conf["data_dir"], args.good_photos)
    pairs = pairs[: args.limit] if args.limit else pairs
    backend = None
    if not conf["predictions_dir"]:
        try:
            backend = load_backend(conf["model"])
        except (ConfError, ValueError) as e:
            fail(str(e))
    # predict.py's settings for photos at their own size
    correction = correction_settings(conf)
    started = time.time()
    rows, missing = score(pairs, backend, correction, conf["predictions_dir"], args.good_photos)
    for message in missing:
        print(f"warning: {message}")
    if not rows:
        fail("nothing was scored")
    summary = summarise(rows)
    print_table(summary, args.good_photos)
    report = {
        "model": conf["model"] if backend else None,
        "predictions_dir": conf["predictions_dir"] or None,
        "data_dir": conf["data_dir"],
        "good_photos": args.good_photos,
        **correction,
        "scored": len(rows),
        "not_scored": missing + [f"no ground truth: {p}" for p in unmatched],
        "seconds": round(time.time() - started, 1),
        "groups": summary,
    }
    write_report(conf["report_dir"], report, rows)
    print(f"{len(rows)} scored, {len(missing) + len(unmatched)} not scored; report in {conf['report_dir']}")
    sys.exit(1 if missing else 0)


def find_pairs(data_dir, good_photos):
    """(input, ground truth, EV) triples in MSEC layout, and the inputs with no ground truth. With
    good_photos, each ground truth once as its own input (EV "GT")."""
    input_dir, gt_dir = os.path.join(data_dir, "INPUT_IMAGES"), os.path.join(data_dir, "GT_IMAGES")
    for folder in (input_dir, gt_dir):
        if not os.path.isdir(folder):
            fail(
                f"[evaluate] key 'data_dir': {folder} not found (MSEC layout: INPUT_IMAGES/ and GT_IMAGES/; "
                f"{DATA_HELP})"
            )
    pairs, unmatched = find_msec_pairs(input_dir, gt_dir)
    for path in unmatched:
        print(f"warning: no ground truth for {path}")
    if good_photos:
        pairs = [(gt, gt, "GT") for gt in sorted({gt for _, gt, _ in pairs})]
    if not pairs:
        fail(f"no (input, ground truth) pairs in {data_dir}")
    return pairs, unmatched


def score(pairs, backend, correction, predictions_dir, good_photos):
    """One row per scored input: PSNR/SSIM of the output against the ground truth and, unless the
    ground truth is the input (good_photos), of the input itself (the identity baseline)."""
    from tqdm import tqdm

    rows, missing = [], []
    for input_path, gt_path, ev in tqdm(pairs, desc="evaluating", unit="photo"):
        try:
            source, _, _ = read_image(input_path)
            target = read_ground_truth(gt_path)
            output = prediction_for(input_path, source, predictions_dir, backend, correction)
        except (ImageReadError, FileNotFoundError) as e:
            missing.append(str(e))
            continue
        output, source = (
            to_uint8(resize(x, *target.shape[:2]) if x.shape[:2] != target.shape[:2] else x)
            for x in (output, source)
        )
        row = {
            "input": os.path.basename(input_path),
            "ev": ev,
            "psnr": psnr(output, target),
            "ssim": ssim(output, target),
        }
        if not good_photos:
            row.update(identity_psnr=psnr(source, target), identity_ssim=ssim(source, target))
        rows.append(row)
    return rows, missing


def write_report(report_dir, report, rows):
    os.makedirs(report_dir, exist_ok=True)
    write_json(os.path.join(report_dir, "metrics.json"), report)
    write_csv(
        os.path.join(report_dir, "per_image.csv"),
        [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
    )


@functools.lru_cache(maxsize=1)
def read_ground_truth(path):
    """uint8 RGB; cached because the five EVs of a scene come one after another and share it."""
    return to_uint8(read_image(path)[0])


def prediction_for(input_path, source, predictions_dir, backend, correction):
    if backend is not None:
        return correct_image(source, backend, **correction)
    stem = os.path.splitext(os.path.basename(input_path))[0]
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        candidate = os.path.join(predictions_dir, stem + ext)
        if os.path.isfile(candidate):
            return read_image(candidate)[0]
    raise FileNotFoundError(f"no output for {input_path} in {predictions_dir}")


def summarise(rows):
    """Means over all rows, the under- and over-exposed groups and each EV (those present)."""
    groups = dict(GROUPS, **{f"EV {ev}": (ev,) for ev in EV_ORDER})
    summary = {}
    for name, evs in groups.items():
        chosen = rows if name == "all" else [r for r in rows if r["ev"] in evs]
        if chosen:
            keys = [k for k in ("psnr", "ssim", "identity_psnr", "identity_ssim") if k in chosen[0]]
            summary[name] = {
                "count": len(chosen),
                **{k: round(float(np.mean([r[k] for r in chosen])), 4) for k in keys},
            }
    return summary


def print_table(summary, good_photos):
    if good_photos:
        print(
            f"\n{'good photos as inputs':<28}{'n':>5}{'PSNR':>9}{'SSIM':>8}   (output against its own input)"
        )
        print(
            f"{'all':<28}{summary['all']['count']:>5}{summary['all']['psnr']:>9.3f}"
            f"{summary['all']['ssim']:>8.4f}"
        )
        return
    print(f"\n{'inputs':<28}{'n':>5}{'PSNR':>9}{'SSIM':>8}   {'identity PSNR':>13}{'SSIM':>8}")
    for name, s in summary.items():
        print(
            f"{name:<28}{s['count']:>5}{s['psnr']:>9.3f}{s['ssim']:>8.4f}   "
            f"{s['identity_psnr']:>13.3f}{s['identity_ssim']:>8.4f}"
        )


if __name__ == "__main__":
    main()
