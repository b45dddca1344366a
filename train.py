"""Train the exposure-correction generator (and, from `begin_use_adv_loss_epoch`, its
discriminator). One process: `python train.py`; several GPUs or CPU processes:
`torchrun --nproc_per_node=N train.py`. Reads the `train` section of conf.json."""
import csv
import math
import os
import random
import sys
import time

import numpy as np

from utils import argument_parser, fail, load_section


def parse_args():
    parser = argument_parser(__doc__, "train")
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if last.pth exists (it is then overwritten)")
    parser.add_argument("--max-epochs-this-run", type=int, default=0,
                        help="stop after this many epochs (0: no limit); the next run resumes from last.pth")
    return parser.parse_args()


def main():
    args = parse_args()
    conf = load_section(args.conf, "train")
    # Must be set before torch initialises CUDA.
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", conf["CUDA_VISIBLE_DEVICES"])
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    log = print if rank == 0 else (lambda *a, **k: None)
    try:
        train(conf, args, device, rank, world, log)
    finally:
        if world > 1:
            dist.destroy_process_group()


def lr_at(epoch, epochs, init_lr, final_lr):
    """Cosine from init_lr (first epoch) down to final_lr (last epoch); never climbs back."""
    if epochs <= 1:
        return init_lr
    return final_lr + (init_lr - final_lr) * 0.5 * (1 + math.cos(math.pi * epoch / (epochs - 1)))


def seed_everything(seed):
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_states():
    import torch
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states):
    import torch
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def train(conf, args, device, rank, world, log):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler
    from tqdm import tqdm

    import loss as losses
    from dataset import build_dataset
    from model import Discriminator, arch_from_conf, build_generator, load_generator, parameter_count, save_checkpoint

    seed_everything(conf["seed"])
    try:
        train_set = build_dataset(conf, conf["train_data_dir"], conf["paired_train_input_dir"], conf["paired_train_gt_dir"], True, log)
        valid_set = build_dataset(conf, conf["valid_data_dir"], conf["paired_valid_input_dir"], conf["paired_valid_gt_dir"], False, log)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    if train_set is None:
        fail("no training data: set train_data_dir and/or paired_train_input_dir + paired_train_gt_dir")
    if len(train_set) < conf["batch_size"] * world:
        fail(f"only {len(train_set)} training photos for batch_size {conf['batch_size']} x {world} processes")

    arch = arch_from_conf(conf)
    generator = build_generator(arch).to(device)
    if conf["init_generator_from"]:
        generator.load_state_dict(load_generator(conf["init_generator_from"], conf)[0].state_dict())
    discriminator = Discriminator(conf["discriminator_image_size"]).to(device)
    h, w = conf["image_size"]
    if h % generator.multiple or w % generator.multiple:
        fail(f"[train] key 'image_size' {conf['image_size']}: H and W must be multiples of {generator.multiple} for this architecture")
    log(f"generator: {parameter_count(generator) / 1e6:.2f} M parameters; {len(train_set)} training, "
        f"{len(valid_set) if valid_set else 0} validation samples; {world} process(es) on {device}")
    opt_g = torch.optim.Adam(generator.parameters(), lr=conf["init_lr"], weight_decay=conf["weight_decay"])
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=conf["discriminator_init_lr"], weight_decay=conf["discriminator_weight_decay"])

    save_dir = conf["model_save_dir"]
    last_path, best_path = os.path.join(save_dir, "last.pth"), os.path.join(save_dir, "best.pth")
    start_epoch, best_psnr, history = 0, -float("inf"), []
    if conf["resume"] and not args.no_resume and os.path.isfile(last_path):
        state = torch.load(last_path, map_location="cpu", weights_only=False)
        if state["arch"] != arch:
            fail(f"{last_path} was trained with architecture {state['arch']}, the conf asks for {arch}: "
                 f"change model_save_dir or run with --no-resume")
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["optimizer_g"])
        opt_d.load_state_dict(state["optimizer_d"])
        start_epoch, best_psnr, history = state["epoch"], state["best_psnr"], state["history"]
        set_rng_states(state["rng"])
        log(f"resumed from {last_path} after epoch {start_epoch}")
    if start_epoch >= conf["epochs"]:
        log(f"already trained {start_epoch} of {conf['epochs']} epochs; nothing to do")
        return

    if world > 1:
        generator_ddp = DistributedDataParallel(generator)
        discriminator_ddp = DistributedDataParallel(discriminator)
    else:
        generator_ddp, discriminator_ddp = generator, discriminator
    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=conf["seed"], drop_last=True)
    loader = DataLoader(train_set, batch_size=conf["batch_size"], sampler=sampler, num_workers=conf["num_workers"],
                        drop_last=True, pin_memory=device.type == "cuda")
    use_amp = device.type == "cuda"

    stop_epoch = conf["epochs"] if not args.max_epochs_this_run else min(conf["epochs"], start_epoch + args.max_epochs_this_run)
    for epoch in range(start_epoch, stop_epoch):
        epoch_number, started = epoch + 1, time.time()
        adversarial = epoch_number >= conf["begin_use_adv_loss_epoch"] and conf["adversarial_loss_weight"] > 0
        lr_g = lr_at(epoch, conf["epochs"], conf["init_lr"], conf["final_lr"])
        lr_d = lr_at(epoch, conf["epochs"], conf["discriminator_init_lr"], conf["discriminator_final_lr"])
        for group in opt_g.param_groups:
            group["lr"] = lr_g
        for group in opt_d.param_groups:
            group["lr"] = lr_d
        sampler.set_epoch(epoch)
        train_set.epoch = epoch
        generator.train()
        sums = {"loss": 0.0, "rec": 0.0, "pyr": 0.0, "adv": 0.0, "d": 0.0}
        steps = 0
        bar = tqdm(loader, desc=f"epoch {epoch_number}/{conf['epochs']}", disable=rank != 0, leave=True, file=sys.stdout)
        for inputs, targets in bar:
            inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                levels = generator_ddp(inputs, return_levels=True)
                output = levels[-1]
                rec = losses.reconstruction_loss(output.float(), targets)
                pyr = losses.pyramid_loss([l.float() for l in levels], targets)
                total = conf["reconstruction_loss_weight"] * rec + conf["pyramid_loss_weight"] * pyr
                adv = torch.zeros((), device=device)
                if adversarial:
                    # The plain module, not the DDP wrapper: D takes its synchronised step below.
                    fake_logits = discriminator(losses.resize_for_discriminator(output, conf["discriminator_image_size"]))
                    adv = losses.generator_adversarial_loss(fake_logits.float())
                    total = total + conf["adversarial_loss_weight"] * adv
            if not torch.isfinite(total):
                fail(f"loss became {total.item()} at epoch {epoch_number}, step {steps + 1}; stopping. The last good "
                     f"checkpoint is {last_path}: lower init_lr or check the data", code=1)
            opt_g.zero_grad(set_to_none=True)
            total.backward()
            opt_g.step()
            d_loss = torch.zeros(())
            if adversarial:
                # D's own step, on G's output detached: G has already taken its step above.
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    both = torch.cat([targets, output.detach().to(targets.dtype)])
                    logits = discriminator_ddp(losses.resize_for_discriminator(both, conf["discriminator_image_size"])).float()
                    d_loss = losses.discriminator_loss(logits[:len(targets)], logits[len(targets):])
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            steps += 1
            for key, value in (("loss", total), ("rec", rec), ("pyr", pyr), ("adv", adv), ("d", d_loss)):
                sums[key] += value.item()
            bar.set_postfix({k: f"{v / steps:.4f}" for k, v in sums.items() if k in ("loss", "rec", "pyr") or adversarial})
        means = {k: v / max(steps, 1) for k, v in sums.items()}
        if world > 1:
            reduced = torch.tensor([means[k] for k in sums], device=device)
            dist.all_reduce(reduced)
            means = dict(zip(sums, (reduced / world).tolist()))

        if rank == 0:
            val_psnr, val_ssim, samples = validate(generator, valid_set, device, conf["batch_size"])
            row = {"epoch": epoch_number, "lr": lr_g, "d_lr": lr_d, "adversarial": int(adversarial),
                   **{f"train_{k}": round(v, 6) for k, v in means.items()},
                   "valid_psnr": round(val_psnr, 4), "valid_ssim": round(val_ssim, 4), "seconds": round(time.time() - started, 1)}
            history.append(row)
            improved = val_psnr > best_psnr or valid_set is None
            best_psnr = max(best_psnr, val_psnr)
            state = {"arch": arch, "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                     "optimizer_g": opt_g.state_dict(), "optimizer_d": opt_d.state_dict(), "epoch": epoch_number,
                     "best_psnr": best_psnr, "history": history, "rng": rng_states(), "conf": conf}
            if improved:
                save_checkpoint(best_path, {"arch": arch, "generator": generator.state_dict(), "epoch": epoch_number,
                                            "valid_psnr": val_psnr, "valid_ssim": val_ssim})
            save_checkpoint(last_path, state)
            write_reports(save_dir, history, samples)
            log(f"epoch {epoch_number}: loss {means['loss']:.4f}  valid PSNR {val_psnr:.3f} dB  SSIM {val_ssim:.4f}"
                f"{'  (best)' if improved else ''}  {row['seconds']} s")
        if world > 1:
            dist.barrier()


def validate(generator, valid_set, device, batch_size):
    """Mean PSNR/SSIM (8-bit, utils.psnr/ssim) over the deterministic validation set, and the
    first few (input, output, target) triples for the picture grid."""
    import torch
    from torch.utils.data import DataLoader

    from utils import psnr, ssim, to_uint8
    if valid_set is None:
        return float("nan"), float("nan"), []
    generator.eval()
    scores, samples = [], []
    with torch.no_grad():
        for inputs, targets in DataLoader(valid_set, batch_size=batch_size):
            outputs = generator(inputs.to(device)).float().clamp(0, 1).cpu()
            for triple in zip(inputs, outputs, targets):
                a, b, c = (to_uint8(t.permute(1, 2, 0).numpy()) for t in triple)
                scores.append((psnr(b, c), ssim(b, c)))
                if len(samples) < 4:
                    samples.append((a, b, c))
    generator.train()
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores])), samples


def write_reports(save_dir, history, samples):
    """history.csv (one row per epoch), curves.png, and samples.png (validation input / output /
    target), each rewritten whole so a resumed run continues them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tmp = os.path.join(save_dir, "history.csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, os.path.join(save_dir, "history.csv"))

    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "train_rec", "train_pyr"):
        ax1.plot(epochs, [r[key] for r in history], label=key)
    ax1.set_xlabel("epoch"), ax1.set_title("training losses"), ax1.legend()
    ax2.plot(epochs, [r["valid_psnr"] for r in history], "o-")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("dB"), ax2.set_title("validation PSNR")
    fig.tight_layout()
    fig.savefig(os.path.join(save_dir, "curves.png"), dpi=80)
    plt.close(fig)
    if samples:
        fig, axes = plt.subplots(len(samples), 3, figsize=(9, 3 * len(samples)), squeeze=False)
        for row, triple in zip(axes, samples):
            for ax, image, title in zip(row, triple, ("input", "output", "target")):
                ax.imshow(image), ax.set_title(title), ax.axis("off")
        fig.tight_layout()
        fig.savefig(os.path.join(save_dir, "samples.png"), dpi=70)
        plt.close(fig)


if __name__ == "__main__":
    main()
