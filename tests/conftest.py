import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# A small architecture keeps the tests fast; multiple = max(2^2 * 2^1, 2^1 * 2^1, 2^0 * 2^1) = 8.
TINY_ARCH = {
    "laplacian_level_count": 3,
    "layer_count_of_every_unet": [2, 2, 2],
    "first_layer_out_channels_of_every_unet": [8, 8, 4],
    "use_iaff": False,
    "iaff_r": 4,
    "use_psa": False,
    "use_global_head": False,
    "global_view": "blocks",
    "auto_strength": False,
}


@pytest.fixture
def repo_conf():
    with open(os.path.join(ROOT, "conf.json")) as f:
        return json.load(f)


def write_conf(tmp_path, conf):
    path = tmp_path / "conf.json"
    path.write_text(json.dumps(conf, indent=1))
    return str(path)


def make_photo(height, width, seed=0):
    """A smooth, photo-like uint8 RGB image: gradients, blobs and a little texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(0.5, 3, 2).tolist() + [rng.uniform(0, 6)]
        img[..., c] = 0.5 + 0.3 * np.sin(fx * 2 * np.pi * x / width + phase) * np.cos(
            fy * 2 * np.pi * y / height
        )
    img += rng.normal(0, 0.02, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def save_photos(folder, count, size=(72, 96), seed=0, ext="png"):
    import cv2

    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        path = os.path.join(folder, f"photo{i:02d}.{ext}")
        cv2.imwrite(path, make_photo(*size, seed=seed + i)[..., ::-1])
        paths.append(path)
    return paths


@pytest.fixture
def tiny_checkpoint(tmp_path):
    import torch

    from model import build_generator, export_generator_weights

    torch.manual_seed(0)
    generator = build_generator(TINY_ARCH)
    path = str(tmp_path / "tiny.pth")
    export_generator_weights(path, generator, TINY_ARCH)
    return path, generator


def run_script(script, tmp_path, conf, *args, env=None):
    """Run a top-level script on `conf` (written to tmp_path) as a user would; its CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, script, "--conf", write_conf(tmp_path, conf), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
