"""The researcher's path, end to end with the repo's own conf.json: one tiny epoch of `python
train.py`'s defaults and one of the README's own-photos block, then every script that takes a
model (predict, video, evaluate, convert_2_onnx, convert_2_rknn, the page) takes each checkpoint,
and the ONNX exported from it, with its default conf. So do the committed finalists."""

import glob
import os
import socket
import subprocess
import sys

import pytest

from conftest import ROOT, save_photos
from test_video import clip_frames

PY = sys.executable


def script(*args, timeout=300):
    """A top-level script as a user runs it from the repository root, on the repo's conf.json."""
    return subprocess.run([PY, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def msec_layout(folder):
    """A tiny folder in MSEC layout: 2 scenes, inputs at EV -1 and +1, their ground truths."""
    import cv2
    import numpy as np

    from conftest import make_photo

    os.makedirs(f"{folder}/INPUT_IMAGES"), os.makedirs(f"{folder}/GT_IMAGES")
    for i, scene in enumerate(("a0001-x", "a0002-y")):
        gt = make_photo(48, 64, seed=i).astype(np.float32)
        cv2.imwrite(f"{folder}/GT_IMAGES/{scene}.jpg", gt.astype(np.uint8))
        for ev, gain in (("N1", 0.5), ("P1", 1.6)):
            shot = np.clip(gt * gain, 0, 255).astype(np.uint8)
            cv2.imwrite(f"{folder}/INPUT_IMAGES/{scene}_{ev}.JPG", shot)
    return folder


def train_both(tmp):
    """{name: best.pth} of the two runs."""
    save_photos(str(tmp / "my_photos"), 6, size=(96, 128))
    save_photos(str(tmp / "my_valid_photos"), 2, size=(96, 128), seed=40)
    no_pairs = ["--paired_train_input_dir", "", "--paired_train_gt_dir", "", "--paired_valid_input_dir", ""]
    no_pairs += ["--paired_valid_gt_dir", ""]
    tiny = ["--epochs", "1", "--num_workers", "0"]
    runs = {
        # the defaults: only the data (MSEC is not in a fresh clone) and the length changed
        "defaults": ["--train_data_dir", str(tmp / "my_photos"), *no_pairs, *tiny],
        # the README block, with its 20 epochs cut to 1
        "readme": [
            "--train_data_dir", str(tmp / "my_photos"), "--valid_data_dir", str(tmp / "my_valid_photos"),
            *no_pairs, "--init_generator_from", "data/exposure_correct_default.pth", *tiny,
        ],
    }
    models = {}
    for name, args in runs.items():
        out = tmp / name
        result = script("train.py", *args, "--model_save_dir", str(out), timeout=600)
        assert result.returncode == 0, result.stderr
        # 6 photos for batch_size 16: trained with what there is, said once
        assert "only 6 training photos: batches of 6 (batch_size 16 needs more)" in result.stdout
        models[name] = str(out / "best.pth")
    return models


def test_trained_checkpoints_work_in_every_script_with_the_default_conf(tmp_path):
    """One test, so that the two trainings run once (a module fixture would run once per worker)."""
    import torch

    models = train_both(tmp_path)
    shipped = torch.load(f"{ROOT}/data/exposure_correct_default.pth", weights_only=True)["arch"]
    for run, model in models.items():
        assert torch.load(model, weights_only=True)["arch"] == shipped  # the defaults build what ships
        every_script_takes(model, run, tmp_path)


def every_script_takes(model, run, tmp):
    out = tmp / f"out_{run}"
    photo = f"{ROOT}/test/coffee_under.jpg"
    r = script("predict.py", photo, "--pretrained_model", model, "--result_output_dir", str(out / "pth"))
    assert r.returncode == 0 and os.path.isfile(out / "pth" / "coffee_under.jpg"), r.stderr
    if run == "defaults":  # a video, and (below) the simulator and the page, once: the same backend
        from video import write_clip

        write_clip(str(tmp / f"clip_{run}.mp4"), clip_frames(3), fps=10)
        r = script("predict.py", str(tmp / f"clip_{run}.mp4"), "--pretrained_model", model,
                   "--result_output_dir", str(out / "video"))
        assert r.returncode == 0 and os.path.isfile(out / "video" / f"clip_{run}.mp4"), r.stderr
    data = msec_layout(str(tmp / f"msec_{run}"))
    r = script("evaluate.py", "--model", model, "--data_dir", data, "--report_dir", str(out / "eval"))
    assert r.returncode == 0 and os.path.isfile(out / "eval" / "per_image.csv"), r.stderr
    onnx = str(out / "model.onnx")
    r = script("convert_2_onnx.py", "--pth_file_path", model, "--onnx_output_path", onnx)
    assert r.returncode == 0 and "parity" in r.stdout, r.stderr
    r = script("predict.py", photo, "--pretrained_model", onnx, "--result_output_dir", str(out / "onnx"))
    assert r.returncode == 0 and os.path.isfile(out / "onnx" / "coffee_under.jpg"), r.stderr
    if run == "readme":
        assert_page_takes(model)
        pytest.importorskip("rknn.api")
        r = script("convert_2_rknn.py", "--ONNX_MODEL", onnx, "--RKNN_MODEL", str(out / "m.rknn"),
                   "--inference_out_path", str(out / "sim.png"))
        assert r.returncode == 0 and os.path.isfile(out / "sim.png"), r.stderr + r.stdout


def assert_page_takes(model):
    """app.py loads the model before it looks at the port: with the port taken, a model it accepts
    ends in the one line about the port (and exit 2), one it refuses in a line about the model."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = script("app.py", "--pretrained_model", model, "--port", str(port))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2
    assert lines == [f"error: port {port} is taken on 127.0.0.1: choose another with --port"]


@pytest.mark.parametrize("path", sorted(glob.glob(f"{ROOT}/results/candidates/*.pth")), ids=os.path.basename)
def test_every_committed_finalist_loads_with_the_default_conf(path, repo_conf):
    """What predict, evaluate, the page and convert_2_onnx do first, for each finalist kept."""
    from config import arch_of, asked_arch
    from inference import load_backend
    from model import load_generator

    for section in ("predict", "convert_to_onnx"):
        conf = repo_conf[section]
        load_generator(path, asked_arch(conf, set()), arch_of(conf))
    backend = load_backend(path, asked_arch(repo_conf["predict"], set()), arch_of(repo_conf["predict"]))
    assert backend.run(__import__("numpy").zeros((1, 3, 64, 64), "float32")).shape == (1, 3, 64, 64)


def test_a_key_on_the_command_line_that_contradicts_the_model_is_one_line(tmp_path, tiny_checkpoint):
    r = script("predict.py", "test/coffee_under.jpg", "--use_global_head", "false",
               "--result_output_dir", str(tmp_path))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: --use_global_head false contradicts the checkpoint data/exposure_correct_default.pth, "
        "which was trained with true (a model carries its architecture: leave --use_global_head out)"
    ]
    # A checkpoint unlike the conf's architecture in every key (3 levels, no global head) runs with
    # the default conf, and keys that change nothing without a global head are not compared.
    r = script("predict.py", "test/coffee_under.jpg", "--pretrained_model", tiny_checkpoint[0],
               "--global_view", "whole", "--auto_strength", "true", "--result_output_dir", str(tmp_path))
    assert r.returncode == 0 and os.path.isfile(tmp_path / "coffee_under.jpg"), r.stderr
