"""benchmark.py's training benchmarks: `train` (train.py's images/s against its own network and
against the commit issue 38 measured from, and where a step's time goes) and `data` (start-up
time and memory at 1,000-16,000 photos, a loader worker's items/s). Figures: docs/benchmarks.md."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

from config import read_conf, synthesis_conf
from photo import write_image
from step import network_ceiling
from utils import synthetic_photo

ROOT = os.path.dirname(os.path.abspath(__file__))


TRAIN_BASELINE = "b15f441"  # the commit issue 38's training-speed targets are measured against
# issue 38's recipe candidates, timed beside the default: the losses on a window of half the lifted
# photo's side, and on the network's output at its own size without the lift
RECIPE_CANDIDATES = {"lift_crop 0.5": {"lift_crop": 0.5}, "lift_scale 1": {"lift_scale": 1}}


def bench_train(conf, work, conf_path, photo_count=480):
    """train.py against its own network and against TRAIN_BASELINE, on the same `photo_count`
    synthetic 384x512 photos (30 steps an epoch), each commit with its own conf defaults (its
    precision 'auto' decides for itself), at the sizes of --train-sizes (the conf's first working
    size by default): images/s of the second of two epochs; the generator's own ceiling at that
    batch shape, precision and layout, and the ratio; where the step's time goes (--time-steps)."""
    photos = os.path.join(work, "photos")
    for i in tqdm_range(photo_count, "writing photos"):
        write_image(os.path.join(photos, f"p{i:03d}.jpg"), synthetic_photo(384, 512, seed=i))
    old_root = os.path.join(work, "baseline")
    os.makedirs(old_root)
    archive = subprocess.run(["git", "-C", ROOT, "archive", TRAIN_BASELINE], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", old_root], input=archive.stdout, check=True)
    base = read_conf(conf_path)["train"]
    old_base = read_conf(os.path.join(old_root, "conf.json"))["train"]
    rows = []
    for size in conf["train_sizes"] or base["working_sizes"][:1]:
        old, _, _ = train_speed(old_root, old_base, photos, size, work)
        now, bf16, parts = train_speed(ROOT, base, photos, size, work, timed=True)
        ceiling = network_ceiling(base, size, bf16)
        row = {
            "working_size": size,
            "precision": "bf16" if bf16 else "fp32",
            "baseline": old,
            "now": now,
            "ceiling": ceiling,
            "parts_ms": parts,
            "recipe_candidates": {},
        }
        for name, changes in RECIPE_CANDIDATES.items():  # recipe changes: each an A/B (docs/ablation.md)
            speed, _, candidate_parts = train_speed(ROOT, {**base, **changes}, photos, size, work, timed=True)
            row["recipe_candidates"][name] = {"images_s": speed, "parts_ms": candidate_parts}
        rows.append(row)
        print_train_row(rows[-1], photo_count // base["batch_size"])
    return {
        "batch_size": base["batch_size"],
        "photos": f"{photo_count} synthetic 384x512",
        "baseline_commit": TRAIN_BASELINE,
        "rows": rows,
    }


def print_train_row(row, steps):
    parts = lambda ms: ", ".join(f"{k} {v:.0f}" for k, v in ms.items())
    lines = [
        f"\nworking size {row['working_size']} ({row['precision']}, {steps} steps timed):",
        f"| train.py {TRAIN_BASELINE} | train.py now | speed-up | generator alone | now / generator |",
        "|---|---|---|---|---|",
        f"| {row['baseline']:.1f} images/s | {row['now']:.1f} images/s | {row['now'] / row['baseline']:.2f}x "
        f"| {row['ceiling']:.1f} images/s | {row['now'] / row['ceiling']:.0%} |",
        f"where a step's time goes (ms): {parts(row['parts_ms'])}",
    ]
    for name, measured in row["recipe_candidates"].items():
        lines.append(
            f"with {name} (a recipe change): {measured['images_s']:.1f} images/s, "
            f"{measured['images_s'] / row['baseline']:.2f}x the baseline; ms: {parts(measured['parts_ms'])}"
        )
    print("\n".join(lines))


def train_speed(root, base, photos, size, work, timed=False):
    """train.py of the tree at `root` over `photos` at one working size (no validation), two
    epochs: (images/s of the second, whether it chose bfloat16, its time_* parts in ms per step and
    the per-epoch work in ms per step, when `timed`; on a GPU a timed run is slower: a separate
    run gives the images/s)."""
    save_dir = os.path.join(work, f"ckpt_{size}_{len(os.listdir(work))}")
    run_conf = synthesis_conf(
        base,
        photos,
        os.path.join(save_dir + ".json"),
        check=root == ROOT,
        working_sizes=[size],
        working_size_weights=[1.0],
        epochs=2,
        max_image_side=512,
        model_save_dir=save_dir,
        fit_check_count=0,  # the fit check runs on the CPU path: not training speed
    )
    args = ["--time-steps"] if timed else []
    done = subprocess.run(
        [sys.executable, "train.py", "--conf", run_conf, *args],
        check=True,
        cwd=root,
        capture_output=True,
        text=True,
    )
    with open(os.path.join(save_dir, "history.csv")) as f:
        row = list(csv.DictReader(f))[1]
    steps = len(os.listdir(photos)) // base["batch_size"]
    # the epoch's time less what came after its last step (validation, checkpoints, reports)
    speed = steps * base["batch_size"] / (float(row["seconds"]) - float(row["valid_seconds"]))
    parts = {k[5:-3]: float(v) for k, v in row.items() if k.startswith("time_") and v}
    work_s = re.findall(
        r"epoch work: validation ([\d.]+) s, checkpoints ([\d.]+) s, reports ([\d.]+) s", done.stdout
    )
    if work_s:
        parts["per-epoch work"] = 1000 * sum(float(s) for s in work_s[-1]) / steps
    bf16 = "bfloat16" in next((line for line in done.stdout.splitlines() if "generator:" in line), "")
    if timed and "cuda" in done.stdout.split("generator:")[-1].split("\n")[0]:
        speed = train_speed(root, base, photos, size, work)[0]
    return speed, bf16, parts


def bench_data(conf, work, conf_path, counts=(1000, 4000, 16000), unique=1000):
    """Training data at scale. `unique` synthetic 1280x850 JPEGs, and folders of each of `counts`
    photos (links to them, so the page cache holds them as it would hold a warm data set): for
    each, train.py's time from its start to its 5th training step and the peak memory of it and its
    loader worker (summed PSS), streamed (cache_images false) and as "auto" decides; then the items
    per second one loader worker (one thread) prepares, streaming, at each working size and as
    512 px crops from the full-size photos (the paper's last stage)."""
    photos = os.path.join(work, "unique")
    for i in tqdm_range(unique, "writing photos"):
        write_image(os.path.join(photos, f"p{i:05d}.jpg"), synthetic_photo(850, 1280, seed=i))
    base, rows = read_conf(conf_path)["train"], []
    print("| photos | cache_images | seconds to step 5 | peak memory (MB) |\n|---|---|---|---|")
    for count in counts:
        folder = os.path.join(work, f"set{count}")
        os.makedirs(folder)
        for i in range(count):
            os.symlink(os.path.join(photos, f"p{i % unique:05d}.jpg"), os.path.join(folder, f"p{i:05d}.jpg"))
        for cache in (False, "auto"):
            seconds, peak_mb = time_to_step(base, folder, cache, work)
            rows.append(
                {"photos": count, "cache_images": cache, "seconds_to_step_5": seconds, "peak_mb": peak_mb}
            )
            print(f"| {count:,} | {json.dumps(cache)} | {seconds:.1f} | {peak_mb:.0f} |")
        shutil.rmtree(folder)
    return {"startup": rows, "worker_items_per_s": worker_speeds(base, photos)}


def tqdm_range(n, desc):
    from tqdm import tqdm

    return tqdm(range(n), desc=desc, leave=False)


def time_to_step(base, folder, cache, work, step=5):
    """train.py on `folder` (synthesis only, no validation): seconds from its start to training step
    `step` (read from its progress bar), and the peak of its and its workers' summed PSS."""
    import psutil

    run_conf = synthesis_conf(
        base,
        folder,
        os.path.join(work, "conf_data.json"),
        cache_images=cache,
        fit_check_count=0,
        epochs=1,
        model_save_dir=os.path.join(work, "ckpt_data"),
        resume=False,
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-u", os.path.join(ROOT, "train.py"), "--conf", run_conf],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    watched, peak, text = psutil.Process(process.pid), 0, b""
    os.set_blocking(process.stdout.fileno(), False)
    while process.poll() is None:
        text += process.stdout.read() or b""
        tree = [watched] + watched.children(recursive=True)
        peak = max(peak, sum(proportional_memory(p) for p in tree))
        if re.search(rb"\|\s*%d/\d+ \[" % step, text):
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    for p in [watched] + watched.children(recursive=True):
        p.kill()
    process.wait()
    return seconds, peak / 2**20


def proportional_memory(process):
    """PSS: a page shared by the main process and its forked workers counts once in their sum
    (RSS would count torch's libraries and a copied-on-write cache once per process)."""
    try:
        return process.memory_full_info().pss
    except Exception:  # the process ended between listing and reading (psutil raises its own kinds)
        return 0


def worker_speeds(base, photos, items=24):
    """Items per second that one loader worker (one thread, streaming) prepares."""
    import torch

    from dataset import build_dataset

    torch.set_num_threads(1)  # as in a DataLoader worker
    cases = [(f"whole photo at {s} px", dict(base, cache_images=False), s) for s in (128, 256, 512)]
    cases.append(
        (
            "512 px crop, full-size photos",
            dict(base, cache_images=False, max_image_side=0, image_size=[512, 512]),
            None,
        )
    )
    speeds = []
    for name, conf, size in cases:
        data = build_dataset(conf, photos, "", "", True, 64, log=lambda *a: None)
        keys = [(i, size) if size else i for i in range(items)]
        data[keys[0]]  # warm-up
        started = time.perf_counter()
        for key in keys:
            data[key]
        rate = items / (time.perf_counter() - started)
        speeds.append({"items": name, "per_second": rate})
        print(f"| one worker, {name} | {rate:.1f} items/s |")
    return speeds
