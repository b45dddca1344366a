"""Pack the `train` section's data for a machine that gets only the working tree (a lent GPU
carries 64 MiB): every training and validation photo shrunk once to `max_image_side`, as training
shrinks it when it loads it, and written as WebP into DEST in MSEC layout:

    DEST/train/INPUT_IMAGES, DEST/train/GT_IMAGES   the real pairs (paired_train_*)
    DEST/train/photos                               train_data_dir, where it is not the pairs' GT folder
    DEST/valid/INPUT_IMAGES, DEST/valid/GT_IMAGES   the validation pairs (paired_valid_*)

    python pack_data.py data/packed                 # then train with the overrides it prints

At the default quality 85 the project's MSEC training set (960 inputs, 192 + 30 ground truths) and
its 150 validation pairs take about 46 MB, and a packed photo is about 37.5 dB from the photo
training would have decoded (docs/reproduce.md)."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from dataset import load_photo
from photo import ImageReadError, write_image
from config import argument_parser, parse_with_conf
from utils import fail, find_msec_pairs, list_images


def parse_args():
    parser = argument_parser(__doc__, "train")
    parser.add_argument("dest", help="the folder to write (it must not exist yet, or be empty)")
    parser.add_argument("--quality", type=int, default=85, help="WebP quality, 1-100 (default 85)")
    return parse_with_conf(parser, "train")


def main():
    args, conf = parse_args()
    if not 1 <= args.quality <= 100:
        fail(f"--quality must be 1-100, got {args.quality}")
    if os.path.exists(args.dest) and (not os.path.isdir(args.dest) or os.listdir(args.dest)):
        fail(f"{args.dest} exists and is not an empty folder: name a new one")
    jobs = plan(conf, args.dest)
    if not jobs:
        fail("nothing to pack: the train section names no training data")
    size, unreadable = pack(jobs, conf["max_image_side"], args.quality)
    for message in unreadable:
        print(f"warning: skipped {message}", file=sys.stderr)
    print(f"{len(jobs) - len(unreadable)} photos, {size / 2**20:.1f} MiB in {args.dest}; train on them with")
    print("  " + " ".join(f"--{k} {v}" for k, v in overrides(conf, args.dest).items()))


def plan(conf, dest):
    """[(source path, packed path)] for each distinct photo the section trains and validates on."""
    jobs = {}
    for split in ("train", "valid"):
        inputs, gts = conf[f"paired_{split}_input_dir"], conf[f"paired_{split}_gt_dir"]
        if inputs and gts:
            for path, gt, _ in find_msec_pairs(inputs, gts)[0]:
                jobs[path] = packed(dest, split, "INPUT_IMAGES", path)
                jobs[gt] = packed(dest, split, "GT_IMAGES", gt)
    photos = conf["train_data_dir"]
    if photos and os.path.realpath(photos) != os.path.realpath(conf["paired_train_gt_dir"] or "-"):
        for path in list_images(photos)[0]:
            jobs.setdefault(path, packed(dest, "train", "photos", path))
    return sorted(jobs.items())


def packed(dest, split, folder, path):
    return os.path.join(dest, split, folder, os.path.splitext(os.path.basename(path))[0] + ".webp")


def overrides(conf, dest):
    """The train-section keys that point training at the packed folders."""
    keys = {}
    for split in ("train", "valid"):
        if conf[f"paired_{split}_input_dir"] and conf[f"paired_{split}_gt_dir"]:
            keys[f"paired_{split}_input_dir"] = os.path.join(dest, split, "INPUT_IMAGES")
            keys[f"paired_{split}_gt_dir"] = os.path.join(dest, split, "GT_IMAGES")
    if conf["train_data_dir"]:
        same = os.path.realpath(conf["train_data_dir"]) == os.path.realpath(
            conf["paired_train_gt_dir"] or "-"
        )
        keys["train_data_dir"] = os.path.join(dest, "train", "GT_IMAGES" if same else "photos")
    return keys


def pack(jobs, max_side, quality):
    """Write every job (threads: the codecs release the GIL); (bytes written, unreadable files)."""

    def one(job):
        source, target = job
        try:
            rgb = load_photo(source, max_side)
        except ImageReadError as e:
            return 0, str(e)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        write_image(target, rgb / 255.0, quality=quality)
        return os.path.getsize(target), None

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        done = list(tqdm(pool.map(one, jobs), total=len(jobs), desc="packing", unit="photo"))
    return sum(size for size, _ in done), [message for _, message in done if message]


if __name__ == "__main__":
    main()
