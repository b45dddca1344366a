"""Issue 50, screen 2: a small exposure-invariant regression that judges each scene's brightness.

From a 64 px thumbnail of the input in linear light divided by its own mean luminance (so that
the features do not change with the exposure, clipping apart): a 16-bin log-luminance histogram,
log-luminance percentiles and chromaticity means and spreads. A ridge regression from those to the
expert's mean level (the brightness measure of evaluate.py, levels of 255), fitted on the 960
training inputs; its strength (lambda) chosen by 8-fold cross-validation over training scenes.

Then each output of a model is shifted by a uniform brightness step towards the judged level:
out + alpha * (judged - mean(out)), clipped, written as PNG for `evaluate.py --predictions_dir`.

    python experiments/issue50/judge.py fit                      # -> results/issue50/judge.json
    python experiments/issue50/judge.py shift OUTPUTS INPUTS DEST --alpha 0.5
"""

import argparse
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from utils import find_msec_pairs, list_images  # noqa: E402

JUDGE = "results/issue50/judge.json"
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def read_rgb(path, side=None):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        sys.exit(f"error: cannot read {path}")
    rgb = bgr[..., ::-1]
    if side:
        h, w = rgb.shape[:2]
        s = side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def features(rgb_uint8):
    """Exposure-invariant statistics of a photo (any size; thumbnailed to 64 px first)."""
    lin = (rgb_uint8.astype(np.float32) / 255.0) ** 2.2 + 1e-4
    y = lin @ LUMA
    logn = np.log2(y / y.mean()).ravel()
    hist = np.histogram(np.clip(logn, -8, 3), bins=16, range=(-8, 3))[0] / logn.size
    pct = np.percentile(logn, (2, 10, 25, 50, 75, 90, 98))
    chroma = lin.reshape(-1, 3) / lin.reshape(-1, 3).sum(1, keepdims=True)
    return np.concatenate([hist, pct, chroma.mean(0), chroma.std(0), [logn.std()]])


def training_rows(root):
    pairs, _ = find_msec_pairs(f"{root}/INPUT_IMAGES", f"{root}/GT_IMAGES")
    X, t, scenes, gts = [], [], [], {}
    for inp, gt, _ in pairs:
        if gt not in gts:
            gts[gt] = float(read_rgb(gt).mean())
        X.append(features(read_rgb(inp, 64)))
        t.append(gts[gt])
        scenes.append(gt)
    return np.array(X), np.array(t), np.array(scenes)


def ridge(X, t, lam):
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = (X - mu) / sd
    w = np.linalg.solve(Z.T @ Z + lam * np.eye(Z.shape[1]), Z.T @ (t - t.mean()))
    return {"mean": mu.tolist(), "scale": sd.tolist(), "weight": w.tolist(), "bias": float(t.mean())}


def judge(model, X):
    Z = (X - np.array(model["mean"])) / np.array(model["scale"])
    return Z @ np.array(model["weight"]) + model["bias"]


def cross_validated(X, t, scenes, lam, folds=8):
    names = np.unique(scenes)
    fold_of = {s: i % folds for i, s in enumerate(np.random.default_rng(0).permutation(names))}
    fold = np.array([fold_of[s] for s in scenes])
    pred = np.zeros_like(t)
    for k in range(folds):
        pred[fold == k] = judge(ridge(X[fold != k], t[fold != k], lam), X[fold == k])
    return scene_correlation(pred, t, scenes), np.sqrt(np.mean((pred - t) ** 2))


def scene_correlation(pred, t, scenes):
    names = np.unique(scenes)
    p = [pred[scenes == s].mean() for s in names]
    g = [t[scenes == s][0] for s in names]
    return float(np.corrcoef(p, g)[0, 1])


def fit(args):
    X, t, scenes = training_rows(args.train)
    rows = []
    for lam in (1, 10, 30, 100, 300, 1000):
        corr, rmse = cross_validated(X, t, scenes, lam)
        rows.append((corr, -rmse, lam))
        print(f"lambda {lam:5}: scene correlation {corr:.3f}, rmse {rmse:.2f} levels (8-fold over scenes)")
    lam = max(rows)[2]
    model = ridge(X, t, lam)
    model["lambda"] = lam
    model["train_scene_correlation"] = scene_correlation(judge(model, X), t, scenes)
    Xv, tv, sv = training_rows(args.valid)
    model["valid_scene_correlation"] = scene_correlation(judge(model, Xv), tv, sv)
    print(f"chosen lambda {lam}: training scenes {model['train_scene_correlation']:.3f} (fitted), "
          f"msec/valid {model['valid_scene_correlation']:.3f}")
    os.makedirs(os.path.dirname(JUDGE), exist_ok=True)
    json.dump(model, open(JUDGE, "w"), indent=1)


def shift(args):
    model = json.load(open(JUDGE))
    os.makedirs(args.dest, exist_ok=True)
    for inp in list_images(args.inputs)[0]:
        stem = os.path.splitext(os.path.basename(inp))[0]
        out_path = f"{args.outputs}/{stem}.png"
        if not os.path.exists(out_path):
            sys.exit(f"error: no output {out_path} for the input {inp}")
        judged = judge(model, features(read_rgb(inp, 64))[None])[0]
        out = read_rgb(out_path).astype(np.float32)
        out = np.clip(out + args.alpha * (judged - out.mean()), 0, 255).round().astype(np.uint8)
        cv2.imwrite(f"{args.dest}/{stem}.png", out[..., ::-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--train", default="data/MSEC/training")
    f.add_argument("--valid", default="data/MSEC/validation")
    s = sub.add_parser("shift")
    s.add_argument("outputs"), s.add_argument("inputs"), s.add_argument("dest")
    s.add_argument("--alpha", type=float, default=0.5)
    args = p.parse_args()
    fit(args) if args.command == "fit" else shift(args)


if __name__ == "__main__":
    main()
