"""evaluate.py on a tiny MSEC-layout folder built here."""

import copy
import csv
import json
import os

import cv2
import numpy as np

from conftest import make_photo, run_script
from utils import psnr, ssim


def make_msec(folder, scenes=2):
    os.makedirs(folder / "INPUT_IMAGES"), os.makedirs(folder / "GT_IMAGES")
    for s in range(scenes):
        gt = make_photo(48, 64, seed=s)
        cv2.imwrite(str(folder / "GT_IMAGES" / f"scene{s}.png"), gt[..., ::-1])
        for ev, gain in (("N1", 0.6), ("P1", 1.4)):
            cv2.imwrite(
                str(folder / "INPUT_IMAGES" / f"scene{s}_{ev}.png"),
                np.clip(gt * gain, 0, 255).astype(np.uint8)[..., ::-1],
            )


def run_evaluate(tmp_path, conf):
    return run_script("evaluate.py", tmp_path, conf)


def test_scores_a_model_and_the_identity(repo_conf, tiny_checkpoint, tmp_path):
    make_msec(tmp_path / "data")
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model=tiny_checkpoint[0], data_dir=str(tmp_path / "data"), report_dir=str(tmp_path / "report")
    )
    result = run_evaluate(tmp_path, conf)
    assert result.returncode == 0, result.stderr
    metrics = json.load(open(tmp_path / "report" / "metrics.json"))["groups"]
    assert (
        metrics["all"]["count"] == 4
        and metrics["under (N1.5, N1)"]["count"] == 2
        and metrics["EV P1"]["count"] == 2
    )
    rows = list(csv.DictReader(open(tmp_path / "report" / "per_image.csv")))
    assert len(rows) == 4
    # The identity baseline is the input itself, scored exactly as utils.psnr / utils.ssim do.
    gt = cv2.imread(str(tmp_path / "data" / "GT_IMAGES" / "scene0.png"))[..., ::-1]
    src = cv2.imread(str(tmp_path / "data" / "INPUT_IMAGES" / "scene0_N1.png"))[..., ::-1]
    row = next(r for r in rows if r["input"] == "scene0_N1.png")
    assert (
        abs(float(row["identity_psnr"]) - psnr(src, gt)) < 1e-3
        and abs(float(row["identity_ssim"]) - ssim(src, gt)) < 1e-3
    )
    assert "all" in result.stdout and "identity PSNR" in result.stdout


def test_scores_existing_outputs_and_reports_missing_ones(repo_conf, tmp_path):
    make_msec(tmp_path / "data")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    for s in range(2):  # perfect outputs for scene 0 and 1 at N1; none for P1 of scene 1
        gt = cv2.imread(str(tmp_path / "data" / "GT_IMAGES" / f"scene{s}.png"))
        cv2.imwrite(str(outputs / f"scene{s}_N1.png"), gt)
    cv2.imwrite(
        str(outputs / "scene0_P1.png"), cv2.imread(str(tmp_path / "data" / "INPUT_IMAGES" / "scene0_P1.png"))
    )
    os.remove(tmp_path / "data" / "GT_IMAGES" / "scene1.png")
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model="",
        predictions_dir=str(outputs),
        data_dir=str(tmp_path / "data"),
        report_dir=str(tmp_path / "r"),
    )
    result = run_evaluate(tmp_path, conf)
    assert "no ground truth for" in result.stdout and "scene1_N1.png" in result.stdout
    metrics = json.load(open(tmp_path / "r" / "metrics.json"))["groups"]
    assert metrics["EV N1"]["psnr"] == float("inf") or metrics["EV N1"]["psnr"] > 99
    assert metrics["EV P1"]["psnr"] == metrics["EV P1"]["identity_psnr"]


def test_limit_below_one_is_refused(repo_conf, tiny_checkpoint, tmp_path):
    make_msec(tmp_path / "data")
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model=tiny_checkpoint[0], data_dir=str(tmp_path / "data"), report_dir=str(tmp_path / "r")
    )
    result = run_script("evaluate.py", tmp_path, conf, "--limit", "-1")
    assert result.returncode == 2 and result.stderr.strip() == "error: --limit must be at least 1, got -1"


def test_good_photos_mode_scores_outputs_against_their_own_inputs(repo_conf, tmp_path):
    import torch

    from model import build_generator, export_generator_weights
    from conftest import TINY_ARCH

    make_msec(tmp_path / "data", scenes=3)
    generator = build_generator(TINY_ARCH)
    for unet in generator.unets:  # residual U-Nets with a zero head: the identity network
        torch.nn.init.zeros_(unet.head.weight), torch.nn.init.zeros_(unet.head.bias)
    export_generator_weights(str(tmp_path / "identity.pth"), generator, TINY_ARCH)
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model=str(tmp_path / "identity.pth"),
        data_dir=str(tmp_path / "data"),
        report_dir=str(tmp_path / "r"),
        max_side=32,
    )
    result = run_script("evaluate.py", tmp_path, conf, "--good-photos")
    assert result.returncode == 0, result.stderr
    metrics = json.load(open(tmp_path / "r" / "metrics.json"))
    assert metrics["good_photos"] and metrics["groups"]["all"]["count"] == 3  # each ground truth once
    assert metrics["groups"]["all"]["psnr"] > 30 and "good photos as inputs" in result.stdout
