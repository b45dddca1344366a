"""ONNX export parity and RKNN builds checked in rknn-toolkit2's x86 simulator."""

import copy
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import ROOT, TINY_ARCH, make_photo, run_script, save_photos
from convert_2_onnx import verify_onnx
from model import export_onnx
from model import build_generator, export_generator_weights
from metrics import psnr
from utils import to_uint8


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    torch.manual_seed(0)
    generator = build_generator(TINY_ARCH).eval()
    path = str(tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    export_onnx(generator, TINY_ARCH, path, (1, 3, 32, 48), dynamic=True)
    return path, generator


def test_onnx_dynamic_axes_parity_at_two_sizes(tiny_onnx):
    path, generator = tiny_onnx
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"] and [
        o.name for o in session.get_outputs()
    ] == ["corrected"]
    for shape in [(1, 3, 32, 48), (2, 3, 56, 40)]:
        x = np.random.default_rng(1).random(shape, dtype=np.float32)
        with torch.no_grad():
            expected = generator(torch.from_numpy(x)).clamp(0, 1).numpy()
        got = session.run(None, {"image": x})[0]
        assert got.shape == shape
        assert np.abs(got - expected).max() < 1e-3
    assert verify_onnx(generator, path, (1, 3, 32, 48), dynamic=True) < 1e-3


def test_onnx_metadata_records_architecture(tiny_onnx):
    meta = {p.key: p.value for p in onnx.load(tiny_onnx[0]).metadata_props}
    import json

    assert json.loads(meta["arch"]) == TINY_ARCH
    assert meta["size_multiple"] == "8"
    assert onnx.load(tiny_onnx[0]).opset_import[0].version <= 19


def test_convert_2_onnx_script(repo_conf, tmp_path):
    torch.manual_seed(0)
    pth = str(tmp_path / "g.pth")
    export_generator_weights(pth, build_generator(TINY_ARCH), TINY_ARCH)
    conf = copy.deepcopy(repo_conf)
    conf["convert_to_onnx"].update(
        TINY_ARCH,
        pth_file_path=pth,
        dummy_input_image_size=[1, 3, 32, 32],
        onnx_output_path=str(tmp_path / "out.onnx"),
        dynamic_bhw=True,
    )
    result = run_script("convert_2_onnx.py", tmp_path, conf)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("parity at") == 2 and os.path.isfile(tmp_path / "out.onnx")
    # The checkpoint carries its architecture: the conf file's keys are not asked of it ...
    conf["convert_to_onnx"].update(use_psa=True, laplacian_level_count=4, layer_count_of_every_unet=[4, 3, 3, 3])
    conf["convert_to_onnx"]["first_layer_out_channels_of_every_unet"] = [24, 24, 24, 16]
    assert run_script("convert_2_onnx.py", tmp_path, conf).returncode == 0
    # ... but one set on the command line that contradicts it is one line naming the key.
    result = run_script("convert_2_onnx.py", tmp_path, conf, "--use_psa", "true")
    assert result.returncode == 2 and result.stderr.startswith("error: --use_psa true contradicts the checkpoint")
    assert result.stderr.count("\n") == 1


rknn = pytest.importorskip(
    "rknn.api", reason="rknn-toolkit2 not installed (pip install --no-deps -r requirements-rknn.txt)"
)


def _simulate(onnx_path, tmp_path, calibration_dir=None):
    from convert_2_rknn import build_rknn
    from inference import load_backend

    image = make_photo(32, 48, seed=5)[None]
    out = build_rknn(
        onnx_path,
        str(tmp_path / "m.rknn"),
        "rk3588",
        (32, 48),
        calibration_dir=calibration_dir,
        simulate_on=image,
    )
    reference = load_backend(onnx_path).run(image.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    assert out.shape == reference.shape == (1, 3, 32, 48)
    assert os.path.getsize(tmp_path / "m.rknn") > 0
    return psnr(to_uint8(out), to_uint8(reference))


def test_rknn_fp16_matches_onnxruntime(tiny_onnx, tmp_path):
    assert _simulate(tiny_onnx[0], tmp_path) >= 40


def test_rknn_int8_with_four_calibration_photos(tiny_onnx, tmp_path):
    calibration = str(tmp_path / "calib")
    save_photos(calibration, 4, size=(40, 60), seed=20, ext="jpg")
    assert _simulate(tiny_onnx[0], tmp_path, calibration) >= 30


def test_convert_2_rknn_errors(repo_conf, tiny_onnx, tmp_path):
    conf = copy.deepcopy(repo_conf)
    conf["convert_to_rknn"].update(
        ONNX_MODEL=tiny_onnx[0],
        RKNN_MODEL=str(tmp_path / "x.rknn"),
        laplacian_level_count=3,
        image_size=[30, 48],
        do_inference=False,
    )
    run = lambda: run_script("convert_2_rknn.py", tmp_path, conf)
    result = run()
    assert result.returncode == 2 and "multiples of 8" in result.stderr
    conf["convert_to_rknn"].update(image_size=[32, 48], target_platform="rk9999")
    result = run()
    assert result.returncode == 2 and "'rk9999' is not one of" in result.stderr
    conf["convert_to_rknn"].update(target_platform="rk3588", ONNX_MODEL=str(tmp_path / "missing.onnx"))
    result = run()
    assert result.returncode == 2 and "key 'ONNX_MODEL' must be an existing file" in result.stderr


def test_convert_2_rknn_script_simulates_and_reports_psnr(repo_conf, tiny_onnx, tmp_path):
    import cv2

    photo = str(tmp_path / "photo.jpg")
    cv2.imwrite(photo, make_photo(60, 90, seed=7))
    conf = copy.deepcopy(repo_conf)
    conf["convert_to_rknn"].update(
        ONNX_MODEL=tiny_onnx[0],
        RKNN_MODEL=str(tmp_path / "m.rknn"),
        laplacian_level_count=3,
        image_size=[32, 48],
        do_inference=True,
        inference_image_path=photo,
        inference_out_path=str(tmp_path / "sim.png"),
        quantize=False,
    )
    result = run_script("convert_2_rknn.py", tmp_path, conf)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("\n") == 2 and not result.stderr.strip(), (
        result.stdout,
        result.stderr,
    )  # no toolkit noise
    card = json.load(open(tmp_path / "m.json"))
    assert (card["height"], card["width"]) == (32, 48) and card["input"]["shape"] == [1, 32, 48, 3]
    reported = float(result.stdout.split("PSNR against ONNX Runtime: ")[1].split(" dB")[0])
    assert reported >= 40 and cv2.imread(str(tmp_path / "sim.png")).shape == (32, 48, 3)


def test_docs_board_snippet_takes_its_size_from_the_model_description():
    readme = open(os.path.join(ROOT, "docs", "deploy.md")).read()
    snippet = readme[readme.index("from rknnlite.api import RKNNLite") :]
    snippet = snippet[: snippet.index("```")]
    assert 'meta["height"], meta["width"]' in snippet and "cv2.resize(bgr, (w, h)" in snippet
    assert not [n for n in ("512", "256", "128") if n in snippet]


@pytest.mark.parametrize("view, auto", [("blocks", False), ("whole", True)])
def test_global_head_exports_to_onnx_and_rknn(tmp_path, view, auto):
    """use_global_head (with a non-identity transform), either view, with and without the automatic
    strength, runs the same in ONNX Runtime and in the RKNN fp16 simulator: 4-D ops only."""
    torch.manual_seed(0)
    arch = {**TINY_ARCH, "use_global_head": True, "global_view": view, "auto_strength": auto}
    generator = build_generator(arch).eval()
    with torch.no_grad():
        generator.global_head.params.weight.normal_(0, 0.05)
        generator.global_head.params.bias[9:12] = 0.05
        if auto:
            generator.global_head.strength.weight.normal_(0, 0.5)
            generator.global_head.strength.bias.fill_(0.5)
    path = str(tmp_path / "head.onnx")
    export_onnx(generator, arch, path, (1, 3, 32, 48), dynamic=True)
    x = np.random.default_rng(2).random((1, 3, 64, 48), dtype=np.float32)
    with torch.no_grad():
        expected = generator(torch.from_numpy(x)).clamp(0, 1).numpy()
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    assert np.abs(got - expected).max() < 1e-4
    assert _simulate(path, tmp_path) >= 40
