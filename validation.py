"""Scoring the generator while it trains, and the reports of a run (train.py): the working sizes
validated after each epoch, validation as prediction runs (each photo whole at a working size,
lifted by guided upsampling), the epoch's line and the run's closing lines, history.csv,
curves.png and samples.png."""

import os
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataset import collate, from_tensor
from inference import guided_upsample
from precision import autocast, to_device
from metrics import psnr, ssim
from utils import atomic_write, to_uint8, write_csv


def validation_sizes(working_sizes, epoch, epochs, every):
    """The working sizes to validate at after `epoch`: the first (the size prediction runs at,
    on which best.pth is chosen) every epoch, all of them every `every` epochs and at the last;
    [None] for crop training (centre crops)."""
    if not working_sizes:
        return [None]
    if epoch % every == 0 or epoch == epochs:
        return list(working_sizes)
    return working_sizes[:1]


def validate(models, valid_set, device, batch_size, sizes):
    """[(PSNR, SSIM)] per entry of `sizes` (8-bit, metrics.psnr/ssim) over the deterministic
    validation set, and the first few (input, output, target) triples for the picture grid. A size
    None means centre crops; a working size means each photo whole at that size, one at a time as
    predict.py runs it, lifted by guided upsampling to twice that size, against the target there.
    The networks run in the training precision; the scores are computed in float32."""
    if valid_set is None:
        return [], []
    generator = models["generator"]
    generator.eval()
    scores, samples = [], []
    for size in sizes:
        loader = (
            DataLoader(
                valid_set, batch_sampler=[[(i, size)] for i in range(len(valid_set))], collate_fn=collate
            )
            if size
            else DataLoader(valid_set, batch_size=batch_size, collate_fn=collate)
        )
        psnrs, ssims = [], []
        with torch.no_grad():
            for inputs, targets, full_inputs, full_targets, valid in tqdm(
                loader, desc=f"validating{f' at {size} px' if size else ''}", leave=False, file=sys.stdout
            ):
                with autocast(device, models["bf16"]):
                    outputs = generator(to_device(inputs, device, models["channels_last"]))
                outputs = outputs.float().clamp(0, 1).cpu()
                for i, (h, w) in enumerate(valid):
                    low_in, out, target = (from_tensor(t[i, :, :h, :w]) for t in (inputs, outputs, targets))
                    if full_inputs[i] is not None and tuple(full_inputs[i].shape[1:]) != (h, w):
                        out = guided_upsample(low_in, out, from_tensor(full_inputs[i]))
                        target = from_tensor(full_targets[i])
                    out, target = to_uint8(out), to_uint8(target)
                    psnrs.append(psnr(out, target))
                    ssims.append(ssim(out, target))
                    if len(samples) < 4:
                        samples.append((to_uint8(low_in), out, target))
        scores.append((float(np.mean(psnrs)), float(np.mean(ssims))))
    generator.train()
    return scores, samples


def epoch_line(row, validated, improved):
    others = "".join(
        f"  {k[len('valid_psnr_'):]} px {v:.3f}" for k, v in row.items() if k.startswith("valid_psnr_")
    )
    scores = (
        f"valid PSNR {row['valid_psnr']:.3f} dB  SSIM {row['valid_ssim']:.4f}{'  (best)' if improved else ''}"
        f"{others}"
        if validated
        else "no validation"
    )
    fit = f"  training items {row['fit_psnr']:.3f} dB" if "fit_psnr" in row else ""
    return f"epoch {row['epoch']}: loss {row['train_loss']:.4f}  {scores}{fit}  {row['seconds']} s"


def summary(history, start, stop, epochs, save_dir, validated):
    """The closing lines: what ran, the best epoch, where the files are, how to go on."""
    lines = [f"trained epochs {start + 1}-{stop} of {epochs} this run" if stop > start else "no epoch ran"]
    if validated and history:
        best = max(history, key=lambda r: r["valid_psnr"])
        lines.append(
            f"best epoch {best['epoch']}: valid PSNR {best['valid_psnr']:.3f} dB, "
            f"SSIM {best['valid_ssim']:.4f}"
        )
    lines.append(f"files in {save_dir}: best.pth, last.pth, history.csv, curves.png, samples.png")
    if stop < epochs:
        lines.append(
            f"stopped at epoch {stop} of {epochs} (--max-epochs-this-run); run the same command again to "
            f"continue from last.pth"
        )
    return "\n".join(lines)


def write_reports(save_dir, history, samples, plots=True):
    """history.csv (one row per epoch), and with `plots` curves.png and samples.png (input / output
    / target, from validation, or from the last training batch without validation), each rewritten
    whole."""
    write_csv(os.path.join(save_dir, "history.csv"), history)
    if not plots:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "train_rec", "train_pyr", "train_lift", "train_ssim"):
        ax1.plot(epochs, [r[key] for r in history], label=key)
    ax1.set_xlabel("epoch"), ax1.set_title("training losses"), ax1.legend()
    ax2.plot(
        epochs,
        [r["valid_psnr"] for r in history],
        "o-",
        label="first working size" if len(history[-1]) else "",
    )
    for key in sorted({k for r in history for k in r if k.startswith("valid_psnr_")}):
        rows = [r for r in history if key in r]
        ax2.plot(
            [r["epoch"] for r in rows], [r[key] for r in rows], "s--", label=f"{key[len('valid_psnr_'):]} px"
        )
    fitted = [r for r in history if r.get("fit_psnr") not in (None, "")]
    if fitted:  # the fixed training items: underfitting shows as a small gap to validation
        ax2.plot([r["epoch"] for r in fitted], [r["fit_psnr"] for r in fitted], "^:", label="training items")
    if fitted or any(k.startswith("valid_psnr_") for r in history for k in r):
        ax2.legend()
    ax2.set_xlabel("epoch"), ax2.set_ylabel("dB"), ax2.set_title("validation PSNR")
    fig.tight_layout()
    atomic_write(os.path.join(save_dir, "curves.png"), lambda tmp: fig.savefig(tmp, dpi=80))
    plt.close(fig)
    if samples:
        fig, axes = plt.subplots(len(samples), 3, figsize=(9, 3 * len(samples)), squeeze=False)
        for row, triple in zip(axes, samples):
            for ax, image, title in zip(row, triple, ("input", "output", "target")):
                ax.imshow(image), ax.set_title(title), ax.axis("off")
        fig.tight_layout()
        atomic_write(os.path.join(save_dir, "samples.png"), lambda tmp: fig.savefig(tmp, dpi=70))
        plt.close(fig)
