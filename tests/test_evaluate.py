"""evaluate.py on a tiny MSEC-layout folder built here."""

import copy
import csv
import json
import os
import shutil

import cv2
import numpy as np
import pytest

from conftest import make_photo, run_script
from metrics import PSNR_CAP, psnr, ssim


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
    # The identity baseline is the input itself, scored exactly as metrics.psnr / metrics.ssim do.
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
    assert metrics["EV N1"]["psnr"] == pytest.approx(PSNR_CAP)  # identical: the 8-bit floor, not infinity
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
    # report_dir not given on the command line: the report goes beside the conf's, never over it
    assert not os.path.exists(tmp_path / "r") and "report in " + str(tmp_path / "r_good_photos") in result.stdout
    metrics = json.load(open(tmp_path / "r_good_photos" / "metrics.json"))
    assert metrics["good_photos"] and metrics["groups"]["all"]["count"] == 3  # each ground truth once
    assert metrics["groups"]["all"]["psnr"] > 30 and "good photos as inputs" in result.stdout


def noisy(gt, sigma, seed):
    rng = np.random.default_rng(seed)
    return np.clip(gt.astype(np.float64) + rng.normal(0, sigma, gt.shape), 0, 255).round().astype(np.uint8)


def test_compare_reports_the_paired_difference_over_scenes(repo_conf, tmp_path):
    """Two folders of outputs whose per-input PSNR is known: the difference, its t interval over
    the per-scene means (not over inputs) and the scenes better are what they must be."""
    from scipy import stats

    make_msec(tmp_path / "data", scenes=4)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    expected = {}
    for s in range(4):
        gt = cv2.imread(str(tmp_path / "data" / "GT_IMAGES" / f"scene{s}.png"))[..., ::-1]
        for k, ev in enumerate(("N1", "P1")):
            out_a, out_b = noisy(gt, 4 + 2 * s, 10 * s + k), noisy(gt, 6, 100 + 10 * s + k)
            cv2.imwrite(str(a / f"scene{s}_{ev}.png"), out_a[..., ::-1])
            cv2.imwrite(str(b / f"scene{s}_{ev}.png"), out_b[..., ::-1])
            expected.setdefault(s, []).append(psnr(out_a, gt) - psnr(out_b, gt))
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model="", predictions_dir=str(a), data_dir=str(tmp_path / "data"), report_dir=str(tmp_path / "r")
    )
    result = run_script("evaluate.py", tmp_path, conf, "--compare", str(b))
    assert result.returncode == 0, result.stderr
    paired = json.load(open(tmp_path / "r" / "metrics.json"))["paired_difference"]
    scene_means = np.array([np.mean(d) for d in expected.values()])
    half = stats.t.ppf(0.975, 3) * scene_means.std(ddof=1) / 2
    overall = paired["all"]
    assert overall["scenes"] == 4 and overall["inputs"] == 8
    assert abs(overall["psnr_difference"] - scene_means.mean()) < 1e-3
    assert abs(overall["psnr_ci95"][0] - (scene_means.mean() - half)) < 1e-3
    assert abs(overall["psnr_ci95"][1] - (scene_means.mean() + half)) < 1e-3
    assert overall["scenes_better"] == int((scene_means > 0).sum())
    per_ev = [d[0] for d in expected.values()]
    assert abs(paired["EV N1"]["psnr_difference"] - np.mean(per_ev)) < 1e-3 and paired["EV N1"]["scenes"] == 4
    assert "paired:" in result.stdout and "95% interval" in result.stdout


def test_compare_with_an_earlier_report_equals_comparing_with_its_outputs(repo_conf, tmp_path):
    # A model no longer at hand: its per_image.csv stands in for it, figure for figure.
    make_msec(tmp_path / "data", scenes=3)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for s in range(3):
        gt = cv2.imread(str(tmp_path / "data" / "GT_IMAGES" / f"scene{s}.png"))[..., ::-1]
        for k, ev in enumerate(("N1", "P1")):
            cv2.imwrite(str(a / f"scene{s}_{ev}.png"), noisy(gt, 3 + 3 * s, s + k)[..., ::-1])
            cv2.imwrite(str(b / f"scene{s}_{ev}.png"), noisy(gt, 6, 50 + s + k)[..., ::-1])
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(model="", data_dir=str(tmp_path / "data"))
    reports = {}
    for name, folder, compare in (("b", b, []), ("ab", a, ["--compare", str(b)])):
        conf["evaluate"].update(predictions_dir=str(folder), report_dir=str(tmp_path / name))
        assert run_script("evaluate.py", tmp_path, conf, *compare).returncode == 0
    conf["evaluate"].update(predictions_dir=str(a), report_dir=str(tmp_path / "acsv"))
    earlier = str(tmp_path / "b" / "per_image.csv")
    result = run_script("evaluate.py", tmp_path, conf, "--compare", earlier)
    assert result.returncode == 0, result.stderr
    for name in ("ab", "acsv"):
        reports[name] = json.load(open(tmp_path / name / "metrics.json"))["paired_difference"]
    for group, d in reports["ab"].items():
        e = reports["acsv"][group]
        assert (
            abs(d["psnr_difference"] - e["psnr_difference"]) < 1e-3
            and d["scenes_better"] == e["scenes_better"]
        )
        assert np.allclose(d["psnr_ci95"], e["psnr_ci95"], atol=2e-3)
    with open(earlier) as f:
        lines = f.readlines()
    open(earlier, "w").writelines(lines[:-1])  # one input short
    result = run_script("evaluate.py", tmp_path, conf, "--compare", earlier)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"error: --compare {earlier} has no row for 1 of the 6 inputs")


def test_a_model_compared_with_itself_differs_by_zero(repo_conf, tiny_checkpoint, tmp_path):
    make_msec(tmp_path / "data", scenes=2)
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model=tiny_checkpoint[0], data_dir=str(tmp_path / "data"), report_dir=str(tmp_path / "r"), max_side=32
    )
    result = run_script("evaluate.py", tmp_path, conf, "--compare", tiny_checkpoint[0])
    assert result.returncode == 0, result.stderr
    overall = json.load(open(tmp_path / "r" / "metrics.json"))["paired_difference"]["all"]
    assert (
        overall["psnr_difference"] == 0 and overall["psnr_ci95"] == [0, 0] and overall["scenes_better"] == 0
    )


def test_compare_with_a_missing_model_is_one_line(repo_conf, tiny_checkpoint, tmp_path):
    make_msec(tmp_path / "data", scenes=1)
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model=tiny_checkpoint[0], data_dir=str(tmp_path / "data"), report_dir=str(tmp_path / "r")
    )
    result = run_script("evaluate.py", tmp_path, conf, "--compare", str(tmp_path / "nothing.pth"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --compare: model file not found: {tmp_path / 'nothing.pth'}"


def test_test_split_layout_scores_every_expert_present_and_their_mean(repo_conf, tmp_path):
    """INPUT_IMAGES beside expert_a_ and expert_c_testing_set (b, d, e absent): outputs equal to
    expert A's photo plus 5 levels; expert C's photo is A's minus 10, so PSNR is known exactly."""
    data, outputs = tmp_path / "test_split", tmp_path / "out"
    for folder in ("INPUT_IMAGES", "expert_a_testing_set", "expert_c_testing_set"):
        os.makedirs(data / folder)
    outputs.mkdir()
    for s in range(2):
        base = (make_photo(32, 48, seed=s).astype(np.int32) * 150 // 255 + 40).astype(np.uint8)  # 40..190
        cv2.imwrite(
            str(data / "expert_a_testing_set" / f"scene{s}.jpg"),
            base[..., ::-1],
            [cv2.IMWRITE_JPEG_QUALITY, 100],
        )
        base = cv2.imread(str(data / "expert_a_testing_set" / f"scene{s}.jpg"))[..., ::-1]  # as stored
        cv2.imwrite(str(data / "expert_c_testing_set" / f"scene{s}.png"), (base - 10)[..., ::-1])
        for ev in ("N1.5", "P1"):
            cv2.imwrite(str(data / "INPUT_IMAGES" / f"scene{s}_{ev}.JPG"), base[..., ::-1])
            cv2.imwrite(str(outputs / f"scene{s}_{ev}.png"), (base + 5)[..., ::-1])
    cv2.imwrite(str(data / "INPUT_IMAGES" / "lonely_P1.JPG"), base[..., ::-1])  # no expert has it
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model="", predictions_dir=str(outputs), data_dir=str(data), report_dir=str(tmp_path / "r")
    )
    result = run_script("evaluate.py", tmp_path, conf)
    assert result.returncode == 0, result.stderr
    assert "no ground truth for" in result.stdout and "lonely_P1.JPG" in result.stdout
    metrics = json.load(open(tmp_path / "r" / "metrics.json"))
    a, c = 20 * np.log10(255 / 5), 20 * np.log10(255 / 15)
    assert metrics["experts"] == ["a", "c"] and metrics["scored"] == 4
    assert abs(metrics["groups"]["all"]["brightness_bias"] - (5 + 15) / 2) < 1e-3  # +5 on A, +15 on C
    for group in ("all", "under (N1.5, N1)", "over/normal (0, P1, P1.5)"):
        g = metrics["groups"][group]
        assert (
            abs(g["psnr_a"] - a) < 1e-3
            and abs(g["psnr_c"] - c) < 1e-3
            and abs(g["psnr"] - (a + c) / 2) < 1e-3
        )
    assert any("lonely_P1.JPG" in m for m in metrics["not_scored"])
    rows = list(csv.DictReader(open(tmp_path / "r" / "per_image.csv")))
    assert {"psnr_a", "ssim_a", "psnr_c", "ssim_c"} <= set(rows[0]) and "expert A" in result.stdout


def test_scenes_picks_a_fixed_spread_of_scenes(repo_conf, tmp_path):
    make_msec(tmp_path / "data", scenes=5)
    outputs = tmp_path / "out"
    shutil.copytree(tmp_path / "data" / "INPUT_IMAGES", outputs)
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model="",
        predictions_dir=str(outputs),
        data_dir=str(tmp_path / "data"),
        report_dir=str(tmp_path / "r"),
    )
    result = run_script("evaluate.py", tmp_path, conf, "--scenes", "3")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "r" / "per_image.csv")))
    assert sorted({r["scene"] for r in rows}) == ["scene0", "scene2", "scene4"] and len(rows) == 6


def test_synthesised_yardstick_is_deterministic_and_scored(repo_conf, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT, save_photos

    save_photos(str(tmp_path / "gts"), 2, size=(40, 56))
    runs = []
    for dest in ("set1", "set2"):
        done = subprocess.run(
            [sys.executable, "synthesize_pairs.py", str(tmp_path / "gts"), str(tmp_path / dest)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        runs.append(sorted(os.listdir(tmp_path / dest / "INPUT_IMAGES")))
    assert runs[0] == runs[1] and len(runs[0]) == 10 and "photo00_P1.5.png" in runs[0]
    for name in runs[0]:
        first, second = (cv2.imread(str(tmp_path / d / "INPUT_IMAGES" / name)) for d in ("set1", "set2"))
        assert np.array_equal(first, second)
    gt = cv2.imread(str(tmp_path / "set1" / "GT_IMAGES" / "photo00.png")).astype(int)
    under = cv2.imread(str(tmp_path / "set1" / "INPUT_IMAGES" / "photo00_N1.png")).astype(int)
    same = cv2.imread(str(tmp_path / "set1" / "INPUT_IMAGES" / "photo00_0.png")).astype(int)
    assert under.mean() < gt.mean() - 20 and np.abs(same - gt).max() <= 1


# ---------------------------------------------------------------- the look (issue 28)


def test_look_metrics_have_known_answers():
    """A uniform shift moves bias, black level and median by exactly the shift; an output with its
    colour removed (R = G = B) has no chroma; the ground truth against itself is neutral."""
    from metrics import look_metrics, look_stats

    gt = (make_photo(40, 60, seed=3).astype(np.int32) * 150 // 255 + 40).astype(np.uint8)  # 40..190
    same = look_metrics(look_stats(gt), look_stats(gt))
    assert same["saturation_ratio"] == 1 and all(
        same[k] == 0 for k in ("brightness_bias", "black_level", "median_shift", "cast_a", "cast_b")
    )
    shifted = look_metrics(look_stats(gt + 7), look_stats(gt))
    assert all(abs(shifted[k] - 7) < 1e-3 for k in ("brightness_bias", "black_level", "median_shift"))
    grey = np.repeat(gt.mean(axis=2, keepdims=True).round().astype(np.uint8), 3, axis=2)
    washed = look_metrics(look_stats(grey), look_stats(gt))
    stats = look_stats(gt)
    assert washed["saturation_ratio"] < 0.01 and stats["chroma"] > 10
    assert abs(washed["cast_a"] + stats["a"]) < 0.05 and abs(washed["cast_b"] + stats["b"]) < 0.05
    # CIELAB of sRGB red is (53.24, 80.09, 67.20): chroma 104.55
    red = look_stats(np.full((4, 4, 3), (255, 0, 0), np.uint8))
    assert abs(red["chroma"] - 104.55) < 0.05 and abs(red["a"] - 80.09) < 0.05


def test_look_is_reported_per_group_and_paired(repo_conf, tmp_path):
    """Outputs equal to the ground truth plus 6 levels against outputs equal to it: the report
    carries the look per group, and --compare pairs it (|bias| and |black level| 6 worse, exactly)."""
    make_msec(tmp_path / "data", scenes=3)
    exact, bright = tmp_path / "exact", tmp_path / "bright"
    exact.mkdir(), bright.mkdir()
    for s in range(3):
        gt = cv2.imread(str(tmp_path / "data" / "GT_IMAGES" / f"scene{s}.png")).astype(np.int32)
        gt = (gt * 150 // 255 + 40).astype(np.uint8)  # no clipping at +6
        cv2.imwrite(str(tmp_path / "data" / "GT_IMAGES" / f"scene{s}.png"), gt)
        for ev in ("N1", "P1"):
            cv2.imwrite(str(exact / f"scene{s}_{ev}.png"), gt)
            cv2.imwrite(str(bright / f"scene{s}_{ev}.png"), gt + 6)
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model="", predictions_dir=str(bright), data_dir=str(tmp_path / "data"), report_dir=str(tmp_path / "r")
    )
    result = run_script("evaluate.py", tmp_path, conf, "--compare", str(exact))
    assert result.returncode == 0, result.stderr
    metrics = json.load(open(tmp_path / "r" / "metrics.json"))
    for group in ("all", "EV N1", "over/normal (0, P1, P1.5)"):
        g = metrics["groups"][group]
        assert abs(g["brightness_bias"] - 6) < 1e-3 and abs(g["black_level"] - 6) < 1e-3
        assert abs(g["saturation_ratio"] - 1) < 0.1 and abs(g["cast_a"]) < 1
    paired = metrics["paired_difference"]["all"]
    assert abs(paired["abs_brightness_bias_difference"] - 6) < 1e-3
    assert (
        abs(paired["abs_black_level_ci95"][0] - 6) < 1e-3
        and abs(paired["abs_black_level_ci95"][1] - 6) < 1e-3
    )
    assert "saturation_ratio_difference" in paired and "the look, paired" in result.stdout
    # the same pairing from the earlier report's per_image.csv
    conf["evaluate"].update(predictions_dir=str(exact), report_dir=str(tmp_path / "e"))
    assert run_script("evaluate.py", tmp_path, conf).returncode == 0
    conf["evaluate"].update(predictions_dir=str(bright), report_dir=str(tmp_path / "r2"))
    run_script("evaluate.py", tmp_path, conf, "--compare", str(tmp_path / "e" / "per_image.csv"))
    again = json.load(open(tmp_path / "r2" / "metrics.json"))["paired_difference"]["all"]
    assert abs(again["abs_brightness_bias_difference"] - 6) < 1e-3


def test_good_photos_from_a_plain_folder_report_how_far_they_moved(repo_conf, tiny_checkpoint, tmp_path):
    """A folder of as-shot photos (no MSEC layout) is a good-photo yardstick: each photo is scored
    against itself, with how far its median brightness moved."""
    folder = tmp_path / "as_shot"
    (folder / "sub").mkdir(parents=True)
    for k in range(3):
        cv2.imwrite(str(folder / ("sub" if k == 2 else "") / f"p{k}.jpg"), make_photo(40, 56, seed=k))
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model=tiny_checkpoint[0], data_dir=str(folder), report_dir=str(tmp_path / "r"), max_side=32
    )
    result = run_script("evaluate.py", tmp_path, conf, "--good-photos", "--report_dir", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr  # a report_dir given on the command line is taken as it is
    metrics = json.load(open(tmp_path / "r" / "metrics.json"))
    assert metrics["scored"] == 3 and "|median|" in result.stdout
    rows = list(csv.DictReader(open(tmp_path / "r" / "per_image.csv")))
    assert all(abs(float(r["abs_median_shift"]) - abs(float(r["median_shift"]))) < 1e-3 for r in rows)
    empty = tmp_path / "empty"
    empty.mkdir()
    conf["evaluate"].update(data_dir=str(empty))
    result = run_script("evaluate.py", tmp_path, conf, "--good-photos")
    assert result.returncode == 2 and "holds no photos" in result.stderr and "Traceback" not in result.stderr


def test_an_expert_covering_some_inputs_is_scored_on_those(repo_conf, tmp_path):
    """Expert E's folder holds scene 0 only: E is scored on scene 0's inputs and says how many
    (it stopped with KeyError: 'psnr_e' when the first row lacked that expert)."""
    data, outputs = tmp_path / "split", tmp_path / "out"
    for folder in ("INPUT_IMAGES", "expert_c_testing_set", "expert_e_testing_set"):
        os.makedirs(data / folder)
    outputs.mkdir()
    for s in range(3):
        base = make_photo(32, 48, seed=s)
        cv2.imwrite(str(data / "expert_c_testing_set" / f"scene{s}.png"), base)
        if s == 2:
            cv2.imwrite(str(data / "expert_e_testing_set" / f"scene{s}.png"), base)
        for ev in ("N1", "P1"):
            cv2.imwrite(str(data / "INPUT_IMAGES" / f"scene{s}_{ev}.png"), base)
            cv2.imwrite(str(outputs / f"scene{s}_{ev}.png"), base)
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(
        model="", predictions_dir=str(outputs), data_dir=str(data), report_dir=str(tmp_path / "r")
    )
    result = run_script("evaluate.py", tmp_path, conf)
    assert result.returncode == 0, result.stderr
    groups = json.load(open(tmp_path / "r" / "metrics.json"))["groups"]
    assert groups["all"]["count"] == 6 and groups["all"]["count_e"] == 2 and "count_c" not in groups["all"]
    assert "expert E: scored on the 2 of 6 inputs" in result.stdout


def test_the_table_keeps_wide_values_apart(capsys):
    """A bias of +100 levels or a cast of -10 fills its column: every value is still its own word."""
    from evaluate import print_table

    row = dict(count=150, psnr=8.5, ssim=0.5, saturation_ratio=0.799, brightness_bias=100.62, black_level=-100.5,
               cast_a=-10.29, cast_b=-11.11, identity_psnr=16.1, identity_ssim=0.75, abs_median_shift=120.25)
    print_table({"all": row, "EV -1.5, -1": row}, False, [])
    print_table({"all": row}, True, [])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("all", "EV"))]
    assert len(lines) == 3
    assert lines[0].split() == ["all", "150", "8.500", "0.5000", "0.799", "+100.62", "-100.50", "-10.29",
                                "-11.11", "16.100", "0.7500"]
    assert lines[2].split()[-6:] == ["0.799", "+100.62", "-100.50", "-10.29", "-11.11", "120.25"]


def test_scene_brightness_has_known_answers():
    """Three scenes at experts' levels 100, 150, 200: the model brings them to 115, 145, 190 with
    spreads 10, 10, 20 over their EVs; OTHER hits the expert at every EV (spread 0, slope 1)."""
    from evaluate import scene_brightness

    rows = []
    for scene, gt, outs in (("a", 100, (110, 120)), ("b", 150, (140, 150)), ("c", 200, (180, 200))):
        for ev, out in zip(("N1", "P1"), outs):
            rows.append(dict(scene=scene, ev=ev, brightness=out, gt_brightness=gt, other_brightness=gt))
    s = scene_brightness(rows)
    levels, experts = np.array([115, 145, 190]), np.array([100, 150, 200])
    assert s["scenes"] == 3 and s["spread"] == pytest.approx(40 / 3, abs=1e-3)
    assert s["correlation"] == pytest.approx(np.corrcoef(levels, experts)[0, 1], abs=1e-4)
    assert s["slope"] == pytest.approx(0.75, abs=1e-4)  # (190 - 115) / (200 - 100)
    assert s["other_spread"] == 0 and s["other_correlation"] == pytest.approx(1) and s["other_slope"] == 1
    assert s["spread_difference"] == pytest.approx(40 / 3, abs=1e-3) and s["spread_ci95"][0] < 40 / 3


def test_scene_brightness_is_reported_and_paired_from_an_earlier_report(repo_conf, tmp_path):
    """Outputs that are the ground truth at every EV: spread 0, correlation and slope 1; against
    outputs 6 levels brighter at EV +1 only (spread 6), the paired spread is -6 exactly."""
    make_msec(tmp_path / "data", scenes=3)
    exact, uneven = tmp_path / "exact", tmp_path / "uneven"
    exact.mkdir(), uneven.mkdir()
    for s in range(3):
        gt = cv2.imread(str(tmp_path / "data" / "GT_IMAGES" / f"scene{s}.png")).astype(np.int32)
        gt = (gt * (100 + 40 * s) // 255 + 40).astype(np.uint8)  # scenes of different levels, no clipping
        cv2.imwrite(str(tmp_path / "data" / "GT_IMAGES" / f"scene{s}.png"), gt)
        for ev in ("N1", "P1"):
            cv2.imwrite(str(exact / f"scene{s}_{ev}.png"), gt)
            cv2.imwrite(str(uneven / f"scene{s}_{ev}.png"), gt + (6 if ev == "P1" else 0))
    conf = copy.deepcopy(repo_conf)
    conf["evaluate"].update(model="", data_dir=str(tmp_path / "data"), predictions_dir=str(uneven),
                            report_dir=str(tmp_path / "u"))
    assert run_script("evaluate.py", tmp_path, conf).returncode == 0
    conf["evaluate"].update(predictions_dir=str(exact), report_dir=str(tmp_path / "e"))
    result = run_script("evaluate.py", tmp_path, conf, "--compare", str(tmp_path / "u" / "per_image.csv"))
    assert result.returncode == 0, result.stderr
    scenes = json.load(open(tmp_path / "e" / "metrics.json"))["scenes"]
    assert scenes["spread"] == 0 and scenes["correlation"] == pytest.approx(1) and scenes["slope"] == pytest.approx(1)
    assert scenes["other_spread"] == pytest.approx(6, abs=1e-3) and scenes["spread_difference"] == pytest.approx(-6)
    assert "spread of one scene's outputs" in result.stdout and "paired: spread -6.00 levels" in result.stdout
