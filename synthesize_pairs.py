"""Make an MSEC-layout set from ground truths alone: each photo of GT_DIR becomes
DEST/GT_IMAGES/<scene>.<ext> (copied as it is) and DEST/INPUT_IMAGES/<scene>_<EV>.png at EV -1.5,
-1, 0, +1 and +1.5, synthesised in linear light as training's EV synthesis does
(dataset.synthesize_ev: scale linear light by 2^EV, clip the highlights). Deterministic: the same
ground truths give the same set. EV 0 is the ground truth itself (a good photo as input).

    python synthesize_pairs.py ../shared/data/msec/extra_gt data/MSEC/extra_valid
    python evaluate.py --data_dir data/MSEC/extra_valid --report_dir results/eval_extra_valid

The project's second yardstick is made this way from the 30 `extra_gt` scenes (docs/data.md);
leave those scenes out of the training of any model you score on it."""

import argparse
import os
import shutil
import sys

import torch
from tqdm import tqdm

from dataset import from_tensor, synthesize_ev, to_tensor
from photo import ImageReadError, read_image, write_image
from utils import fail, list_images

EVS = (("N1.5", -1.5), ("N1", -1.0), ("0", 0.0), ("P1", 1.0), ("P1.5", 1.5))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("gt_dir", help="a folder of well-exposed photos (the ground truths)")
    parser.add_argument("dest", help="the MSEC-layout folder to write (INPUT_IMAGES/ and GT_IMAGES/)")
    args = parser.parse_args()
    if not os.path.isdir(args.gt_dir):
        fail(f"no such folder: {args.gt_dir}")
    paths, _ = list_images(args.gt_dir)
    if not paths:
        fail(f"no images in {args.gt_dir}")
    written, unreadable = write_pairs(paths, args.dest)
    for message in unreadable:
        print(f"warning: skipped {message}", file=sys.stderr)
    print(f"{written} scenes x {len(EVS)} EVs in {args.dest}")


def write_pairs(paths, dest):
    """Inputs at every EV for each ground truth; never overwrites a different file."""
    gt_dir, input_dir = os.path.join(dest, "GT_IMAGES"), os.path.join(dest, "INPUT_IMAGES")
    os.makedirs(gt_dir, exist_ok=True), os.makedirs(input_dir, exist_ok=True)
    written, unreadable = 0, []
    for path in tqdm(paths, desc="synthesising", unit="scene"):
        try:
            rgb, _, _ = read_image(path)
        except ImageReadError as e:
            unreadable.append(str(e))
            continue
        scene = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(gt_dir, os.path.basename(path))
        if not os.path.exists(target):
            shutil.copyfile(path, target)
        image = to_tensor(rgb)
        for name, ev in EVS:
            with torch.no_grad():
                write_image(
                    os.path.join(input_dir, f"{scene}_{name}.png"), from_tensor(synthesize_ev(image, ev))
                )
        written += 1
    return written, unreadable


if __name__ == "__main__":
    main()
