"""The photographer's stated intent: a photo shot with exposure compensation (EXIF
ExposureBiasValue) is corrected against that choice less, on the CLI and on the page alike."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, make_photo, write_conf
import app
import metadata
from inference import intended_strength, load_backend

SHIPPED = f"{ROOT}/data/exposure_correct_default.pth"


def tag(path, bias):
    """Write ExposureBiasValue onto a file with exiv2, as a camera would (a signed rational)."""
    with metadata._exiv2().Image(str(path)) as image:
        image.modify_exif({"Exif.Photo.ExposureBiasValue": bias})


def dark_pair(folder):
    """The same dark photo twice: one as shot at -1 EV on purpose, one without the tag."""
    folder.mkdir()
    pixels = make_photo(96, 128, seed=3) // 4  # a dark photo: the model brightens it
    for name in ("plain.jpg", "darker.jpg"):
        Image.fromarray(pixels).save(folder / name, "JPEG", quality=95, exif=Image.Exif())
    tag(folder / "darker.jpg", "-1/1")
    return pixels.astype(float)


def test_the_tag_is_read_with_exiv2(tmp_path):
    dark_pair(tmp_path / "in")
    assert metadata.exposure_bias(str(tmp_path / "in/darker.jpg")) == -1.0
    assert metadata.exposure_bias(str(tmp_path / "in/plain.jpg")) is None
    shutil.copy(tmp_path / "in/plain.jpg", tmp_path / "third.jpg")
    tag(tmp_path / "third.jpg", "-2/3")
    assert metadata.exposure_bias(str(tmp_path / "third.jpg")) == pytest.approx(-2 / 3)
    Image.fromarray(make_photo(8, 8)).save(tmp_path / "a.png")
    (tmp_path / "junk.jpg").write_bytes(b"not a photo")
    assert metadata.exposure_bias(str(tmp_path / "a.png")) is None
    assert metadata.exposure_bias(str(tmp_path / "junk.jpg")) is None


def test_only_a_correction_against_the_tag_is_tempered():
    dark, bright = np.full((4, 4, 3), 0.2), np.full((4, 4, 3), 0.6)
    assert intended_strength(1.0, -1.0, dark, bright) == 0.5  # brightened, shot darker: half
    assert intended_strength(0.8, -1.0, dark, bright) == pytest.approx(0.4)
    assert intended_strength(1.0, -1 / 3, dark, bright) == pytest.approx(5 / 6)
    assert intended_strength(1.0, -2.5, dark, bright) == 0.0  # from 2 EV: not at all
    assert intended_strength(1.0, -1.0, bright, dark) == 1.0  # darkened, shot darker: as asked
    assert intended_strength(1.0, +1.0, bright, dark) == 0.5  # darkened, shot brighter: half
    assert intended_strength(1.0, None, dark, bright) == intended_strength(1.0, 0.0, dark, bright) == 1.0


def test_predict_moves_a_photo_shot_darker_on_purpose_half_as_far(tmp_path):
    before = dark_pair(tmp_path / "in")
    conf = json.load(open(f"{ROOT}/conf.json"))
    conf["predict"].update(img_pth=str(tmp_path / "in"), result_output_dir=str(tmp_path / "out"))

    def run(*args):
        result = subprocess.run(
            [sys.executable, "predict.py", "--conf", write_conf(tmp_path, conf), *args],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr
        moved = {n: np.asarray(Image.open(tmp_path / "out" / n), float).mean() - before.mean() for n in
                 ("plain.jpg", "darker.jpg")}
        return moved, result.stderr

    moved, said = run()
    assert moved["plain.jpg"] > 20  # the model brightens the photo without the tag
    assert 0.4 * moved["plain.jpg"] < moved["darker.jpg"] <= 0.55 * moved["plain.jpg"]
    assert "darker.jpg: shot 1 EV darker on purpose (exposure compensation): brightened 50% as far" in said
    assert "plain.jpg:" not in said
    assert metadata.exposure_bias(str(tmp_path / "out/darker.jpg")) == -1.0  # the result keeps the tag
    shutil.rmtree(tmp_path / "out")
    moved, said = run("--respect_exposure_compensation", "false")
    assert moved["darker.jpg"] == pytest.approx(moved["plain.jpg"], abs=0.2) and "on purpose" not in said


def test_the_page_tempers_it_as_predict_does_and_says_so(tmp_path):
    before = dark_pair(tmp_path / "in")
    backend = load_backend(SHIPPED)
    photos, _ = app.load_photos([str(tmp_path / "in/plain.jpg"), str(tmp_path / "in/darker.jpg")], 100)
    app.prepare(photos, backend, 128, False)
    files, _, _ = app.render(photos, 1.0, str(tmp_path / "out"), "same")
    plain, darker = (np.asarray(Image.open(f), float).mean() - before.mean() for f in files)
    assert 0.4 * plain < darker <= 0.55 * plain and plain > 20
    status = app.status_line("shipped model", photos, [], {"total": 1.0}, (1.0, 128, False))
    said = "ℹ darker.jpg: shot 1 EV darker on purpose (exposure compensation): brightened 50% as far"
    assert said in status
    assert "plain.jpg:" not in status
    photos, _ = app.load_photos([str(tmp_path / "in/plain.jpg"), str(tmp_path / "in/darker.jpg")], 100)
    app.prepare(photos, backend, 128, False, intent=False)  # respect_exposure_compensation false
    files, _, _ = app.render(photos, 1.0, str(tmp_path / "off"), "same")
    plain, darker = (np.asarray(Image.open(f), float).mean() - before.mean() for f in files)
    assert darker == pytest.approx(plain, abs=0.2)
