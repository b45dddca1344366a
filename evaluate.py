"""Score a model (or a folder of existing outputs) on paired data in MSEC layout.

`python evaluate.py [--conf conf.json]` reads the `evaluate` section: `data_dir` holds
INPUT_IMAGES/<scene>_<EV>.JPG and GT_IMAGES/<scene>.jpg. The model (.pth or .onnx) runs through
predict.py's own code path; with `predictions_dir` set, the outputs found there (named after
the inputs, any image extension) are scored instead. PSNR and SSIM (MATLAB-style, via
scikit-image) on 8-bit RGB at the ground truth's own resolution, beside the identity baseline
(the input itself). Writes a table to stdout, metrics.json and per_image.csv to `report_dir`.
"""
import csv
import functools
import json
import os
import sys
import time

import numpy as np

from predict import correct_image, load_backend
from utils import (ConfError, IMAGE_EXTENSIONS, ImageReadError, argument_parser, fail, find_msec_pairs,
                   load_section, psnr, read_image, resize, ssim, to_uint8)

EV_ORDER = ("N1.5", "N1", "0", "P1", "P1.5")
GROUPS = {"all": EV_ORDER, "under (N1.5, N1)": ("N1.5", "N1"), "over/normal (0, P1, P1.5)": ("0", "P1", "P1.5")}


def parse_args():
    parser = argument_parser(__doc__, "evaluate")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N inputs (0: all)")
    return parser.parse_args()


def main():
    args = parse_args()
    conf = load_section(args.conf, "evaluate")
    input_dir, gt_dir = os.path.join(conf["data_dir"], "INPUT_IMAGES"), os.path.join(conf["data_dir"], "GT_IMAGES")
    for folder in (input_dir, gt_dir):
        if not os.path.isdir(folder):
            fail(f"[evaluate] key 'data_dir': {folder} not found (MSEC layout: INPUT_IMAGES/ and GT_IMAGES/)")
    if not conf["predictions_dir"] and not conf["model"]:
        fail("[evaluate] set 'model' (a .pth or .onnx) or 'predictions_dir' (outputs to score)")
    pairs, unmatched = find_msec_pairs(input_dir, gt_dir)
    for path in unmatched:
        print(f"warning: no ground truth for {path}")
    if not pairs:
        fail(f"no (input, ground truth) pairs in {conf['data_dir']}")
    pairs = pairs[:args.limit] if args.limit else pairs
    backend = None
    if not conf["predictions_dir"]:
        try:
            backend = load_backend(conf["model"])
        except (ConfError, ValueError) as e:
            fail(str(e))
    # predict.py's settings for photos at their own size (image_size only matters when use_orig_size is false)
    predict_conf = {"use_orig_size": True, "image_size": None, "max_side": conf["max_side"],
                    "guided_upsampling": conf["guided_upsampling"]}

    from tqdm import tqdm
    rows, missing, started = [], [], time.time()
    for input_path, gt_path, ev in tqdm(pairs, desc="evaluating", unit="photo"):
        try:
            source, _, _ = read_image(input_path)
            target = read_ground_truth(gt_path)
            output = prediction_for(input_path, source, conf, backend, predict_conf)
        except (ImageReadError, FileNotFoundError) as e:
            missing.append(str(e))
            continue
        output, source = (to_uint8(resize(x, *target.shape[:2]) if x.shape[:2] != target.shape[:2] else x) for x in (output, source))
        rows.append({"input": os.path.basename(input_path), "ev": ev, "psnr": psnr(output, target), "ssim": ssim(output, target),
                     "identity_psnr": psnr(source, target), "identity_ssim": ssim(source, target)})
    for message in missing:
        print(f"warning: {message}")
    if not rows:
        fail("nothing was scored")
    summary = summarise(rows)
    print_table(summary)
    os.makedirs(conf["report_dir"], exist_ok=True)
    with open(os.path.join(conf["report_dir"], "metrics.json"), "w") as f:
        json.dump({"model": conf["model"] if backend else None, "predictions_dir": conf["predictions_dir"] or None,
                   "data_dir": conf["data_dir"], "max_side": conf["max_side"], "guided_upsampling": conf["guided_upsampling"],
                   "scored": len(rows), "not_scored": missing + [f"no ground truth: {p}" for p in unmatched],
                   "seconds": round(time.time() - started, 1), "groups": summary}, f, indent=2)
    with open(os.path.join(conf["report_dir"], "per_image.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    print(f"{len(rows)} scored, {len(missing) + len(unmatched)} not scored; report in {conf['report_dir']}")
    sys.exit(1 if missing else 0)


@functools.lru_cache(maxsize=1)
def read_ground_truth(path):
    """uint8 RGB; cached because the five EVs of a scene come one after another and share it."""
    return to_uint8(read_image(path)[0])


def prediction_for(input_path, source, conf, backend, predict_conf):
    if backend is not None:
        return correct_image(source, backend, predict_conf)
    stem = os.path.splitext(os.path.basename(input_path))[0]
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        candidate = os.path.join(conf["predictions_dir"], stem + ext)
        if os.path.isfile(candidate):
            return read_image(candidate)[0]
    raise FileNotFoundError(f"no output for {input_path} in {conf['predictions_dir']}")


def summarise(rows):
    groups = dict(GROUPS, **{f"EV {ev}": (ev,) for ev in EV_ORDER})
    summary = {}
    for name, evs in groups.items():
        chosen = [r for r in rows if r["ev"] in evs]
        if chosen:
            summary[name] = {"count": len(chosen), **{k: round(float(np.mean([r[k] for r in chosen])), 4)
                                                      for k in ("psnr", "ssim", "identity_psnr", "identity_ssim")}}
    return summary


def print_table(summary):
    print(f"\n{'inputs':<28}{'n':>5}{'PSNR':>9}{'SSIM':>8}   {'identity PSNR':>13}{'SSIM':>8}")
    for name, s in summary.items():
        print(f"{name:<28}{s['count']:>5}{s['psnr']:>9.3f}{s['ssim']:>8.4f}   {s['identity_psnr']:>13.3f}{s['identity_ssim']:>8.4f}")


if __name__ == "__main__":
    main()
