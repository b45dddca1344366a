"""pack_data.py: the train section's photos shrunk once and packed for a machine without ../shared."""

import os
import shutil

import numpy as np

from conftest import run_script, save_photos
from photo import read_image
from utils import find_msec_pairs


def msec_layout(tmp_path, split, scenes):
    inputs, gts = tmp_path / split / "INPUT_IMAGES", tmp_path / split / "GT_IMAGES"
    save_photos(str(gts), scenes, size=(300, 400), seed=len(split))
    shutil.copytree(gts, inputs)
    for i in range(scenes):
        os.rename(gts / f"photo{i:02d}.png", gts / f"scene{i}.png")
        for ev in ("N1", "P1.5"):
            shutil.copy(inputs / f"photo{i:02d}.png", inputs / f"scene{i}_{ev}.png")
        os.remove(inputs / f"photo{i:02d}.png")
    return str(inputs), str(gts)


def test_pack_shrinks_every_photo_once_keeps_the_pairs_and_prints_the_keys(repo_conf, tmp_path):
    train_in, train_gt = msec_layout(tmp_path, "train", 3)
    valid_in, valid_gt = msec_layout(tmp_path, "valid", 2)
    conf = dict(repo_conf)
    conf["train"] = dict(
        conf["train"],
        train_data_dir=train_gt,
        paired_train_input_dir=train_in,
        paired_train_gt_dir=train_gt,
        paired_valid_input_dir=valid_in,
        paired_valid_gt_dir=valid_gt,
        max_image_side=128,
    )
    dest = tmp_path / "packed"
    result = run_script("pack_data.py", tmp_path, conf, str(dest))
    assert result.returncode == 0, result.stderr
    assert "15 photos" in result.stdout  # 3 x 2 + 3 training, 2 x 2 + 2 validation; GTs once
    pairs, unmatched = find_msec_pairs(
        str(dest / "train" / "INPUT_IMAGES"), str(dest / "train" / "GT_IMAGES")
    )
    assert len(pairs) == 6 and not unmatched
    rgb, _, _ = read_image(str(dest / "train" / "GT_IMAGES" / "scene0.webp"))
    original, _, _ = read_image(os.path.join(train_gt, "scene0.png"))
    assert rgb.shape[:2] == (96, 128)
    assert np.abs(rgb - original[::3, ::3][:96, :128]).mean() < 0.1  # the photo, shrunk
    assert f"--train_data_dir {dest / 'train' / 'GT_IMAGES'}" in result.stdout
    again = run_script("pack_data.py", tmp_path, conf, str(dest))
    assert (
        again.returncode == 2 and "is not an empty folder" in again.stderr and "Traceback" not in again.stderr
    )
