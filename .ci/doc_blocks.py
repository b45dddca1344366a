"""Run every ```bash block of README.md and docs/*.md as written, in order, on a fresh clone of the
tree (with any uncommitted changes), and check that it succeeds and leaves the git tree clean.

    .venv/bin/python .ci/doc_blocks.py            # all blocks (about 15 minutes on 2 cores)
    .venv/bin/python .ci/doc_blocks.py README.md  # the blocks of some files only

What makes it quick and self-contained, without changing a command:
- data: tiny photos in MSEC layout under the clone's data/MSEC (git-ignored), a tiny ../shared
  beside the clone, a home folder with ~/holiday, ~/videos and ~/album, and the user's folders the
  README names (my_photos, ...), made before the first block;
- training: `python` and `torchrun` on PATH are shims that append `--epochs 1 --num_workers 0`
  to train.py's arguments (the last value of a key wins), and serve `app.py` only until it
  answers on its port;
- placeholders a reader replaces (path/to/full, the candidate X) are replaced by PLACEHOLDERS.

The blocks of RECORDS are the commands behind committed reports (results/): they may rewrite
those reports, and nothing else. Every other block must leave `git status` as it found it.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
# Blocks not run, by a line they hold, and why.
SKIP = {
    ".venv/bin/python -m pytest": "the test suite: CI runs it",
    "python -m pytest": "the test suite: CI runs it",
}
# Files whose blocks are the commands behind committed reports: they may rewrite results/.
RECORDS = ("docs/ablation.md", "docs/model_card.md", "docs/reproduce.md", "docs/benchmarks.md")
PLACEHOLDERS = {
    "path/to/full": "{tmp}/full_msec",
    "checkpoints/screen/X/": "checkpoints/screen/head/",
    "$R/X_valid": "$R/head_valid",
}
SHIM = """#!/usr/bin/env bash
# train.py for one epoch, in the process (the last value of a key wins); app.py until it answers
real="{venv}/bin/{name}"
for a in "$@"; do
  if [ "$a" = train.py ]; then exec "$real" "$@" --epochs 1 --num_workers 0; fi
done
if [ "{name}" = python ] && [ "$1" = app.py ]; then
  port=7860; prev=""; for a in "$@"; do [ "$prev" = --port ] && port=$a; prev=$a; done
  "$real" "$@" & pid=$!
  for i in $(seq 120); do
    if "$real" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
      kill $pid; wait $pid 2>/dev/null; echo "app.py answered on port $port"; exit 0
    fi
    kill -0 $pid 2>/dev/null || exit 1
    sleep 1
  done
  kill $pid; exit 1
fi
exec "$real" "$@"
"""


def blocks(files):
    """(file, block text) for every ```bash block of `files`, in order."""
    for path in files:
        text = open(os.path.join(ROOT, path)).read()
        for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
            yield path, block


def photo(path, h, w, seed, gain=1.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.3 * np.sin(6 * x * rng.uniform(0.5, 2) + c + rng.uniform(0, 3)) * np.cos(4 * y)
                    for c in range(3)], -1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.clip(img * 255 * gain, 0, 255).astype(np.uint8))


def msec(folder, scenes, h, w, experts=("GT_IMAGES",)):
    for i, scene in enumerate(scenes):
        for expert in experts:
            photo(f"{folder}/{expert}/{scene}.jpg", h, w, i)
        for ev, gain in (("N1.5", 0.35), ("N1", 0.5), ("0", 1.0), ("P1", 1.7), ("P1.5", 2.2)):
            photo(f"{folder}/INPUT_IMAGES/{scene}_{ev}.JPG", h, w, i, gain)


def fixtures(clone, tmp):
    """The data the blocks name: git-ignored inside the clone, or outside it."""
    import json

    names = json.load(open(f"{clone}/data/msec_subset_scenes.json"))
    train, valid, extra = (names[s]["scenes"] for s in ("training", "validation", "extra_gt"))
    msec(f"{clone}/data/MSEC/training", train[:3], 96, 128)  # smaller than crops: padded, as predict pads
    msec(f"{clone}/data/MSEC/validation", valid[:2], 96, 128)
    experts = ("expert_a_testing_set", "expert_c_testing_set")
    msec(f"{clone}/data/MSEC/testing", ["a5000-test"], 96, 128, experts)
    for i, scene in enumerate(extra[:2]):
        photo(f"{clone}/data/MSEC/extra_gt/GT_IMAGES/{scene}.jpg", 96, 128, 10 + i)
        photo(f"{tmp}/shared/data/msec/extra_gt/{scene}.jpg", 96, 128, 10 + i)
    msec(f"{tmp}/full_msec/training", train[:1], 96, 128)
    msec(f"{tmp}/full_msec/validation", valid[:1] + extra[:1], 96, 128)
    # named as in the committed reports, which the blocks' --compare reads
    bsds, good = (reported(f"{clone}/results/{r}/per_image.csv")
                  for r in ("eval_good_photos_bsds", "eval_goodphotos"))
    for i in range(2):
        photo(f"{tmp}/shared/data/bsds500/test/{bsds[i]}", 64, 96, 20 + i)
        photo(f"{tmp}/shared/data/goodphotos/{good[i]}", 96, 128, 30 + i)
        photo(f"{tmp}/home/holiday/beach{i}.jpg", 96, 128, 40 + i, 0.5)
        photo(f"{tmp}/home/album/sub/room{i}.jpg", 96, 128, 50 + i, 1.8)
    for folder, count in (("my_photos", 4), ("my_valid_photos", 2), ("my_test_photos", 2)):
        for i in range(count):
            photo(f"{clone}/{folder}/p{i}.jpg", 96, 128, 60 + i)
    photo(f"{clone}/photo.jpg", 96, 128, 70, 0.5)
    for name in ("new.pth", "old.pth"):
        shutil.copy(f"{clone}/data/exposure_correct_default.pth", f"{clone}/{name}")
    sys.path.insert(0, clone)
    from video import write_clip

    frames = [np.full((48, 64, 3), 40 + 5 * i, np.uint8) for i in range(4)]
    os.makedirs(f"{tmp}/home/videos")
    write_clip(f"{tmp}/home/videos/clip.mp4", frames, fps=10)


def reported(csv_path):
    """The inputs a committed report scored, in its order."""
    import csv

    with open(csv_path, newline="") as f:
        return [row["input"] for row in csv.DictReader(f)]


def status(clone):
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                         capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


def run_block(path, block, clone, env, tmp):
    for old, new in PLACEHOLDERS.items():
        block = block.replace(old, new.format(tmp=tmp))
    before = status(clone)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        return f"exit {result.returncode}:\n{(result.stdout + result.stderr)[-1500:]}"
    left = sorted(status(clone) - before)
    restore(clone, left)  # each block is checked on the committed tree
    if path in RECORDS:
        left = [line for line in left if not line[3:].startswith("results/")]
    return f"left the tree changed: {left}" if left else None


def restore(clone, changed):
    """Tracked files back as committed, new untracked files gone (git-ignored outputs stay: later
    blocks use the checkpoints of earlier ones, as a reader would)."""
    subprocess.run(["git", "checkout", "-q", "HEAD", "--", "."], cwd=clone, check=True)
    for line in changed:
        if line.startswith("??"):
            target = os.path.join(clone, line[3:])
            shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)


def main():
    # the README, then the data a reader sets up first, then the other pages
    docs = sorted(glob.glob("docs/*.md", root_dir=ROOT), key=lambda p: (p != "docs/data.md", p))
    files = sys.argv[1:] or ["README.md"] + docs
    tmp = tempfile.mkdtemp(prefix="doc-blocks-")
    clone = f"{tmp}/repo"
    subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
    # uncommitted changes too (none on CI's clean clone): what is checked is the tree at hand
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=ROOT, capture_output=True, check=True)
    diff = diff.stdout
    if diff:
        subprocess.run(["git", "apply", "--binary", "--index"], cwd=clone, input=diff, check=True)
        git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost"]
        subprocess.run(git + ["commit", "-qm", "uncommitted changes"], cwd=clone, check=True)
    os.symlink(VENV, f"{clone}/.venv")
    fixtures(clone, tmp)
    os.makedirs(f"{tmp}/bin"), os.makedirs(f"{tmp}/out")
    for name in ("python", "torchrun"):
        with open(f"{tmp}/bin/{name}", "w") as f:
            f.write(SHIM.format(venv=VENV, name=name))
        os.chmod(f"{tmp}/bin/{name}", 0o755)
    env = dict(os.environ, HOME=f"{tmp}/home", OUT=f"{tmp}/out", VIRTUAL_ENV=VENV,
               PATH=f"{tmp}/bin:{VENV}/bin:{os.environ['PATH']}", MPLBACKEND="Agg")
    failures, count = [], 0
    for path, block in blocks(files):
        first = block.strip().splitlines()[0][:90]
        reason = next((why for line, why in SKIP.items() if line in block), None)
        if reason:
            print(f"skip  {path}: {first}  ({reason})", flush=True)
            continue
        count += 1
        problem = run_block(path, block, clone, env, tmp)
        print(f"{'FAIL' if problem else 'ok  '}  {path}: {first}", flush=True)
        if problem:
            failures.append(f"{path}: {first}\n  {problem}")
    for failure in failures:
        print(f"\n{failure}")
    print(f"\n{count - len(failures)} of {count} blocks ran as written and left the tree clean ({tmp})")
    if not failures:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
