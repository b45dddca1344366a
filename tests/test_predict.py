"""predict.py on small generated photos: sizes, formats, files, backends, the high-resolution path."""

import copy
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, TINY_ARCH, make_photo, run_script, save_photos
from inference import correct_image, guided_upsample, load_backend
from photo import output_paths, result_paths
from photo import read_image
from metrics import psnr
from utils import resize, to_uint8


def predict_conf(repo_conf, model, img_pth, out_dir, **changes):
    conf = copy.deepcopy(repo_conf)
    conf["predict"].update(
        TINY_ARCH, pretrained_model=model, img_pth=str(img_pth), result_output_dir=str(out_dir)
    )
    conf["predict"].update(changes)
    return conf


def run_predict(tmp_path, conf, *args):
    return run_script("predict.py", tmp_path, conf, *args)


@pytest.fixture
def tiny_onnx(tiny_checkpoint, tmp_path):
    from model import export_onnx

    path = str(tmp_path / "tiny.onnx")
    export_onnx(tiny_checkpoint[1].eval(), TINY_ARCH, path, (1, 3, 32, 32), dynamic=True)
    return path


@pytest.mark.parametrize("use_orig_size", [True, False])
def test_output_has_input_size(repo_conf, tiny_checkpoint, use_orig_size):
    backend = load_backend(tiny_checkpoint[0])
    for h, w in [(37, 53), (5, 7), (64, 64), (300, 211)]:
        out = correct_image(
            make_photo(h, w).astype(np.float32) / 255,
            backend,
            512,
            image_size=None if use_orig_size else [64, 64],
        )
        assert out.shape == (h, w, 3) and out.dtype == np.float32
        assert 0 <= out.min() and out.max() <= 1


def test_torch_and_onnxruntime_backends_agree(repo_conf, tiny_checkpoint, tiny_onnx):
    photo = make_photo(61, 90, seed=3).astype(np.float32) / 255
    a = correct_image(photo, load_backend(tiny_checkpoint[0]), 0)
    b = correct_image(photo, load_backend(tiny_onnx), 0)
    assert np.abs(a - b).max() < 1e-3


def test_onnx_path_imports_no_torch(tiny_onnx):
    code = (
        f"import sys, numpy as np; sys.path.insert(0, {ROOT!r}); import predict, inference; "
        f"b = inference.load_backend({tiny_onnx!r}); "
        "inference.correct_image(np.zeros((20, 30, 3), np.float32), b, 16); "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "assert 'av' not in sys.modules, 'PyAV was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _high_frequency_energy(gray):
    return float(np.mean(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F) ** 2))


def test_guided_upsampling_keeps_sharpness_of_24_megapixels():
    rng = np.random.default_rng(0)
    h, w = 4000, 6000
    base = resize(make_photo(400, 600, seed=1).astype(np.float32) / 255, h, w)
    full = np.clip(
        base * 0.5 + rng.normal(0, 0.04, (h, w, 1)).astype(np.float32), 0, 1
    )  # dark, finely textured
    curve = lambda x: np.sqrt(x)  # the "network": a brightening tone curve
    low = resize(full, 341, 512)
    out = guided_upsample(low, curve(low), full)
    assert out.shape == full.shape
    gray = lambda x: x.mean(axis=2)
    expected = curve(full)
    ratio = _high_frequency_energy(gray(out)) / _high_frequency_energy(gray(expected))
    assert 0.7 < ratio < 1.3, ratio  # detail of the full-resolution photo, not of the 512 px one
    plain = resize(curve(low), h, w)
    assert (
        _high_frequency_energy(gray(plain)) / _high_frequency_energy(gray(expected)) < 0.2
    )  # what resizing loses
    assert psnr(to_uint8(out), to_uint8(expected)) > 30


def test_high_resolution_path_applies_the_network_correction(repo_conf, tiny_checkpoint):
    backend = load_backend(tiny_checkpoint[0])
    photo = resize(make_photo(150, 200, seed=4).astype(np.float32) / 255, 900, 1200)
    out = correct_image(photo, backend, 240, guided=True)
    low_in = resize(photo, 180, 240)
    low_net = correct_image(low_in, backend, 0)
    assert psnr(to_uint8(resize(out, 180, 240)), to_uint8(low_net)) > 30


def test_folder_run_keeps_subfolders_and_never_overwrites_inputs(repo_conf, tiny_checkpoint, tmp_path):
    photos = tmp_path / "photos"
    save_photos(str(photos), 2, ext="png")
    save_photos(str(photos / "sub"), 1, ext="jpg", seed=9)
    (photos / "notes.txt").write_text("not a photo")
    before = {p: open(p, "rb").read() for p in [str(photos / "photo00.png"), str(photos / "photo01.png")]}
    conf = predict_conf(repo_conf, tiny_checkpoint[0], photos, photos)  # output folder = input folder
    result = run_predict(tmp_path, conf, "--batch", "2")
    assert result.returncode == 0, result.stderr
    assert (
        "3 corrected, 0 unreadable" in result.stdout
        and "skipping" in result.stdout
        and "notes.txt" in result.stdout
    )
    for path, data in before.items():
        assert open(path, "rb").read() == data
    # each in its own format (output_format "same"), renamed where it would be its input
    assert os.path.isfile(photos / "photo00_png_corrected.png") and os.path.isfile(
        photos / "sub" / "photo00_jpg_corrected.jpg"
    )
    # Results in a subfolder of the inputs are not taken for inputs by the next run.
    photos2 = tmp_path / "photos2"
    save_photos(str(photos2), 2)
    conf = predict_conf(repo_conf, tiny_checkpoint[0], photos2, photos2 / "results")
    for _ in range(2):
        result = run_predict(tmp_path, conf)
        assert "2 corrected, 0 unreadable" in result.stdout, result.stdout


def test_output_names_are_unique():
    paths = output_paths(
        ["/in/a.jpg", "/in/a.png", "/in/x/b.tif"],
        dict.fromkeys(["/in/a.jpg", "/in/a.png", "/in/x/b.tif"], "/in"),
        "/in",
        "png",
    )
    assert paths == {
        "/in/a.jpg": "/in/a.png".replace("a.png", "a_jpg_corrected.png"),
        "/in/a.png": "/in/a_png_corrected.png",
        "/in/x/b.tif": "/in/x/b.png",
    }


def test_the_same_file_twice_gets_two_results():
    """The page may be handed one cached file for two identical uploads: two results, two names."""
    assert result_paths(["/up/1/p.jpg", "/up/1/p.jpg"], {"/up/1/p.jpg": None}, "/out", "same") == [
        "/out/p.jpg",
        "/out/p_jpg_corrected.jpg",
    ]


def test_corrupt_file_is_named_and_the_rest_processed(repo_conf, tiny_checkpoint, tmp_path):
    photos = tmp_path / "photos"
    save_photos(str(photos), 2, ext="jpg")
    data = open(photos / "photo01.jpg", "rb").read()
    open(photos / "photo01.jpg", "wb").write(data[: len(data) // 2])  # truncated
    open(photos / "broken.png", "wb").write(b"\x89PNG\r\n\x1a\n not really")
    result = run_predict(tmp_path, predict_conf(repo_conf, tiny_checkpoint[0], photos, tmp_path / "out"))
    assert result.returncode == 1
    assert "1 corrected, 2 unreadable" in result.stdout
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert (
        len(errors) == 2
        and any("photo01.jpg" in l for l in errors)
        and any("broken.png" in l for l in errors)
    )


def test_formats(repo_conf, tiny_checkpoint, tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    rgb = make_photo(40, 64, seed=2)
    Image.fromarray(rgb[..., 0]).save(photos / "gray.png")
    rgba = np.dstack([rgb, np.linspace(0, 255, 64, dtype=np.uint8)[None].repeat(40, 0)])
    Image.fromarray(rgba, "RGBA").save(photos / "alpha.png")
    cv2.imwrite(str(photos / "deep.png"), (rgb[..., ::-1].astype(np.uint16) * 257 + 3))
    cv2.imwrite(str(photos / "deep.tif"), (rgb[..., ::-1].astype(np.uint16) * 257))
    Image.fromarray(rgb).convert("CMYK").save(photos / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(rgb).save(photos / "rotated.jpg", exif=exif)
    result = run_predict(
        tmp_path, predict_conf(repo_conf, tiny_checkpoint[0], photos, out, output_format="png")
    )
    assert result.returncode == 0, result.stderr
    assert "6 corrected" in result.stdout
    assert read_image(str(out / "gray.png"))[0].shape == (40, 64, 3)
    alpha = cv2.imread(str(out / "alpha.png"), cv2.IMREAD_UNCHANGED)
    assert alpha.shape == (40, 64, 4) and np.array_equal(alpha[..., 3], rgba[..., 3])
    for name in ("deep.png", "deep_tif_corrected.png"):
        deep = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert deep.dtype == np.uint16 and deep.shape == (40, 64, 3), name
    assert read_image(str(out / "cmyk.png"))[0].shape == (40, 64, 3)
    assert read_image(str(out / "rotated.png"))[0].shape == (64, 40, 3)  # EXIF orientation applied


def test_sixteen_bit_input_keeps_its_precision(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 40).reshape(40, 64, 1).repeat(3, 2)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "ramp.png"), ramp)
    rgb, _, depth = read_image(str(tmp_path / "ramp.png"))
    assert depth == 16 and len(np.unique(rgb[..., 0])) > 1000


def test_show_result_without_display_saves_a_figure(repo_conf, tiny_checkpoint, tmp_path):
    save_photos(str(tmp_path / "p"), 1)
    env_conf = predict_conf(
        repo_conf, tiny_checkpoint[0], tmp_path / "p" / "photo00.png", tmp_path / "out", show_result=True
    )
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = run_script("predict.py", tmp_path, env_conf, env=env)
    assert result.returncode == 0, result.stderr
    assert os.path.isfile(tmp_path / "out" / "photo00_side_by_side.png")


def test_the_model_carries_its_architecture_and_a_contradicting_key_is_one_line(
    repo_conf, tiny_checkpoint, tmp_path
):
    save_photos(str(tmp_path / "p"), 1)
    conf = predict_conf(
        repo_conf,
        tiny_checkpoint[0],
        tmp_path / "p",
        tmp_path / "out",
        laplacian_level_count=4,
        layer_count_of_every_unet=[2, 2, 2, 2],
        first_layer_out_channels_of_every_unet=[8, 8, 8, 8],
    )
    assert run_predict(tmp_path, conf).returncode == 0  # the conf file's keys are not asked of it
    result = run_predict(tmp_path, conf, "--laplacian_level_count", "4")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --laplacian_level_count 4 contradicts the checkpoint")


def test_empty_folder_says_so(repo_conf, tiny_checkpoint, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_predict(
        tmp_path, predict_conf(repo_conf, tiny_checkpoint[0], tmp_path / "empty", tmp_path / "out")
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no photos or videos found in {tmp_path / 'empty'} (looked for JPEG, PNG, TIFF, WebP, HEIC, "
        "BMP, camera RAW and mp4, mov, mkv, avi, webm files)"
    ]


def test_a_file_that_is_not_a_model_is_one_line(repo_conf, tmp_path):
    save_photos(str(tmp_path / "p"), 1)
    (tmp_path / "bad.pth").write_bytes(b"\x00\x01 not a checkpoint" * 40)
    result = run_predict(
        tmp_path, predict_conf(repo_conf, str(tmp_path / "bad.pth"), tmp_path / "p", tmp_path / "out")
    )
    assert (
        result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "bad.pth" in result.stderr
    )


def test_strength_zero_is_the_input_one_is_the_model_and_half_lies_between(tiny_checkpoint):
    backend = load_backend(tiny_checkpoint[0])
    photo = np.clip(
        make_photo(90, 120, seed=6).astype(np.float32) / 255 * 0.4, 0, 1
    )  # dark: the model moves it
    for max_side in (48, 0):  # guided upsampling, and the network at full size
        full = correct_image(photo, backend, max_side)
        assert np.array_equal(full, correct_image(photo, backend, max_side, strength=1.0))
        none = correct_image(photo, backend, max_side, strength=0.0)
        assert np.abs(to_uint8(none).astype(int) - to_uint8(photo)).max() <= 1
        half = correct_image(photo, backend, max_side, strength=0.5)
        low, high = np.minimum(photo, full) - 2 / 255, np.maximum(photo, full) + 2 / 255
        assert ((half >= low) & (half <= high)).mean() > 0.99, max_side
        assert abs(float(half.mean()) - float((photo.mean() + full.mean()) / 2)) < 0.02


def test_self_ensemble_is_the_mean_over_flips():
    from inference import Backend, run_network

    calls = []
    backend = Backend(
        lambda b: calls.append(b.copy()) or b * 0 + b[:, :, :1, :1], 1, {}
    )  # depends on the corner
    batch = np.random.default_rng(0).random((1, 3, 4, 6)).astype(np.float32)
    out = run_network(batch, backend, ensemble=True)
    corners = [batch[0, :, 0, 0], batch[0, :, 0, -1], batch[0, :, -1, 0], batch[0, :, -1, -1]]
    assert len(calls) == 4 and np.allclose(out[0, :, 1, 1], np.mean(corners, axis=0))


# ---------------------------------------------------------------- files as cameras write them (issue 29)


def huge_png(path, width=30000, height=30000):
    """A real 8x8 PNG whose header declares width x height (a decompression bomb's header)."""
    import struct
    import zlib

    cv2.imwrite(str(path), make_photo(8, 8))
    data = bytearray(open(path, "rb").read())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    open(path, "wb").write(bytes(data))


def canon_style_tiff(path):
    """An 8-bit TIFF with camera EXIF as a Canon writes it: rationals, GPS, an Adobe RGB-like ICC."""
    from PIL import ImageCms, TiffImagePlugin

    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[271], tags[272] = "Canon", "Canon EOS 6D"
    tags[0x8769] = {0x829A: TiffImagePlugin.IFDRational(1, 60), 0x829D: TiffImagePlugin.IFDRational(56, 10)}
    tags[0x8825] = {
        1: "N",
        2: tuple(TiffImagePlugin.IFDRational(*r) for r in ((52, 1), (31, 1), (1234, 100))),
        3: "E",
    }
    tags[34675] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(make_photo(67, 100, seed=4)).save(path, "TIFF", tiffinfo=tags)
    with Image.open(path) as im:  # as a camera wrote it
        assert float(im.getexif().get_ifd(0x8769)[0x829A]) == 1 / 60


def test_every_file_is_corrected_or_named_and_the_folder_goes_on(repo_conf, tiny_checkpoint, tmp_path):
    """A huge declared size, a truncated HEIC and a Canon-style TIFF beside a good JPEG: the good
    ones are written (the TIFF with its rationals), the bad ones named in one line each, exit 1."""
    photos = tmp_path / "photos"
    save_photos(str(photos), 1, ext="jpg")
    huge_png(photos / "bomb.png")
    canon_style_tiff(photos / "canon.tif")
    Image.fromarray(make_photo(64, 64)).save(photos / "phone.heic", "HEIF")
    data = open(photos / "phone.heic", "rb").read()
    open(photos / "phone.heic", "wb").write(data[:300])  # the header and metadata, no image
    out = tmp_path / "out"
    result = run_predict(tmp_path, predict_conf(repo_conf, tiny_checkpoint[0], photos, out))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "2 corrected, 2 unreadable" in result.stdout
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert any("bomb.png" in l and "30000 x 30000" in l and "max_megapixels" in l for l in errors)
    assert any("phone.heic" in l for l in errors)
    with Image.open(out / "canon.tif") as im:
        exif = im.getexif()
        assert im.size == (100, 67) and exif[271] == "Canon"
        assert float(exif.get_ifd(0x8769)[0x829A]) == 1 / 60 and float(exif.get_ifd(0x8769)[0x829D]) == 5.6
        assert exif.get_ifd(0x8825)[1] == "N" and im.info.get("icc_profile")


def test_a_raw_file_without_image_data_is_refused():
    from photo import ImageReadError, check_raw_data

    check_raw_data(__file__, 1000)  # a file of some KB for 1000 pixels: plausible
    with pytest.raises(ImageReadError, match="holds no image data"):
        check_raw_data(__file__, 8_000_000 * 16)


def test_heic_keeps_the_case_of_its_extension():
    from photo import output_extension

    assert (
        output_extension("IMG_0001.HEIC", "same") == ".HEIC" and output_extension("a.CR2", "same") == ".tif"
    )


def test_a_result_written_from_its_renderer_strip_by_strip_is_the_same_file_as_from_the_whole(tmp_path):
    """predict.py writes a guided result from its renderer (inference.lazy_results), strips of
    photo.WRITE_ROWS rows, never the whole result in float: the same samples as the whole array
    gives, in sRGB and through a wide-gamut profile, with a premultiplied alpha too."""
    import colour
    import photo
    from inference import correction_renderer, fit_maps, render_correction
    from test_photo import ADOBE_RGB, GAMMA_22, make_icc

    rng = np.random.default_rng(0)
    rgb = np.clip(make_photo(700, 90).astype(np.float32) / 255 + rng.normal(0, 0.02, (700, 90, 3)), 0, 1)
    rgb = rgb.astype(np.float32)
    low = rgb[::7, ::7]
    correction = {"maps": fit_maps(low, np.clip(low * 1.3 - 0.05, 0, 1))}
    alpha = rng.random((700, 90)).astype(np.float32)
    profile = colour.parse_matrix_profile(make_icc("wide", ADOBE_RGB, GAMMA_22))
    for ext, info, a in (
        (".jpg", {}, None),
        (".png", {"bit_depth": 16, "profile": profile}, None),
        (".tif", {"alpha_associated": True, "profile": profile}, alpha),
    ):
        whole = render_correction(rgb, correction, 0.8, clip=False)
        lazy = correction_renderer(rgb, correction, 0.8, clip=False)
        photo.write_photo(str(tmp_path / f"whole{ext}"), whole, a, dict(info))
        photo.write_photo(str(tmp_path / f"lazy{ext}"), lazy, a, dict(info))
        x, y = (photo.read_image(str(tmp_path / f"{n}{ext}"))[0] for n in ("whole", "lazy"))
        assert np.array_equal(x, y), ext
