"""Convert the exported ONNX generator to RKNN for Rockchip NPUs, and check it in the simulator.

`python convert_2_rknn.py [--conf conf.json]` reads the `convert_to_rknn` section. RKNN wants a
static input: a dynamic ONNX is fixed to `image_size` at load. The .rknn takes uint8 RGB,
N x H x W x 3 (NHWC), 0..255 (the division by 255 is folded into the model), and returns the
corrected image as float N x 3 x H x W in [0, 1]. fp16 by default; int8 with `quantize`,
calibrated on the photos in `quantize_dataset_dir`. With `do_inference` the x86 simulator runs on
`inference_image_path` and its output is compared with ONNX Runtime's (PSNR).
"""

import contextlib
import importlib.util
import os
import sys
import tempfile
import warnings

import numpy as np

from inference import load_backend
from photo import read_image, write_image
from config import argument_parser, asked_arch, parse_with_conf
from metrics import psnr
from utils import check_size_multiple, fail, list_images, resize, to_uint8, write_json

PLATFORMS = (
    "rk3562",
    "rk3566",
    "rk3568",
    "rk3576",
    "rk3588",
    "rv1103",
    "rv1103b",
    "rv1106",
    "rv1106b",
    "rv1126b",
    "rk2118",
)
INSTALL_HINT = "pip install --no-deps -r requirements-rknn.txt (rknn-toolkit2 2.5.0; see README)"


def parse_args():
    parser = argument_parser(__doc__, "convert_to_rknn")
    return parse_with_conf(parser, "convert_to_rknn")


def main():
    args, conf = parse_args()
    if conf["target_platform"] not in PLATFORMS:
        fail(
            f"[convert_to_rknn] key 'target_platform' {conf['target_platform']!r} is not one of "
            f"{', '.join(PLATFORMS)}"
        )
    try:  # predict.py's ONNX Runtime backend: the architecture metadata, and the reference output below
        reference_backend = load_backend(conf["ONNX_MODEL"], asked_arch(conf, args.given))
    except ValueError as e:  # ConfError too: a --laplacian_level_count that contradicts the model
        fail(str(e))
    arch, multiple = reference_backend.arch, reference_backend.multiple
    h, w = conf["image_size"]
    try:
        check_size_multiple(h, w, multiple, "[convert_to_rknn] key 'image_size'")
    except ValueError as e:
        fail(str(e))
    if conf["quantize"] and not conf["quantize_dataset_dir"]:
        fail(
            "[convert_to_rknn] key 'quantize_dataset_dir' must name a folder of calibration photos "
            "when 'quantize' is true"
        )
    if conf["do_inference"] and not conf["inference_image_path"]:
        fail("[convert_to_rknn] key 'inference_image_path' must name a photo when 'do_inference' is true")
    if importlib.util.find_spec("rknn") is None:
        fail(f"rknn-toolkit2 is not installed: {INSTALL_HINT}")

    image = load_rknn_input(conf["inference_image_path"], h, w) if conf["do_inference"] else None
    result = build_rknn(
        conf["ONNX_MODEL"],
        conf["RKNN_MODEL"],
        conf["target_platform"],
        (h, w),
        conf["rknn_batch_size"],
        calibration_dir=conf["quantize_dataset_dir"] if conf["quantize"] else None,
        simulate_on=image,
    )
    write_model_card(
        conf["RKNN_MODEL"], (h, w), conf["rknn_batch_size"], conf["target_platform"], conf["quantize"]
    )
    print(
        f"wrote {conf['RKNN_MODEL']} ({'int8' if conf['quantize'] else 'fp16'}, {conf['target_platform']}, "
        f"input {conf['rknn_batch_size']}x{h}x{w}x3 uint8) and its input/output description "
        f"{os.path.splitext(conf['RKNN_MODEL'])[0]}.json"
    )
    if image is not None:
        reference = reference_backend.run(image.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
        write_image(conf["inference_out_path"], result[0].transpose(1, 2, 0))
        print(
            f"simulator output written to {conf['inference_out_path']}; "
            f"PSNR against ONNX Runtime: {psnr(to_uint8(result[0]), to_uint8(reference[0])):.2f} dB (8-bit), "
            f"max abs difference {np.abs(result - reference).max():.4f}"
        )


def load_rknn_input(path, height, width):
    """A photo as the board would feed it: uint8 RGB 1 x H x W x 3, resized to the model's size."""
    try:
        rgb, _, _ = read_image(path)
    except ValueError as e:
        fail(str(e))
    return to_uint8(resize(rgb, height, width))[None]


def calibration_list(folder, height, width, list_dir):
    """rknn-toolkit2 wants a text file of image paths: write the photos, resized to the model's
    input size, as PNGs and list them."""
    paths, _ = list_images(folder)
    if not paths:
        fail(f"no calibration photos in {folder}")
    lines = []
    for i, path in enumerate(paths):
        target = os.path.join(list_dir, f"calib_{i:04d}.png")
        write_image(target, resize(read_image(path)[0], height, width))
        lines.append(target)
    list_file = os.path.join(list_dir, "dataset.txt")
    with open(list_file, "w") as f:
        f.write("\n".join(lines) + "\n")
    return list_file


@contextlib.contextmanager
def toolkit_output_to(log_path):
    """rknn-toolkit2 prints progress bars, a config dump and notes from Python and from its C++
    core: send file descriptors 1 and 2 to `log_path` while it works, so the user sees this
    script's lines only. Its known-harmless Python warnings (pkg_resources' deprecation, protobuf's
    label()) are silenced by category and message."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"label\(\) is deprecated", category=DeprecationWarning)
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def toolkit_failure(message, log_path):
    with open(log_path) as f:
        tail = [line.rstrip() for line in f.read().splitlines() if line.strip()][-5:]
    fail(f"{message}; the toolkit's last lines (full log: {log_path}):\n  " + "\n  ".join(tail), code=1)


def build_rknn(onnx_path, rknn_path, platform, size, batch_size=1, calibration_dir=None, simulate_on=None):
    """Build (and export) the .rknn; if `simulate_on` (uint8 1 x H x W x 3) is given, run it in the
    simulator (which only runs models built in the same process) and return the N x 3 x H x W output.
    The toolkit's own output goes to <rknn_path>.log."""
    h, w = size
    log_path = rknn_path + ".log"
    os.makedirs(os.path.dirname(os.path.abspath(rknn_path)), exist_ok=True)
    open(log_path, "w").close()
    with toolkit_output_to(log_path):
        from rknn.api import RKNN

        rknn = RKNN(verbose=False)
    try:
        with tempfile.TemporaryDirectory() as list_dir:
            dataset = calibration_list(calibration_dir, h, w, list_dir) if calibration_dir else None
            with toolkit_output_to(log_path):
                # mean 0 / std 255: the board feeds uint8 0..255, the graph sees [0, 1] as trained.
                rknn.config(mean_values=[[0, 0, 0]], std_values=[[255, 255, 255]], target_platform=platform)
                loaded = (
                    rknn.load_onnx(model=onnx_path, inputs=["image"], input_size_list=[[1, 3, h, w]]) == 0
                )
                built = (
                    loaded
                    and rknn.build(
                        do_quantization=dataset is not None, dataset=dataset, rknn_batch_size=batch_size
                    )
                    == 0
                )
                exported = built and rknn.export_rknn(rknn_path) == 0
        for ok, what in (
            (loaded, f"could not load {onnx_path}"),
            (built, "could not build the model"),
            (exported, f"could not write {rknn_path}"),
        ):
            if not ok:
                toolkit_failure(f"rknn-toolkit2 {what}", log_path)
        if simulate_on is None:
            return None
        with toolkit_output_to(log_path):
            started = rknn.init_runtime() == 0
            batch = np.repeat(simulate_on, batch_size, axis=0) if batch_size > 1 else simulate_on
            output = rknn.inference(inputs=[batch], data_format="nhwc") if started else None
        if output is None:
            toolkit_failure("the rknn-toolkit2 simulator did not run", log_path)
        output = np.asarray(output[0], dtype=np.float32)
        return np.clip(output[:1].reshape(1, 3, h, w), 0, 1)
    finally:
        with toolkit_output_to(log_path):
            rknn.release()


def write_model_card(rknn_path, size, batch_size, platform, quantized):
    """<model>.json beside the .rknn: what the board must feed it and what comes back."""
    h, w = size
    write_json(
        os.path.splitext(rknn_path)[0] + ".json",
        {
            "target_platform": platform,
            "precision": "int8" if quantized else "fp16",
            "input": {
                "shape": [batch_size, h, w, 3],
                "layout": "NHWC",
                "dtype": "uint8",
                "range": [0, 255],
                "channels": "RGB",
            },
            "output": {"shape": [batch_size, 3, h, w], "layout": "NCHW", "dtype": "float32", "range": [0, 1]},
            "height": h,
            "width": w,
        },
    )


if __name__ == "__main__":
    main()
