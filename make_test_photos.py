"""Write the sample photos in test/: public-domain / CC0 photos bundled with scikit-image, made
over- or under-exposed in linear light (dataset.synthesize_ev: scale by 2^EV, clip highlights),
and one left as it is (a well-exposed photo the model should leave alone).
`python make_test_photos.py` rewrites them exactly; `--figures` also draws the README's figures
with the `predict` section's model: results/figure_test_photos.jpg (each sample and its result)
and results/figure_strength.jpg (one sample at strength 0, 0.5, 1 and 1.5)."""

import os

import numpy as np
import skimage.data
import torch

from dataset import synthesize_ev
from inference import correct_image, load_backend
from photo import read_image, write_image
from config import arch_of, argument_parser, asked_arch, correction_settings, parse_with_conf

# (scikit-image photo, exposure error in stops, its licence as scikit-image documents it)
SAMPLES = [
    ("astronaut", -1.5, "NASA, public domain"),
    ("chelsea", 1.5, "CC0, Stefan van der Walt"),
    ("coffee", -1.5, "CC0, Rachel Michetti"),
    ("rocket", 1.5, "SpaceX, public domain"),
    ("coffee", 0.0, "CC0, Rachel Michetti"),
]


def main():
    parser = argument_parser(__doc__, "predict")
    parser.add_argument("--figures", action="store_true", help="also draw the README's figures")
    args, conf = parse_with_conf(parser, "predict")
    paths = write_samples()
    if args.figures:
        backend = load_backend(conf["pretrained_model"], asked_arch(conf, args.given), arch_of(conf))
        draw_figures(paths, backend, correction_settings(conf))


def write_samples():
    os.makedirs("test", exist_ok=True)
    paths = []
    for name, ev, _ in SAMPLES:
        clean = torch.from_numpy(getattr(skimage.data, name)().astype(np.float32) / 255.0).permute(2, 0, 1)
        shot = synthesize_ev(clean, ev).permute(1, 2, 0).numpy()
        path = os.path.join("test", f"{name}_{'under' if ev < 0 else 'over' if ev > 0 else 'good'}.jpg")
        write_image(path, shot)
        paths.append(path)
        print(f"wrote {path} ({name}, EV {ev:+})")
    return paths


def draw_figures(paths, backend, correction):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    photos = [read_image(p)[0] for p in paths]
    fig, axes = plt.subplots(len(paths), 2, figsize=(8, 3.2 * len(paths)), squeeze=False)
    for row, path, photo in zip(axes, paths, photos):
        for ax, image, title in zip(
            row, (photo, correct_image(photo, backend, **correction)), ("input", "result")
        ):
            ax.imshow(image), ax.set_title(f"{os.path.basename(path)}: {title}", fontsize=9), ax.axis("off")
    save_figure(fig, os.path.join("results", "figure_test_photos.jpg"))
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    for ax, strength in zip(axes, (0.0, 0.5, 1.0, 1.5)):
        ax.imshow(correct_image(photos[0], backend, **dict(correction, strength=strength)))
        ax.set_title(f"strength {strength}"), ax.axis("off")
    save_figure(fig, os.path.join("results", "figure_strength.jpg"))


def save_figure(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
