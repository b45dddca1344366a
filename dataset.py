"""Training data: normally exposed photos with exposure errors synthesised on the fly, and
optionally real (input, ground truth) pairs in MSEC naming. Each photo is decoded and shrunk to
`max_image_side` when an item needs it, in the DataLoader's workers, so that start-up and memory
do not grow with the number of photos; a set small enough (`cache_images`) is decoded once and
kept in memory as uint8 instead, which gives the same items."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch.utils.data import Dataset
from tqdm import tqdm

from photo import ImageReadError, photo_size, read_image
from utils import find_msec_pairs, fit_long_side, list_images, pad_bottom_right, resize, to_uint8

# cache_images "auto": keep the decoded photos in memory when they take at most this much (1,000
# photos of 1280x850 at max_image_side 512 take 0.5 GB and 11 s to decode on 2 cores, which the
# loader workers would otherwise spend every epoch; benchmark.py data).
AUTO_CACHE_BYTES = 1024**3


def load_photo(path, max_side):
    rgb, _, _ = read_image(path)
    if max_side:
        rgb = resize(rgb, *fit_long_side(*rgb.shape[:2], max_side))
    return to_uint8(rgb)


def _threads(fn, items, desc):
    with ThreadPoolExecutor(max(os.cpu_count() or 1, 1)) as pool:  # the decoders release the GIL
        return list(tqdm(pool.map(fn, items), total=len(items), desc=desc, leave=False))


def probe_photos(paths, max_side, desc):
    """Each file's size from its header only (no decoding). Unreadable files are skipped with a
    warning; returns (indices of the paths kept, bytes the kept photos take decoded at max_side)."""

    def probe(path):
        try:
            h, w = photo_size(path)
        except ImageReadError as e:
            print(f"warning: skipping unreadable image: {e}", file=sys.stderr)
            return None
        h, w = fit_long_side(h, w, max_side) if max_side else (h, w)
        return 3 * h * w

    sizes = _threads(probe, paths, desc)
    kept = [i for i, size in enumerate(sizes) if size is not None]
    if len(kept) < len(paths):
        print(
            f"warning: {desc}: {len(paths) - len(kept)} of {len(paths)} images were unreadable and skipped",
            file=sys.stderr,
        )
    return kept, sum(sizes[i] for i in kept)


def decode_all(paths, max_side, desc):
    """The photos decoded in threads (the in-memory cache), a path kept where decoding failed: the
    item that needs it then says so, as when streaming."""

    def load(path):
        try:
            return load_photo(path, max_side)
        except ImageReadError:
            return path

    return _threads(load, paths, desc)


# ---------------------------------------------------------------- synthesis


def srgb_to_linear(x):
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def synthesize_ev(image, ev):
    """A shot taken `ev` stops brighter or darker: scale linear light by 2^ev and clip the
    highlights, as the sensor would."""
    return linear_to_srgb((srgb_to_linear(image) * 2.0**ev).clamp(0, 1))


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
    """Items are (input, target, full_input, full_target, valid) with input and target float tensors
    3 x H x W in [0, 1] that the network sees, padded to its size multiple, and valid = (h, w) the
    part of them that is the photo (with lift_crop < 1, (h, w, top, left, H, W): full_* are then
    the window at (top, left) of the photo lifted to H x W).

    targets: uint8 photos. inputs: the real input photo for each target, or None where the input
    is synthesised from the target. Two ways to sample: random `image_size` crops (keys are
    indices; full_* are None), or whole photos shrunk to a working size (keys are (index, long
    side), from WorkingSizeBatches), as predict.py runs them; full_* are then the photo at its
    stored size, for the loss on the guided-upsampled output. A share `identity_fraction` of
    training items is the target as its own input: a good photo must come back unchanged.
    Randomness comes from a generator seeded by (seed, epoch, index), so an item is the same
    whichever process or worker draws it, which makes resumed runs identical to uninterrupted ones
    and validation identical across epochs (train=False ignores the epoch, crops the centre and
    neither flips nor rotates)."""

    def __init__(
        self,
        targets,
        inputs,
        image_size,
        synthesis,
        train,
        seed=0,
        multiple=1,
        identity_fraction=0.0,
        max_side=0,
        repeats=1,
        lift_crop=1.0,
        lift_scale=2.0,
        pair_ev_jitter=0.0,
    ):
        self.targets, self.inputs, self.max_side, self.repeats = targets, inputs, max_side, repeats
        self.lift_crop, self.lift_scale, self.pair_ev_jitter = lift_crop, lift_scale, pair_ev_jitter
        self.crop_h, self.crop_w = image_size
        self.synthesis, self.train, self.seed, self.epoch = synthesis, train, seed, 0
        self.multiple, self.identity_fraction = multiple, identity_fraction

    def __len__(self):
        """Each photo `repeats` times per epoch (crops_per_photo: the paper's 8 / 4 / 2 patches per
        photo at 128 / 256 / 512 px); item i is photo i % len(targets), with its own random draws."""
        return len(self.targets) * self.repeats

    def photo(self, entry):
        """A photo as uint8: kept in memory, or a path decoded now (streaming)."""
        return load_photo(entry, self.max_side) if isinstance(entry, str) else entry

    def __getitem__(self, key):
        # key: an index, (index, working size) or, from WorkingSizeBatches, (index, size, epoch): a
        # loader's persistent workers hold copies of this set that never see self.epoch change
        key = key if isinstance(key, tuple) else (key, None)
        index, working_size, epoch = key if len(key) == 3 else (*key, self.epoch)
        count = len(self.targets)
        for attempt in range(count):  # a file that fails to decode now: the next photo instead
            try:
                target = self.photo(self.targets[(index + attempt) % count])
                given = self.inputs[(index + attempt) % count]
                given = None if given is None else self.photo(given)
                break
            except ImageReadError as e:
                print(f"warning: {e}; item {index} takes the next photo instead", file=sys.stderr)
        else:
            raise ImageReadError("no training photo could be decoded")
        rng = np.random.default_rng([self.seed, epoch if self.train else 0, index])
        if given is not None and given.shape != target.shape:
            given = resize(given, *target.shape[:2])
        # (no draw at all when the fraction is 0, so crop training keeps its random stream)
        if self.train and self.identity_fraction and rng.random() < self.identity_fraction:
            given = target
        elif self.train and self.pair_ev_jitter and given is not None:
            given = self._jitter_exposure(given, rng)
        if working_size:
            return self._whole(target, given, working_size, rng)
        # A photo smaller than the crop is padded as predict.py pads it: seen whole, at its scale.
        target = pad_bottom_right(target, self.crop_h, self.crop_w)
        if given is not None:
            given = pad_bottom_right(given, self.crop_h, self.crop_w)
        top, left = crop_box(*target.shape[:2], self.crop_h, self.crop_w, rng, self.train)
        window = (slice(top, top + self.crop_h), slice(left, left + self.crop_w))
        target_t = to_tensor(target[window])
        input_t = to_tensor(given[window]) if given is not None else self._synthesize(target_t, rng)
        if self.train and rng.random() < 0.5:
            input_t, target_t = input_t.flip(-1), target_t.flip(-1)
        return input_t, target_t, None, None, (self.crop_h, self.crop_w)

    def _whole(self, target, given, working_size, rng):
        """The whole photo at `working_size` on its long side, reflect-padded to the size multiple
        (as inference.correct_batch does), and the photo at its stored size."""
        if self.train and target.shape[0] > target.shape[1]:
            # Landscape only, so that a batch shares one shape; the convolutions do not care.
            k = 1 if rng.random() < 0.5 else 3
            target = np.rot90(target, k)
            given = None if given is None else np.rot90(given, k)
        # The loss compares the guided-upsampled output at twice the working size (at most the stored
        # size): a higher resolution than the network's, as prediction lifts to full resolution.
        # lift_scale (training only; validation measures as before): another multiple of it.
        scale = self.lift_scale if self.train else 2.0
        lift_h, lift_w = fit_long_side(*target.shape[:2], round(scale * working_size))
        target = resize(target, lift_h, lift_w)
        given = None if given is None else resize(given, lift_h, lift_w)
        full_target = to_tensor(target)
        full_input = to_tensor(given) if given is not None else self._synthesize(full_target, rng)
        if self.train and rng.random() < 0.5:
            full_input, full_target = full_input.flip(-1), full_target.flip(-1)
        h, w = fit_long_side(*target.shape[:2], working_size)
        m = self.multiple
        small = [
            to_tensor(pad_bottom_right(resize(from_tensor(t), h, w), -(-h // m) * m, -(-w // m) * m))
            for t in (full_input, full_target)
        ]
        if not self.train or self.lift_crop >= 1:
            return small[0], small[1], full_input, full_target, (h, w)
        # lift_crop: the losses on what ships see a random window of the lifted photo (the lift
        # and its losses cost 4x the network's pixels at full size); valid carries where it lies.
        ch, cw = (max(1, round(s * self.lift_crop)) for s in (lift_h, lift_w))
        top, left = int(rng.integers(0, lift_h - ch + 1)), int(rng.integers(0, lift_w - cw + 1))
        window = (slice(None), slice(top, top + ch), slice(left, left + cw))
        full_input, full_target = (t[window].contiguous() for t in (full_input, full_target))
        return small[0], small[1], full_input, full_target, (h, w, top, left, lift_h, lift_w)

    def _jitter_exposure(self, given, rng):
        """pair_ev_jitter: a real input shot up to that many stops brighter or darker (synthesize_ev,
        float H x W x 3), its ground truth unchanged: the scene's level is the expert's whatever the
        exposure, between and beyond the five EVs a scene was shot at."""
        ev = float(rng.uniform(-self.pair_ev_jitter, self.pair_ev_jitter))
        return from_tensor(synthesize_ev(to_tensor(given), ev))

    def _synthesize(self, target, rng):
        s = self.synthesis
        if rng.random() < s["ev_synthesis_fraction"]:
            return synthesize_ev(target, float(rng.uniform(*s["ev_range"])))
        return synthesize_jitter(
            target,
            rng,
            s["color_jitter_brightness"],
            s["color_jitter_contrast"],
            s["color_jitter_saturation"],
            s["color_jitter_hue"],
        )


def fixed_view(dataset, count):
    """`count` items of a training set spread evenly over it (its real pairs where it has any), seen
    as validation sees items: no augmentation, no identity items, inputs synthesised once. How well
    a model fits what it trains on (underfitting shows there). None when count is 0."""
    if not count:
        return None
    paired = [i for i, given in enumerate(dataset.inputs) if given is not None]
    pool = paired or list(range(len(dataset.targets)))
    chosen = [
        pool[k] for k in np.unique(np.linspace(0, len(pool) - 1, min(count, len(pool))).round().astype(int))
    ]
    return ExposureDataset(
        [dataset.targets[i] for i in chosen],
        [dataset.inputs[i] for i in chosen],
        (dataset.crop_h, dataset.crop_w),
        dataset.synthesis,
        False,
        dataset.seed,
        dataset.multiple,
        max_side=dataset.max_side,
    )


def to_tensor(rgb):
    """H x W x 3 (uint8 or float in [0, 1]) -> float tensor 3 x H x W in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
    return t / 255.0 if rgb.dtype == np.uint8 else t


def from_tensor(t):
    return np.ascontiguousarray(t.permute(1, 2, 0).numpy())


class WorkingSizeBatches:
    """A batch sampler over `sampler`'s indices: each batch is [(index, working size, epoch)] with
    one working size drawn per batch (weights `weights`), seeded by (seed, epoch), so all processes
    draw the same size for the same step (None with no working sizes: crops). The epoch travels
    in the key, so persistent loader workers draw each epoch's own randomness."""

    def __init__(self, sampler, batch_size, sizes, weights, seed):
        self.sampler, self.batch_size, self.sizes, self.seed, self.epoch = sampler, batch_size, sizes, seed, 0
        self.p = np.asarray(weights, float) / np.sum(weights) if sizes else None
        self.skip = 0  # batches of this epoch already trained (a run resumed mid-epoch): not yielded

    def set_epoch(self, epoch):
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __len__(self):
        return len(self.sampler) // self.batch_size - self.skip

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        batch, count = [], 0
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                size = int(rng.choice(self.sizes, p=self.p)) if self.sizes else None  # drawn for skipped too
                if count >= self.skip:
                    yield [(i, size, self.epoch) for i in batch]
                batch, count = [], count + 1


def collate(items):
    """Stack items of a batch, reflect-padding the network inputs to the largest in the batch
    (photos of other aspect ratios); the full-size photos stay lists."""
    h = max(item[0].shape[1] for item in items)
    w = max(item[0].shape[2] for item in items)
    pad = lambda t: t if t.shape[1:] == (h, w) else to_tensor(pad_bottom_right(from_tensor(t), h, w))
    return (
        torch.stack([pad(item[0]) for item in items]),
        torch.stack([pad(item[1]) for item in items]),
        [item[2] for item in items],
        [item[3] for item in items],
        [item[4] for item in items],
    )


def collate_groups(items):
    """collate for training: (inputs, targets, lift_groups, valid). The full-size photos come
    stacked per group, so that a batch is a few tensors that a GPU's loader pins and copies whole,
    not two per photo (the pinning took 78 ms a batch at 128 px on an H200, issue 38)."""
    inputs, targets, full_inputs, full_targets, valid = collate(items)
    return inputs, targets, lift_groups(full_inputs, full_targets, valid), valid


def lift_groups(full_inputs, full_targets, valid):
    """[(items, full inputs, full targets)]: the batch's item indices grouped by network size within
    the padding, full size (and with lift_crop the window's size), each group's full photos
    stacked (N x 3 x H x W), None where its items carry none (crops). The items each lift and loss
    can take together."""
    groups = {}
    for i, (size, full) in enumerate(zip(valid, full_inputs)):
        key = (tuple(size[:2]) + tuple(size[4:]), None if full is None else tuple(full.shape))
        groups.setdefault(key, []).append(i)

    def stack(photos, items):
        return None if photos[items[0]] is None else torch.stack([photos[i] for i in items])

    return [(items, stack(full_inputs, items), stack(full_targets, items)) for items in groups.values()]


def build_dataset(conf, photo_dir, pair_input_dir, pair_gt_dir, train, multiple=1, log=print):
    """Photos from `photo_dir` (synthesised inputs) plus real pairs, either source optional.
    Returns None when both are empty strings. Only headers are read here (unreadable files skipped
    and counted); the photos are decoded per item, or all now where `cache_images` says so."""
    targets, inputs = [], []
    max_side, split = conf["max_image_side"], "train" if train else "valid"
    if photo_dir:
        paths, _ = list_images(photo_dir)
        if not paths:
            raise FileNotFoundError(f"no images in {photo_dir}")
        kept, _ = probe_photos(paths, max_side, f"checking {split} photos")
        targets += [paths[i] for i in kept]
        inputs += [None] * len(kept)
    if pair_input_dir or pair_gt_dir:
        if not (pair_input_dir and pair_gt_dir):
            raise ValueError(f"paired {split} data needs both an input and a ground-truth folder")
        pairs, unmatched = find_msec_pairs(pair_input_dir, pair_gt_dir)
        for path in unmatched:
            log(f"warning: no ground truth in {pair_gt_dir} for {path}")
        if not pairs:
            raise FileNotFoundError(
                f"no matching (input, ground truth) pairs in {pair_input_dir} / {pair_gt_dir}"
            )
        gt_paths = sorted({gt for _, gt, _ in pairs})
        readable = {
            gt_paths[i] for i in probe_photos(gt_paths, max_side, f"checking {split} ground truths")[0]
        }
        usable = [p for p in pairs if p[1] in readable]
        kept, _ = probe_photos([p[0] for p in usable], max_side, f"checking {split} inputs")
        targets += [usable[i][1] for i in kept]
        inputs += [usable[i][0] for i in kept]
    if not targets:
        return None
    targets, inputs = cache(targets, inputs, conf["cache_images"], max_side, split, log)
    synthesis = {
        k: conf[k]
        for k in (
            "ev_synthesis_fraction",
            "ev_range",
            "color_jitter_brightness",
            "color_jitter_contrast",
            "color_jitter_saturation",
            "color_jitter_hue",
        )
    }
    return ExposureDataset(
        targets,
        inputs,
        conf["image_size"],
        synthesis,
        train,
        conf["seed"],
        multiple,
        conf["identity_fraction"],
        max_side,
        conf["crops_per_photo"] if train else 1,
        conf["lift_crop"],
        conf["lift_scale"],
        conf["pair_ev_jitter"],
    )


def cache(targets, inputs, mode, max_side, split, log):
    """The photos decoded once into memory (each file once: a ground truth shared by five inputs
    is held once) when mode is true, or "auto" and they take at most AUTO_CACHE_BYTES; else the
    paths, decoded per item."""
    unique = sorted(set(targets) | {p for p in inputs if p is not None})
    if mode == "auto":
        _, size = probe_photos(unique, max_side, f"sizing {split} photos")
        mode = size <= AUTO_CACHE_BYTES
        log(
            f"{split}: {len(unique)} photos, {size / 1e9:.2f} GB decoded: "
            f"{'kept in memory' if mode else 'decoded per item in the loader workers'} (cache_images auto)"
        )
    if not mode:
        return targets, inputs
    decoded = dict(zip(unique, decode_all(unique, max_side, f"loading {split} photos")))
    return [decoded[p] for p in targets], [None if p is None else decoded[p] for p in inputs]
