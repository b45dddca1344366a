"""The model that ships in data/ loads as the conf describes and moves exposure the right way."""

import os

import pytest

from conftest import ROOT
from inference import correct_image, load_backend
from photo import read_image
from config import SCHEMA, arch_of, correction_settings, validate_section

SHIPPED = os.path.join(ROOT, "data", "exposure_correct_default.pth")


def test_shipped_model_matches_conf_and_corrects_the_sample_photos(repo_conf):
    conf = dict(repo_conf["predict"], img_pth=os.path.join(ROOT, "test"), pretrained_model=SHIPPED)
    validate_section({"predict": conf}, "predict")
    backend = load_backend(SHIPPED, arch_of(conf))  # every architecture key asked: all agree
    for name, direction in (("astronaut_under.jpg", 1), ("coffee_under.jpg", 1), ("chelsea_over.jpg", -1)):
        photo = read_image(os.path.join(ROOT, "test", name))[0]
        out = correct_image(photo, backend, **correction_settings(conf))
        assert out.shape == photo.shape
        change = float(out.mean() - photo.mean())
        assert direction * change > 0.03, (name, change)


def test_checkpoint_is_small_and_half_precision():
    torch = pytest.importorskip("torch")
    checkpoint = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    assert os.path.getsize(SHIPPED) < 5e6
    assert all(v.dtype == torch.float16 for v in checkpoint["generator"].values() if v.is_floating_point())


def test_shipped_model_leaves_a_well_exposed_photo_nearly_unchanged(repo_conf):
    from metrics import psnr
    from utils import to_uint8

    conf = dict(repo_conf["predict"], pretrained_model=SHIPPED)
    photo = read_image(os.path.join(ROOT, "test", "coffee_good.jpg"))[0]
    out = correct_image(photo, load_backend(SHIPPED), **correction_settings(conf))
    assert abs(float(out.mean() - photo.mean())) < 6 / 255  # measured: 1.7 levels darker (v3: 2.6)
    assert psnr(to_uint8(out), to_uint8(photo)) > 28  # measured: 28.25 dB (v3: 31.7)


# How a run goes, not what it learns: where the data and checkpoints are, the hardware, and how
# often it checkpoints and reports.
RUN_KEYS = {"CUDA_VISIBLE_DEVICES", "num_workers", "cache_images", "model_save_dir", "resume", "precision"}


def test_python_train_py_trains_the_shipped_recipe(repo_conf):
    """The train section's defaults are the architecture and recipe that the shipped file records
    (its "conf": the train section it was trained with)."""
    torch = pytest.importorskip("torch")
    shipped = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    defaults, recorded = repo_conf["train"], shipped["conf"]
    assert arch_of(defaults) == shipped["arch"]
    added_since = {"pair_ev_jitter": 0.0}  # keys newer than the shipped file: their off value is its recipe
    for key in SCHEMA["train"]:
        if key not in RUN_KEYS:
            was = recorded.get(key, added_since.get(key))
            assert defaults[key] == was, f"[train] {key}: {defaults[key]!r}, shipped {was!r}"
