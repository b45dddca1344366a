"""Write the sample photos in test/: public-domain / CC0 photos bundled with scikit-image, made
over- or under-exposed in linear light (dataset.synthesize_ev: scale by 2^EV, clip highlights),
and one left as it is (a well-exposed photo the model should leave alone).
`python make_test_photos.py` rewrites them exactly."""

import os

import numpy as np
import skimage.data
import torch

from dataset import synthesize_ev
from utils import write_image

# (scikit-image photo, exposure error in stops, its licence as scikit-image documents it)
SAMPLES = [
    ("astronaut", -1.5, "NASA, public domain"),
    ("chelsea", 1.5, "CC0, Stefan van der Walt"),
    ("coffee", -1.5, "CC0, Rachel Michetti"),
    ("rocket", 1.5, "SpaceX, public domain"),
    ("coffee", 0.0, "CC0, Rachel Michetti"),
]


def main():
    os.makedirs("test", exist_ok=True)
    for name, ev, _ in SAMPLES:
        clean = torch.from_numpy(getattr(skimage.data, name)().astype(np.float32) / 255.0).permute(2, 0, 1)
        shot = synthesize_ev(clean, ev).permute(1, 2, 0).numpy()
        path = os.path.join("test", f"{name}_{'under' if ev < 0 else 'over' if ev > 0 else 'good'}.jpg")
        write_image(path, shot)
        print(f"wrote {path} ({name}, EV {ev:+})")


if __name__ == "__main__":
    main()
