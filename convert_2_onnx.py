"""Export a trained generator to ONNX and verify it against PyTorch.

`python convert_2_onnx.py [--conf conf.json]` reads the `convert_to_onnx` section. The graph
has one input `image` (N x 3 x H x W, float in [0, 1]) and one output `corrected` (same shape,
clamped to [0, 1]); the Laplacian pyramid is inside it. The architecture comes from the
checkpoint and is written to the ONNX metadata with the size multiple H and W must respect.
"""

import numpy as np

from model import export_onnx, load_generator
from config import ConfError, arch_of, argument_parser, asked_arch, parse_with_conf
from utils import check_size_multiple, fail

PARITY_TOLERANCE = 1e-3


def parse_args():
    parser = argument_parser(__doc__, "convert_to_onnx")
    return parse_with_conf(parser, "convert_to_onnx")


def main():
    args, conf = parse_args()
    if conf["opset"] > 19:
        fail(f"[convert_to_onnx] key 'opset' is {conf['opset']}: RKNN accepts opsets up to 19")
    try:
        generator, arch = load_generator(conf["pth_file_path"], asked_arch(conf, args.given), arch_of(conf))
        n, _, h, w = conf["dummy_input_image_size"]
        check_size_multiple(h, w, generator.multiple, "[convert_to_onnx] key 'dummy_input_image_size'")
    except (ConfError, ValueError) as e:
        fail(str(e))
    export_onnx(generator, arch, conf["onnx_output_path"], (n, 3, h, w), conf["dynamic_bhw"], conf["opset"])
    print(f"wrote {conf['onnx_output_path']}")
    worst = verify_onnx(generator, conf["onnx_output_path"], (n, 3, h, w), conf["dynamic_bhw"])
    if worst > PARITY_TOLERANCE:
        fail(
            f"ONNX Runtime differs from PyTorch by {worst:.2e} (max abs), more than {PARITY_TOLERANCE}",
            code=1,
        )


def verify_onnx(generator, path, shape, dynamic):
    """Max abs difference between ONNX Runtime and PyTorch on the export size and, when the graph
    is dynamic, on a second size (other batch, height and width)."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    n, _, h, w = shape
    m = generator.multiple
    shapes = [shape] + ([(n + 1, 3, h + m, max(w - m, m) if w > m else w + 2 * m)] if dynamic else [])
    worst = 0.0
    rng = np.random.default_rng(0)
    for s in shapes:
        x = rng.random(s, dtype=np.float32)
        with torch.no_grad():
            expected = generator(torch.from_numpy(x)).clamp(0, 1).numpy()
        got = session.run(None, {"image": x})[0]
        diff = float(np.abs(got - expected).max())
        print(f"parity at {list(s)}: max |onnxruntime - pytorch| = {diff:.2e}")
        worst = max(worst, diff)
    return worst


if __name__ == "__main__":
    main()
