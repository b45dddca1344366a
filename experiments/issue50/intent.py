"""Issue 50: how far predict.py moves photos shot darker on purpose, with and without the tag.

Each photo is copied twice into a scratch folder: once as it is, once with ExposureBiasValue set
to BIAS (exiftool writes it, as a camera would). predict.py corrects both folders with the default
conf; the table gives each photo's mean level (0-255) before, and how far each result moved.

    python experiments/issue50/intent.py ../shared/data/goodphotos/low-key --bias -1
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from photo import photo_pixels, read_photo  # noqa: E402
from utils import list_images  # noqa: E402


def level(path):
    rgb = photo_pixels(read_photo(path, 0, rows=True)[0])
    return 255 * float(np.clip(rgb, 0, 1).mean())


def copies(paths, folder, bias):
    plain, tagged = (os.path.join(folder, k) for k in ("plain", "tagged"))
    for d in (plain, tagged):
        os.makedirs(d)
        for p in paths:
            shutil.copy(p, d)
    if bias is not None:
        cmd = ["exiftool", "-q", "-overwrite_original", f"-ExposureCompensation={bias}", tagged]
        subprocess.run(cmd, check=True)
    return plain, tagged


def correct(folder, out):
    run = [sys.executable, "predict.py", folder, "--result_output_dir", out, "--output_format", "png"]
    subprocess.run(run, check=True, capture_output=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="photos or folders")
    p.add_argument("--bias", type=float, default=-1.0, help="the exposure compensation written, in EV")
    args = p.parse_args()
    paths = [q for i in args.inputs for q in list_images(i)[0]]
    with tempfile.TemporaryDirectory() as tmp:
        plain, tagged = copies(paths, tmp, args.bias)
        for d in (plain, tagged):
            correct(d, d + "_out")
        print(f"| photo | level | moved without the tag | moved with {args.bias:+g} EV | share |")
        print("|---|---|---|---|---|")
        shares = []
        for p in paths:
            name = os.path.basename(p)
            stem = os.path.splitext(name)[0]
            before = level(os.path.join(plain, name))
            moved = [level(os.path.join(d + "_out", stem + ".png")) - before for d in (plain, tagged)]
            shares.append(moved[1] / moved[0] if abs(moved[0]) > 1 else float("nan"))
            print(f"| {name} | {before:.1f} | {moved[0]:+.1f} | {moved[1]:+.1f} | {shares[-1]:.2f} |")
        print(f"median share {np.nanmedian(shares):.2f} over {len(paths)} photos")


if __name__ == "__main__":
    main()
