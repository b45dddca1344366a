"""Training data: normally exposed photos with exposure errors synthesised on the fly, and
optionally real (input, ground truth) pairs in MSEC naming. Photos are decoded once, shrunk
to `max_image_side` and kept in memory as uint8."""
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch.utils.data import Dataset
from tqdm import tqdm

from utils import (ImageReadError, find_msec_pairs, fit_long_side, list_images, pad_bottom_right, read_image, resize,
                   to_uint8)


def load_photo(path, max_side):
    rgb, _, _ = read_image(path)
    if max_side:
        rgb = resize(rgb, *fit_long_side(*rgb.shape[:2], max_side))
    return to_uint8(rgb)


def load_photos(paths, max_side, desc):
    """Decode in threads (the decoders release the GIL). Unreadable files are skipped with a
    warning; returns (photos, indices of the paths kept)."""
    def load(path):
        try:
            return load_photo(path, max_side)
        except ImageReadError as e:
            warnings.warn(f"skipping unreadable image: {e}")
            return None
    with ThreadPoolExecutor(max(os.cpu_count() or 1, 1)) as pool:
        photos = list(tqdm(pool.map(load, paths), total=len(paths), desc=desc, leave=False))
    kept = [i for i, p in enumerate(photos) if p is not None]
    if len(kept) < len(paths):
        warnings.warn(f"{desc}: {len(paths) - len(kept)} of {len(paths)} images were unreadable and skipped")
    return [photos[i] for i in kept], kept


# ---------------------------------------------------------------- synthesis

def srgb_to_linear(x):
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def synthesize_ev(image, ev):
    """A shot taken `ev` stops brighter or darker: scale linear light by 2^ev and clip the
    highlights, as the sensor would."""
    return linear_to_srgb((srgb_to_linear(image) * 2.0 ** ev).clamp(0, 1))


def synthesize_jitter(image, rng, brightness, contrast, saturation, hue):
    """torchvision's colour-jitter operations with factors drawn from `rng` (factor ranges as in
    transforms.ColorJitter: [1-b, 1+b], hue shift in [-h, h])."""
    factor = lambda s: float(rng.uniform(max(0.0, 1 - s), 1 + s))
    image = TF.adjust_brightness(image, factor(brightness))
    image = TF.adjust_contrast(image, factor(contrast))
    image = TF.adjust_saturation(image, factor(saturation))
    if hue > 0:
        image = TF.adjust_hue(image, float(rng.uniform(-hue, hue)))
    return image.clamp(0, 1)


def crop_box(height, width, crop_h, crop_w, rng, train):
    top = int(rng.integers(0, height - crop_h + 1)) if train else (height - crop_h) // 2
    left = int(rng.integers(0, width - crop_w + 1)) if train else (width - crop_w) // 2
    return top, left


class ExposureDataset(Dataset):
    """Items are (input, target) float tensors 3 x H x W in [0, 1].

    targets: uint8 photos. inputs: the real input photo for each target, or None where the input
    is synthesised from the target. Randomness comes from a generator seeded by (seed, epoch,
    index), so an item is the same whichever process or worker draws it, which makes resumed
    runs identical to uninterrupted ones and validation identical across epochs (train=False
    ignores the epoch and crops the centre)."""

    def __init__(self, targets, inputs, image_size, synthesis, train, seed=0):
        self.targets, self.inputs = targets, inputs
        self.crop_h, self.crop_w = image_size
        self.synthesis, self.train, self.seed, self.epoch = synthesis, train, seed, 0

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch if self.train else 0, index])
        target, given = self.targets[index], self.inputs[index]
        if given is not None and given.shape != target.shape:
            given = resize(given, *target.shape[:2])
        # A photo smaller than the crop is padded as predict.py pads it: seen whole, at its scale.
        target = pad_bottom_right(target, self.crop_h, self.crop_w)
        if given is not None:
            given = pad_bottom_right(given, self.crop_h, self.crop_w)
        top, left = crop_box(*target.shape[:2], self.crop_h, self.crop_w, rng, self.train)
        window = (slice(top, top + self.crop_h), slice(left, left + self.crop_w))
        to_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a[window])).permute(2, 0, 1).float() / 255.0
        target_t = to_tensor(target)
        if given is not None:
            input_t = to_tensor(given)
        else:
            input_t = self._synthesize(target_t, rng)
        if self.train and rng.random() < 0.5:
            input_t, target_t = input_t.flip(-1), target_t.flip(-1)
        return input_t, target_t

    def _synthesize(self, target, rng):
        s = self.synthesis
        if rng.random() < s["ev_synthesis_fraction"]:
            return synthesize_ev(target, float(rng.uniform(*s["ev_range"])))
        return synthesize_jitter(target, rng, s["color_jitter_brightness"], s["color_jitter_contrast"],
                                 s["color_jitter_saturation"], s["color_jitter_hue"])


def build_dataset(conf, photo_dir, pair_input_dir, pair_gt_dir, train, log=print):
    """Photos from `photo_dir` (synthesised inputs) plus real pairs, either source optional.
    Returns None when both are empty strings."""
    targets, inputs = [], []
    max_side, split = conf["max_image_side"], "train" if train else "valid"
    if photo_dir:
        paths, _ = list_images(photo_dir)
        if not paths:
            raise FileNotFoundError(f"no images in {photo_dir}")
        photos, _ = load_photos(paths, max_side, f"loading {split} photos")
        targets += photos
        inputs += [None] * len(photos)
    if pair_input_dir or pair_gt_dir:
        if not (pair_input_dir and pair_gt_dir):
            raise ValueError(f"paired {split} data needs both an input and a ground-truth folder")
        pairs, unmatched = find_msec_pairs(pair_input_dir, pair_gt_dir)
        for path in unmatched:
            log(f"warning: no ground truth in {pair_gt_dir} for {path}")
        if not pairs:
            raise FileNotFoundError(f"no matching (input, ground truth) pairs in {pair_input_dir} / {pair_gt_dir}")
        gt_paths = sorted({gt for _, gt, _ in pairs})
        gt_photos, kept = load_photos(gt_paths, max_side, f"loading {split} ground truths")
        gt_by_path = {gt_paths[i]: photo for i, photo in zip(kept, gt_photos)}
        usable = [p for p in pairs if p[1] in gt_by_path]
        in_photos, kept = load_photos([p[0] for p in usable], max_side, f"loading {split} inputs")
        targets += [gt_by_path[usable[i][1]] for i in kept]
        inputs += in_photos
    if not targets:
        return None
    synthesis = {k: conf[k] for k in ("ev_synthesis_fraction", "ev_range", "color_jitter_brightness",
                                      "color_jitter_contrast", "color_jitter_saturation", "color_jitter_hue")}
    return ExposureDataset(targets, inputs, conf["image_size"], synthesis, train, conf["seed"])
