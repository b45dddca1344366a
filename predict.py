"""Correct the exposure of a photo or a folder of photos with a trained model.

`python predict.py [--conf conf.json] [--batch N]` reads the `predict` section. A .pth model
runs in PyTorch (CUDA when present); a .onnx model runs in ONNX Runtime and imports no torch.
Large photos run at `max_side` on the long side and the correction is lifted back to full
resolution by guided upsampling (a local affine colour transform), as in the paper's protocol.
"""
import json
import os
import sys
import time

import cv2
import numpy as np

from utils import (ConfError, ImageReadError, argument_parser, check_arch, fail, fit_long_side, list_images,
                   load_section, pad_bottom_right, read_image, resize, write_image)


def parse_args():
    parser = argument_parser(__doc__, "predict")
    parser.add_argument("--batch", type=int, default=1, help="photos per network call when their sizes match")
    return parser.parse_args()


def main():
    args = parse_args()
    conf = load_section(args.conf, "predict")
    if args.batch < 1:
        fail("--batch must be at least 1")
    try:
        backend = load_backend(conf["pretrained_model"], conf)
    except (ConfError, ValueError) as e:
        fail(str(e))
    started = time.time()
    inputs, not_images = list_images(conf["img_pth"])
    out_dir = os.path.abspath(conf["result_output_dir"])
    root = conf["img_pth"] if os.path.isdir(conf["img_pth"]) else os.path.dirname(conf["img_pth"])
    if out_dir != os.path.abspath(root):
        # Results in a subfolder of the input folder are not read back as inputs on the next run.
        inputs = [p for p in inputs if not os.path.abspath(p).startswith(out_dir + os.sep)]
        not_images = [p for p in not_images if not os.path.abspath(p).startswith(out_dir + os.sep)]
    for path in not_images:
        print(f"note: skipping {path}: not an image file")
    outputs = output_paths(inputs, root, out_dir, conf["output_format"])

    from tqdm import tqdm
    corrected, failed = 0, []
    bar = tqdm(total=len(inputs), desc="correcting", unit="photo", disable=len(inputs) < 2)
    for batch in read_batches(inputs, args.batch, backend, conf, failed):
        results = correct_batch([photo["rgb"] for photo in batch], backend, conf)
        for photo, result in zip(batch, results):
            out_path = outputs[photo["path"]]
            write_image(out_path, result, photo["alpha"], photo["bit_depth"])
            if conf["show_result"]:
                show_side_by_side(photo["rgb"], result, out_path)
            corrected += 1
        bar.update(len(batch))
    bar.close()
    for message in failed:
        print(f"error: {message}", file=sys.stderr)
    print(f"{corrected} corrected, {len(failed) + len(not_images)} skipped ({len(failed)} unreadable), "
          f"{time.time() - started:.1f} s; results in {conf['result_output_dir']}")
    sys.exit(1 if failed or not (corrected or not_images) else 0)


# ---------------------------------------------------------------- backends

class Backend:
    """run(batch N x 3 x H x W float32 in [0, 1]) -> corrected batch, clipped to [0, 1];
    multiple: H and W must be multiples of it; fixed_size: (H, W) of a static-shape model, or None."""

    def __init__(self, run, multiple, arch, fixed_size=None):
        self.run, self.multiple, self.arch, self.fixed_size = run, multiple, arch, fixed_size


def load_backend(model_path, conf=None):
    if not os.path.isfile(model_path):
        raise ValueError(f"model file not found: {model_path}")
    if model_path.lower().endswith(".onnx"):
        return load_onnx_backend(model_path, conf)
    return load_torch_backend(model_path, conf)


def load_onnx_backend(path, conf=None):
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=ort.get_available_providers())
    meta = session.get_modelmeta().custom_metadata_map
    if "arch" not in meta:
        raise ValueError(f"{path} has no 'arch' metadata: export it with convert_2_onnx.py")
    arch = json.loads(meta["arch"])
    if conf is not None:
        check_arch(conf, arch, path)
    input_name = session.get_inputs()[0].name
    shape = session.get_inputs()[0].shape
    fixed = tuple(shape[2:]) if all(isinstance(s, int) for s in shape[2:]) else None
    fixed_batch = shape[0] if isinstance(shape[0], int) else None

    def run(batch):
        if fixed_batch and len(batch) != fixed_batch:  # a static batch: run one slice at a time
            return np.concatenate([run(batch[i:i + 1]) for i in range(len(batch))])
        # No clip here: the exported graph ends in a clamp to [0, 1] (convert_2_onnx.export_onnx).
        return session.run(None, {input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
    return Backend(run, int(meta["size_multiple"]), arch, fixed)


def load_torch_backend(path, conf=None):
    import torch

    from model import load_generator
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator, arch = load_generator(path, conf, device)

    def run(batch):
        with torch.no_grad():
            return generator(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(device)).clamp(0, 1).cpu().numpy()
    return Backend(run, generator.multiple, arch)


# ---------------------------------------------------------------- correction

def network_size(height, width, backend, conf):
    """The size the network runs at, before padding to the multiple."""
    if backend.fixed_size:
        return backend.fixed_size
    if not conf["use_orig_size"]:
        return tuple(conf["image_size"])
    return fit_long_side(height, width, conf["max_side"]) if conf["max_side"] else (height, width)


def correct_batch(photos, backend, conf):
    """Correct a list of float RGB photos (H x W x 3 in [0, 1]) that share a network size;
    each result has its photo's exact size."""
    sizes = [network_size(*p.shape[:2], backend, conf) for p in photos]
    assert len(set(sizes)) == 1, "correct_batch needs photos with the same network size"
    net_h, net_w = sizes[0]
    small = [p if p.shape[:2] == (net_h, net_w) else resize(p, net_h, net_w) for p in photos]
    m = backend.multiple
    padded = np.stack([pad_bottom_right(s, -(-net_h // m) * m, -(-net_w // m) * m) for s in small]).transpose(0, 3, 1, 2)
    if backend.fixed_size and padded.shape[2:] != tuple(backend.fixed_size):
        raise ValueError(f"the model takes {backend.fixed_size} only; export it with dynamic_bhw for other sizes")
    outputs = backend.run(padded).transpose(0, 2, 3, 1)[:, :net_h, :net_w]
    results = []
    for photo, low_in, low_out in zip(photos, small, outputs):
        if photo.shape[:2] == (net_h, net_w):
            results.append(np.ascontiguousarray(low_out))
        elif conf["guided_upsampling"]:
            results.append(guided_upsample(low_in, low_out, photo))
        else:
            results.append(np.clip(resize(low_out, *photo.shape[:2]), 0, 1))
    return results


def correct_image(rgb, backend, conf):
    return correct_batch([rgb], backend, conf)[0]


def guided_upsample(low_in, low_out, full_in, radius=None, eps=1e-3):
    """Lift a low-resolution correction to full resolution: fit, in each (2r+1)^2 window of the
    low-resolution pair, the affine colour map out = A @ in + b (least squares, ridge `eps`),
    average the coefficients over windows, upsample them bilinearly and apply them to the
    full-resolution input. Detail comes from the full-resolution input, the colour and tone
    change from the network (the paper's bilateral guided upsampling, in guided-filter form).
    The ridge pulls A towards the identity, not towards 0: where a window is too flat to tell
    how the network scales detail, the input's detail is kept as it is rather than erased."""
    h, w = low_in.shape[:2]
    radius = radius or max(2, round(max(h, w) / 128))
    box = lambda x: cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    low_in, low_out = low_in.astype(np.float32), low_out.astype(np.float32)
    mean_in, mean_out = box(low_in), box(low_out)
    cov_in = np.empty((h, w, 3, 3), np.float32)
    cov_io = np.empty((h, w, 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            if j >= i:
                cov_in[..., i, j] = cov_in[..., j, i] = box(low_in[..., i] * low_in[..., j]) - mean_in[..., i] * mean_in[..., j]
            cov_io[..., i, j] = box(low_in[..., i] * low_out[..., j]) - mean_in[..., i] * mean_out[..., j]
    cov_in += eps * np.eye(3, dtype=np.float32)
    cov_io += eps * np.eye(3, dtype=np.float32)
    coef_a = np.linalg.solve(cov_in, cov_io)  # [..., i, c]: weight of input channel i in output c
    coef_b = mean_out - np.einsum("hwi,hwic->hwc", mean_in, coef_a)
    coef_a, coef_b = box(coef_a.reshape(h, w, 9)).reshape(h, w, 3, 3), box(coef_b)

    return apply_affine_maps(coef_a, coef_b, full_in)


def apply_affine_maps(coef_a, coef_b, full_in, strip_rows=64):
    """out = A @ in + b at full resolution, with A and b bilinearly upsampled (as cv2.resize
    would) strip by strip: each strip's coefficients come from a warpAffine of the small maps,
    so a 24-megapixel photo never needs full-size coefficient maps and stays in cache."""
    h, w = coef_b.shape[:2]
    full_h, full_w = full_in.shape[:2]
    sx, sy = w / full_w, h / full_h
    maps = [np.ascontiguousarray(coef_a[:, :, i, :]) for i in range(3)] + [np.ascontiguousarray(coef_b)]
    out = np.empty((full_h, full_w, 3), np.float32)
    for top in range(0, full_h, strip_rows):
        rows = min(strip_rows, full_h - top)
        # dst (x, y) -> src ((x + 0.5) * sx - 0.5, (top + y + 0.5) * sy - 0.5): cv2.resize's bilinear grid.
        matrix = np.float32([[sx, 0, 0.5 * sx - 0.5], [0, sy, (top + 0.5) * sy - 0.5]])
        warp = lambda m: cv2.warpAffine(m, matrix, (full_w, rows), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                        borderMode=cv2.BORDER_REPLICATE)
        strip = full_in[top:top + rows]
        acc = warp(maps[3])
        for i in range(3):
            gain = warp(maps[i])
            gain *= strip[:, :, i:i + 1]
            acc += gain
        np.clip(acc, 0, 1, out=out[top:top + rows])
    return out


# ---------------------------------------------------------------- files

def output_paths(inputs, root, out_dir, fmt):
    """Each input's result path: its relative subfolder under out_dir, named after it. Never an
    input's own path, and never the same path for two inputs."""
    taken, input_set, paths = set(), {os.path.abspath(p) for p in inputs}, {}
    for path in inputs:
        rel = os.path.relpath(path, root) if root else os.path.basename(path)
        stem, ext = os.path.splitext(rel)
        candidate = os.path.join(out_dir, f"{stem}.{fmt}")
        if candidate in input_set or candidate in taken:
            candidate = os.path.join(out_dir, f"{stem}_{ext.lstrip('.').lower()}_corrected.{fmt}")
        taken.add(candidate)
        paths[path] = candidate
    return paths


def read_batches(paths, batch_size, backend, conf, failed):
    """Yield lists of decoded photos (dicts) that share a network size, at most batch_size each;
    unreadable files are appended to `failed` and left out."""
    batch = []
    for path in paths:
        try:
            rgb, alpha, bit_depth = read_image(path)
        except ImageReadError as e:
            failed.append(str(e))
            continue
        photo = {"path": path, "rgb": rgb, "alpha": alpha, "bit_depth": bit_depth}
        if batch and (len(batch) == batch_size or network_size(*rgb.shape[:2], backend, conf)
                      != network_size(*batch[0]["rgb"].shape[:2], backend, conf)):
            yield batch
            batch = []
        batch.append(photo)
    if batch:
        yield batch


def show_side_by_side(before, after, out_path):
    """A figure of input and output; saved beside the output when there is no display."""
    import matplotlib
    headless = sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
    if headless:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, image, title in zip(axes, (before, after), ("input", "corrected")):
        ax.imshow(np.clip(image, 0, 1)), ax.set_title(title), ax.axis("off")
    fig.tight_layout()
    if headless:
        fig.savefig(os.path.splitext(out_path)[0] + "_side_by_side.png", dpi=80)
    else:
        plt.show()
    plt.close(fig)


if __name__ == "__main__":
    main()
