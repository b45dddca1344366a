"""One training step, for train.py (its story) and benchmark.py (which times its parts): the
learning rates, the generator's forward pass, the losses (on the pyramid, and on the output lifted
to the photo as prediction ships it) and the optimiser steps, generator then discriminator.

The lift and its losses run once per group of same-sized photos in a batch, not once per photo:
the same sums, in fewer and larger operations (tests/test_step.py holds the per-photo reference)."""

import math
import time

import torch

import loss as losses
from precision import autocast, to_device

# The terms on what prediction ships, each with its conf weight key (<name>_loss_weight).
LIFT_TERMS = {"lift": "guided", "ssim": "ssim", "chroma": "chroma", "global": "global", "sat": "saturation"}
LIFT_LOSSES = {
    "lift": losses.reconstruction_loss,
    "ssim": losses.ssim_loss,
    "chroma": losses.chroma_loss,
    "global": losses.global_stats_loss,
    "sat": losses.saturation_loss,
}


# ---------------------------------------------------------------- learning rates


def generator_groups(generator, head_scale):
    """The global head's parameters in a group of their own at `head_scale` times the learning rate:
    it starts as the identity with a zero last layer, and at the pyramid's rate it hardly leaves it
    in a fine-tune (issue 28's screen)."""
    named = list(generator.named_parameters())
    head = [p for n, p in named if n.startswith("global_head.")]
    groups = [{"params": [p for n, p in named if not n.startswith("global_head.")], "lr_scale": 1.0}]
    return groups + ([{"params": head, "lr_scale": head_scale}] if head else [])


def lr_at(epoch, epochs, init_lr, final_lr, step_epochs=0):
    """Cosine from init_lr (first epoch) down to final_lr (last epoch), never climbing back; or,
    with step_epochs N > 0, the official MATLAB schedule (src/train_network.m of the paper's code):
    init_lr halved after every N epochs (final_lr unused)."""
    if step_epochs:
        return init_lr * 0.5 ** (epoch // step_epochs)
    if epochs <= 1:
        return init_lr
    return final_lr + (init_lr - final_lr) * 0.5 * (1 + math.cos(math.pi * epoch / (epochs - 1)))


def set_learning_rates(opt, lr):
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


# ---------------------------------------------------------------- the step


def part_timer(device):
    """train.py --time-steps' clock: mark(part) adds the time since the last mark to that part (a
    GPU is synchronised first, so that the time is the part's own); mark.totals holds the sums."""
    totals, last = {}, [time.perf_counter()]

    def mark(part):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        totals[part] = totals.get(part, 0.0) + now - last[0]
        last[0] = now

    mark.totals = totals
    return mark


def train_step(models, batch, conf, adversarial, device, timer=None):
    """One generator step (and, with the adversarial term, one discriminator step). The networks
    run under bfloat16 autocast when models["bf16"]; every loss, the guided lift and the
    optimisers work in float32, where small differences matter. `timer(part)`, when given, is
    called as each part ends ("network", "losses", "sync", "backward", "optimiser",
    "discriminator"): part_timer."""
    mark = timer or (lambda part: None)
    inputs, targets, lifts, valid = batch  # dataset.collate_groups
    inputs, targets = (to_device(t, device, models["channels_last"]) for t in (inputs, targets))
    with autocast(device, models["bf16"]):
        levels = models["generator_ddp"](inputs, return_levels=True)
    levels = [level.float() for level in levels]
    output = levels[-1]
    mark("network")
    terms = {
        "rec": losses.reconstruction_loss(output, targets),
        "pyr": losses.pyramid_loss(levels, targets),
    }
    weights = {k: conf[f"{LIFT_TERMS[k]}_loss_weight"] for k in LIFT_TERMS}
    terms.update(shipped_losses(output, inputs, targets, lifts, valid, weights))
    terms["adv"] = torch.zeros((), device=device)
    if adversarial:  # the plain module, not the DDP wrapper: D takes its synchronised step below
        fake = losses.resize_for_discriminator(output, conf["discriminator_image_size"])
        with autocast(device, models["bf16"]):
            logits = models["discriminator"](fake)
        terms["adv"] = losses.generator_adversarial_loss(logits.float())
    terms["loss"] = (
        conf["reconstruction_loss_weight"] * terms["rec"]
        + conf["pyramid_loss_weight"] * terms["pyr"]
        + sum(weights[k] * terms[k] for k in LIFT_TERMS)
        + conf["adversarial_loss_weight"] * terms["adv"]
    )
    mark("losses")
    if not torch.isfinite(terms["loss"]):  # the one host sync of a step
        return terms, output, False
    mark("sync")
    models["opt_g"].zero_grad(set_to_none=True)
    terms["loss"].backward()
    mark("backward")
    models["opt_g"].step()
    mark("optimiser")
    terms["d"] = torch.zeros((), device=device)
    if adversarial:
        terms["d"] = discriminator_step(models, targets, output, conf["discriminator_image_size"], device)
        mark("discriminator")
    return terms, output, True


def discriminator_step(models, targets, output, size, device):
    """D's own step, on G's output detached: G has already taken its step. Returns D's loss."""
    both = torch.cat([targets, output.detach()])
    with autocast(device, models["bf16"]):
        logits = models["discriminator_ddp"](losses.resize_for_discriminator(both, size)).float()
    d_loss = losses.discriminator_loss(logits[: len(targets)], logits[len(targets) :])
    models["opt_d"].zero_grad(set_to_none=True)
    d_loss.backward()
    models["opt_d"].step()
    return d_loss


def shipped_losses(output, inputs, targets, lifts, valid, weights):
    """The losses on what prediction ships ({term: value} for LIFT_TERMS; those of weight 0 are
    zero), each the mean over the batch's photos of its value on one photo: L1 between the output
    lifted by guided upsampling (loss.guided_lift) to the larger photo the item carries and that
    photo's target, 1 - SSIM, the chroma L1, the global-statistics L1 and the saturation term on
    the same pair. `lifts`: dataset.lift_groups, the items that share their sizes with their full
    photos stacked. Where there is no larger photo (crops, or a working size at the stored size),
    the output itself within the photo (`valid`) is used; with lift_crop, a window of the lift.
    Every term is a mean over a photo's own elements, so a group of same-sized photos gives its
    photos' sum as count x its mean."""
    device = output.device
    terms = dict.fromkeys(LIFT_TERMS, torch.zeros((), device=device))
    wanted = [k for k in LIFT_TERMS if weights[k] > 0]
    if not wanted:
        return terms
    for items, full_in, full_target in lifts:
        h, w = valid[items[0]][:2]
        out, target = (within(t, items, h, w) for t in (output, targets))
        windowed = len(valid[items[0]]) > 2  # lift_crop: full_* are windows of the lifted photo
        if full_in is not None and (windowed or tuple(full_in.shape[2:]) != (h, w)):
            full_in, target = (t.to(device, non_blocking=True) for t in (full_in, full_target))
            windows = [valid[i][2:] for i in items] if windowed else None
            out = losses.guided_lift(within(inputs, items, h, w), out, full_in, windows)
        for k in wanted:
            terms[k] = terms[k] + len(items) * LIFT_LOSSES[k](out, target)
    return {k: v / len(valid) for k, v in terms.items()}


def within(batch, items, h, w):
    """batch[items, :, :h, :w]; the batch itself where that is all of it (autograd would pay a
    slice with a zero-filled copy of the whole batch in backward)."""
    if items == list(range(len(batch))) and tuple(batch.shape[2:]) == (h, w):
        return batch
    pick = slice(items[0], items[-1] + 1) if items == list(range(items[0], items[-1] + 1)) else items
    return batch[pick, :, :h, :w]


def generator_ceiling(generator, shape, bf16, device, steps=30, warmup=5):
    """Images/s of the generator alone: forward, an L1 loss, backward and Adam on one batch of
    `shape`, in the training step's precision and memory layout (channels-last on a CPU), after
    `warmup` steps. What train.py's step could reach if everything else were free."""
    channels_last = device.type == "cpu"
    x = to_device(torch.rand(shape, generator=torch.Generator().manual_seed(0)), device, channels_last)
    opt = torch.optim.Adam(generator.parameters(), lr=1e-4)
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
        with autocast(device, bf16):
            out = generator(x)
        opt.zero_grad(set_to_none=True)
        losses.reconstruction_loss(out.float(), x).backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * shape[0] / (time.perf_counter() - started)


def network_ceiling(base, size, bf16):
    """The generator alone (generator_ceiling) at the batch shape that benchmark.py's synthetic
    384x512 photos give at working size `size` (landscape 384x512 shrunk and padded as the dataset pads)."""
    from config import arch_of
    from model import build_generator, size_multiple
    from precision import choose_device
    from utils import fit_long_side

    device = choose_device(base["CUDA_VISIBLE_DEVICES"])
    m = size_multiple(base["laplacian_level_count"], base["layer_count_of_every_unet"])
    h, w = (-(-s // m) * m for s in fit_long_side(384, 512, size))
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    generator = build_generator(arch_of(base)).to(device, memory_format=layout)
    return generator_ceiling(generator, (base["batch_size"], 3, h, w), bf16, device)
