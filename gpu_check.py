"""The CUDA training path checked end to end (`python benchmark.py gpu`, issue 30): train.py,
predict.py and evaluate.py run as a user runs them, on photos generated here. Without CUDA it says
so and exits 0."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time

from photo import write_image
from config import read_conf, synthesis_conf
from utils import synthetic_photo

ROOT = os.path.dirname(os.path.abspath(__file__))


def bench_gpu(conf, work, conf_path):
    """The CUDA training path end to end on 48 generated photos, each stage a train.py / predict.py /
    evaluate.py run as a user runs it: the speed and peak memory per working size; a run with the
    adversarial term joining, stopped within an epoch and resumed, and killed (SIGKILL) and resumed,
    against the uninterrupted run; its last.pth resumed on the CPU; torchrun on every visible GPU
    (2 or more); predict and evaluate on the GPU against the CPU; a sync audit of the training step."""
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU visible here: nothing to check (run `python benchmark.py gpu` on the GPU machine)")
        sys.exit(0)
    photos = os.path.join(work, "photos")
    for i in range(48):
        write_image(os.path.join(photos, f"p{i:02d}.jpg"), synthetic_photo(384, 512, seed=i))
    base, gpus = read_conf(conf_path)["train"], torch.cuda.device_count()
    result = {"gpu": torch.cuda.get_device_name(0), "gpus": gpus, "torch": torch.__version__}
    print(f"{gpus} x {result['gpu']}, torch {result['torch']}")
    result["speed"] = gpu_speed(base, photos, work)
    result["resume"] = gpu_resume(base, photos, work)
    if gpus >= 2:
        result["torchrun"] = gpu_torchrun(base, photos, work, gpus)
    result["cpu_parity"] = gpu_cpu_parity(photos, work, os.path.join(work, "full", "last.pth"))
    result["sync_audit"] = gpu_sync_audit(base, photos, work)
    return result


def gpu_train(conf_file, *args, env=None, check=True):
    """train.py on a conf file; (return code, stdout + stderr)."""
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), "--conf", conf_file, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    if check and done.returncode:
        raise SystemExit(f"train.py failed ({conf_file}): {done.stderr.strip().splitlines()[-1:]}")
    return done.returncode, done.stdout + done.stderr


def gpu_speed(base, photos, work):
    """Images/s of the second of two epochs over 480 photos (30 steps) and its peak memory, per
    working size (bf16 'auto'), beside the generator alone (step.network_ceiling); then where a
    step's time goes (a second run, --time-steps, which synchronises at each part)."""
    from precision import cuda_bf16_native
    from step import network_ceiling

    many = os.path.join(work, "photos480")  # the 48 photos ten times: 30 steps an epoch
    os.makedirs(many)
    for i in range(480):
        shutil.copy(os.path.join(photos, f"p{i % 48:02d}.jpg"), os.path.join(many, f"p{i:03d}.jpg"))
    photos, rows = many, []
    print("| working size | step (ms) | images/s | generator alone | ratio | peak memory (MB) |")
    print("|---|---|---|---|---|---|")
    for size in base["working_sizes"]:
        folder = os.path.join(work, f"speed{size}")
        path = synthesis_conf(
            base,
            photos,
            folder + ".json",
            working_sizes=[size],
            working_size_weights=[1.0],
            epochs=2,
            model_save_dir=folder,
            fit_check_count=0,
        )
        gpu_train(path)
        with open(os.path.join(folder, "history.csv")) as f:
            row = list(csv.DictReader(f))[1]
        steps = 480 // base["batch_size"]
        seconds = float(row["seconds"]) - float(row["valid_seconds"])
        gpu_train(path, "--time-steps", "--no-resume")
        with open(os.path.join(folder, "history.csv")) as f:
            timed = list(csv.DictReader(f))[1]
        rows.append(
            {
                "size": size,
                "step_ms": 1000 * seconds / steps,
                "images_per_s": 480 / seconds,
                "ceiling": network_ceiling(base, size, cuda_bf16_native()),
                "peak_mb": float(row.get("gpu_memory_mb") or 0),
                "parts_ms": {k[5:-3]: float(v) for k, v in timed.items() if k.startswith("time_") and v},
            }
        )
        r = rows[-1]
        print(
            f"| {size} | {r['step_ms']:.1f} | {r['images_per_s']:.1f} | {r['ceiling']:.1f} | "
            f"{r['images_per_s'] / r['ceiling']:.0%} | {r['peak_mb']:.0f} |"
        )
        print(
            "  where a step's time goes (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in r["parts_ms"].items())
        )
    return rows


def checkpoint_difference(a, b):
    """The largest absolute difference between two last.pth files' generator weights."""
    import torch

    x, y = (torch.load(p, map_location="cpu", weights_only=True)["generator"] for p in (a, b))
    return max(float((x[k].float() - y[k].float()).abs().max()) for k in x)


def gpu_resume(base, photos, work):
    """3 epochs with the adversarial term from epoch 2: uninterrupted; stopped within epoch 1 and
    resumed; killed after a checkpoint within an epoch and resumed; then one more epoch on the CPU."""
    conf_of = lambda name: synthesis_conf(
        base,
        photos,
        os.path.join(work, name + ".json"),
        epochs=3,
        begin_use_adv_loss_epoch=2,
        checkpoint_every_steps=1,
        model_save_dir=os.path.join(work, name),
        fit_check_count=0,
    )
    gpu_train(conf_of("full"))
    stopped = conf_of("stopped")
    gpu_train(stopped, "--max-steps-this-run", "2")
    _, resumed_log = gpu_train(stopped)
    killed, last = conf_of("killed"), os.path.join(work, "killed", "last.pth")
    process = subprocess.Popen(
        [sys.executable, "train.py", "--conf", killed],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_note = kill_within_epoch(process, last)
    gpu_train(killed)
    on_cpu = os.path.join(work, "on_cpu")
    shutil.copytree(os.path.join(work, "full"), on_cpu)
    cpu_conf = synthesis_conf(
        base,
        photos,
        on_cpu + ".json",
        epochs=4,
        begin_use_adv_loss_epoch=2,
        model_save_dir=on_cpu,
        fit_check_count=0,
        CUDA_VISIBLE_DEVICES="",
    )
    code, cpu_log = gpu_train(cpu_conf, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, check=False)
    full = os.path.join(work, "full", "last.pth")
    result = {
        "adversarial_joined": "adv=" in resumed_log,
        "stopped_and_resumed_max_weight_difference": checkpoint_difference(
            full, os.path.join(work, "stopped", "last.pth")
        ),
        "kill": kill_note,
        "killed_and_resumed_max_weight_difference": checkpoint_difference(full, last),
        "resumed_on_cpu": code == 0 and "resumed from" in cpu_log and "on cpu" in cpu_log,
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    return result


def kill_within_epoch(process, last, timeout=300):
    """SIGKILL `process` once its last.pth is a checkpoint within an epoch; what happened, in words."""
    import torch

    started = time.time()
    while process.poll() is None and time.time() - started < timeout:
        try:
            state = torch.load(last, map_location="cpu", weights_only=True)
        except Exception:  # not written yet
            state = {}
        if "partial" in state and state["epoch"] >= 1:
            process.kill()
            process.wait()
            return f"killed within epoch {state['epoch'] + 1} after step {state['partial']['step']}"
        time.sleep(0.05)
    process.wait()
    return "the run ended before a kill within an epoch could land"


def gpu_torchrun(base, photos, work, gpus):
    """torchrun --nproc_per_node=<every GPU> train.py for 2 epochs at 256 px: that it runs, and the
    second epoch's seconds."""
    folder = os.path.join(work, "torchrun")
    path = synthesis_conf(
        base,
        photos,
        folder + ".json",
        epochs=2,
        model_save_dir=folder,
        fit_check_count=0,
        working_sizes=[256],
        working_size_weights=[1.0],
        batch_size=max(1, 48 // (2 * gpus)),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={gpus}",
            "train.py",
            "--conf",
            path,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    ok = done.returncode == 0
    seconds = None
    if ok:
        with open(os.path.join(folder, "history.csv")) as f:
            row = list(csv.DictReader(f))[1]
        seconds = float(row["seconds"]) - float(row["valid_seconds"])
    print(
        f"torchrun on {gpus} GPUs: "
        + (f"ok, {seconds:.1f} s an epoch" if ok else "FAILED: " + done.stderr[-300:])
    )
    return {"ok": ok, "epoch_seconds": seconds, "log_tail": (done.stdout + done.stderr)[-600:]}


def gpu_cpu_parity(photos, work, model):
    """predict.py and evaluate.py with the trained model on the GPU, then on the CPU
    (CUDA_VISIBLE_DEVICES empty): PSNR between the two sets of results, and both evaluate scores."""
    from photo import read_image
    from metrics import psnr
    from utils import to_uint8

    subset = os.path.join(work, "parity_photos")
    os.makedirs(subset)
    for name in sorted(os.listdir(photos))[:6]:
        shutil.copy(os.path.join(photos, name), subset)
    msec = os.path.join(work, "parity_msec")
    subprocess.run(
        [sys.executable, "synthesize_pairs.py", subset, msec], cwd=ROOT, check=True, capture_output=True
    )
    scores, outputs = {}, {}
    for where, env in (("gpu", None), ("cpu", {**os.environ, "CUDA_VISIBLE_DEVICES": ""})):
        out = os.path.join(work, f"pred_{where}")
        subprocess.run(
            [
                sys.executable,
                "predict.py",
                subset,
                "--pretrained_model",
                model,
                "--result_output_dir",
                out,
                "--output_format",
                "png",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        outputs[where] = out
        report = os.path.join(work, f"eval_{where}")
        subprocess.run(
            [sys.executable, "evaluate.py", "--model", model, "--data_dir", msec, "--report_dir", report],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        with open(os.path.join(report, "metrics.json")) as f:
            scores[where] = json.load(f)["groups"]["all"]["psnr"]
    agreement = min(
        psnr(
            to_uint8(read_image(os.path.join(outputs["gpu"], n))[0]),
            to_uint8(read_image(os.path.join(outputs["cpu"], n))[0]),
        )
        for n in os.listdir(outputs["gpu"])
    )
    result = {
        "predict_gpu_vs_cpu_min_psnr": agreement,
        "evaluate_psnr_gpu": scores["gpu"],
        "evaluate_psnr_cpu": scores["cpu"],
    }
    print(
        f"predict, GPU against CPU: at least {agreement:.1f} dB; evaluate: GPU {scores['gpu']:.4f} dB, "
        f"CPU {scores['cpu']:.4f} dB"
    )
    return result


def gpu_sync_audit(base, photos, work):
    """One epoch with train.py --sync-debug: host-device synchronisations warned per training step."""
    folder = os.path.join(work, "sync")
    path = synthesis_conf(base, photos, folder + ".json", epochs=1, model_save_dir=folder, fit_check_count=0)
    _, log = gpu_train(path, "--sync-debug")
    steps = 48 // base["batch_size"]
    warnings = [line for line in log.splitlines() if "synchroniz" in line.lower()]
    where = sorted({w.split(":")[0] for w in warnings if ".py" in w})[:10]
    print(
        f"sync audit: {len(warnings)} synchronisation warnings in {steps} steps "
        f"({len(warnings) / steps:.1f} a step); from {where}"
    )
    return {"warnings": len(warnings), "steps": steps, "per_step": len(warnings) / steps, "sources": where}
