"""Train the exposure-correction generator (and, from `begin_use_adv_loss_epoch`, its
discriminator). One process: `python train.py`; several GPUs or CPU processes:
`torchrun --nproc_per_node=N train.py`. Reads the `train` section of conf.json.

Stages, top to bottom: the processes and device, the data, the models and optimisers, resuming
from last.pth, the epochs (a training pass, validation, checkpoints and reports), a summary."""

import json
import os
import random
import re
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from dataset import WorkingSizeBatches, build_dataset, collate_groups, fixed_view, from_tensor
from model import (
    Discriminator,
    build_generator,
    init_from_smaller,
    parameter_count,
    read_checkpoint,
    save_checkpoint,
    size_multiple,
)
from precision import PROCESS_GROUP_TIMEOUT, choose_device, set_float32_math, use_bf16
from step import LIFT_TERMS, generator_groups, lr_at, part_timer, set_learning_rates, train_step
from validation import epoch_line, summary, validate, validation_sizes, write_reports
from config import DATA_HELP, ConfError, arch_of, argument_parser, asked_arch, check_arch, parse_with_conf
from utils import check_size_multiple, fail, to_uint8


def parse_args():
    """The flags below, and --KEY VALUE for any key of the `train` section (config.parse_with_conf)."""
    parser = argument_parser(__doc__, "train")
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="start afresh even if last.pth exists (it is then overwritten)",
    )
    parser.add_argument(
        "--max-steps-this-run",
        type=int,
        default=0,
        help="stop after this many steps (0: no limit), within an epoch too; the next run resumes there",
    )
    parser.add_argument(
        "--sync-debug",
        action="store_true",
        help="on a GPU, warn at every host-device synchronisation within training steps (an audit)",
    )
    parser.add_argument(
        "--time-steps",
        action="store_true",
        help="add where each step's time goes to history.csv (time_* columns, ms per step; on a GPU "
        "this synchronises at each part, so the images/s of such a run are not the plain run's)",
    )
    parser.add_argument(
        "--max-epochs-this-run",
        type=int,
        default=0,
        help="stop after this many epochs (0: no limit); the next run resumes from last.pth",
    )
    return parse_with_conf(parser, "train")


def main():
    args, conf = parse_args()
    for flag, value in (("epochs", args.max_epochs_this_run), ("steps", args.max_steps_this_run)):
        if value < 0:
            fail(f"--max-{flag}-this-run must be 0 (no limit) or more, got {value}")
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    try:
        device = choose_device(conf["CUDA_VISIBLE_DEVICES"])
    except ValueError as e:
        fail(str(e))
    set_float32_math(device)
    if world > 1:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=PROCESS_GROUP_TIMEOUT)
    log = print if rank == 0 else (lambda *a, **k: None)
    try:
        train(conf, args, device, rank, world, log)
    finally:
        if world > 1:
            dist.destroy_process_group()


def train(conf, args, device, rank, world, log):
    last_path = os.path.join(conf["model_save_dir"], "last.pth")
    if rank == 0:
        remove_leftovers(conf["model_save_dir"], log)
    state = None
    if conf["resume"] and not args.no_resume and os.path.isfile(last_path):
        state = load_training_state(last_path, asked_arch(conf, args.given))
        if state["epoch"] >= conf["epochs"]:  # said before minutes of photo loading
            log(
                f"already trained {state['epoch']} of {conf['epochs']} epochs in {last_path}; nothing to do "
                f"(raise 'epochs' to train on, or run with --no-resume to start afresh)"
            )
            return
    seed_everything(conf["seed"])
    conf = dict(conf, **(state["arch"] if state else {}))  # a run resumes its own architecture
    train_set, valid_set = load_data(conf, world, log)
    conf["batch_size"] = fitting_batch(conf["batch_size"], len(train_set), world, log)
    fit_set = fixed_view(train_set, conf["fit_check_count"])
    models = build_models(conf, device, state, log)
    models["sync_debug"] = args.sync_debug and device.type == "cuda"
    models["time_steps"] = args.time_steps
    log(
        f"generator: {parameter_count(models['generator']) / 1e6:.2f} M parameters; "
        f"{len(train_set)} training, "
        f"{len(valid_set) if valid_set else 0} validation samples; {world} process(es) on {device}, "
        f"{'bfloat16 autocast' if models['bf16'] else 'float32'}"
        f"{', channels-last' if models['channels_last'] else ''}"
    )
    if state:
        log(f"resumed from {last_path} after epoch {state['epoch']}")
    start = state["epoch"] if state else 0
    best_psnr, history = (state["best_psnr"], state["history"]) if state else (-float("inf"), [])
    stop = (
        conf["epochs"]
        if not args.max_epochs_this_run
        else min(conf["epochs"], start + args.max_epochs_this_run)
    )
    if valid_set is None:
        log("no validation data (valid_data_dir and paired_valid_* are empty): best.pth is the last epoch")

    loader, batches = make_loader(train_set, conf, world, rank, device)
    partial = state.get("partial") if state else None
    steps_left = args.max_steps_this_run or float("inf")
    if partial:
        log(f"resuming epoch {start + 1} at step {partial['step'] + 1}")
    plotted_at = 0.0
    for epoch in range(start, stop):
        if steps_left <= 0:  # --max-steps-this-run ended with the last epoch
            log(f"stopped after epoch {epoch} (--max-steps-this-run); run the same command again to continue")
            return
        started = time.time()
        batches.set_epoch(epoch)
        batches.skip = partial["step"] if partial and epoch == start else 0
        train_set.epoch = epoch
        epoch_rng = rng_states()  # what a checkpoint within this epoch restores: its batches come again

        def save_within(step, sums):
            save_epoch(
                conf, models, epoch + 1, best_psnr, history, False, None, None, epoch_rng, (step, sums)
            )

        resumed = (batches.skip, partial["sums"]) if batches.skip else (0, None)
        stop_at = batches.skip + steps_left if steps_left < len(batches) else None
        steps_left -= len(batches)
        row, samples = train_one_epoch(
            models, loader, conf, epoch, (device, rank, world), last_path, resumed, save_within, stop_at
        )
        if row is None:
            log(
                f"stopped within epoch {epoch + 1} at step {stop_at} (--max-steps-this-run); run the same "
                f"command again to continue from last.pth"
            )
            return
        if rank == 0:  # the plots at most every PLOT_SECONDS, and at the run's last epoch
            plots = epoch + 1 == stop or steps_left <= 0 or time.time() - plotted_at >= PLOT_SECONDS
            plotted_at = time.time() if plots else plotted_at
            best_psnr = end_epoch(
                models, conf, (valid_set, fit_set), device, row, samples, history, best_psnr, (started, plots)
            )
        if world > 1:
            dist.barrier()
    log(summary(history, start, stop, conf["epochs"], conf["model_save_dir"], valid_set is not None))


def make_loader(train_set, conf, world, rank, device):
    """Batches of one working size each (or crops), shuffled per epoch identically on every process."""
    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=conf["seed"], drop_last=True)
    batches = WorkingSizeBatches(
        sampler, conf["batch_size"], conf["working_sizes"], conf["working_size_weights"], conf["seed"]
    )
    workers = loader_workers(conf["num_workers"], device)
    loader = DataLoader(
        train_set,
        batch_sampler=batches,
        num_workers=workers,
        persistent_workers=workers > 0,  # not forked again each epoch (the epoch is in the keys)
        collate_fn=collate_groups,
        pin_memory=device.type == "cuda",
    )
    return loader, batches


def loader_workers(setting, device, cpus=None):
    """num_workers "auto": on a CPU with 4 cores or fewer none (the photos are prepared between
    steps: a worker process would take a core from the network's threads, and with 2 cores the
    step ran 1.25x faster without one, docs/benchmarks.md), else a quarter of the cores; on a GPU
    all cores but two, at most 12 (the loader is what feeds it)."""
    if setting != "auto":
        return setting
    cpus = cpus or os.cpu_count() or 1
    if device.type == "cuda":
        return max(1, min(12, cpus - 2))
    return 0 if cpus <= 4 else cpus // 4


def end_epoch(models, conf, sets, device, row, samples, history, best_psnr, clock):
    """Validate (the first working size; all of them every validate_all_sizes_every epochs) and
    score the fixed training items (`sets` = (validation, fit) sets, either None) at the first size,
    record the epoch's row, write last.pth (and best.pth when the first size improved) and the
    reports (`clock` = (the epoch's start, whether to redraw the plots); history.csv always).
    Returns the best validation PSNR so far."""
    (valid_set, fit_set), trained, epoch, (started, plots) = sets, time.time(), row["epoch"], clock
    sizes = validation_sizes(conf["working_sizes"], epoch, conf["epochs"], conf["validate_all_sizes_every"])
    scores, val_samples = validate(models, valid_set, device, conf["batch_size"], sizes)
    val_psnr, val_ssim = scores[0] if scores else (float("nan"), float("nan"))
    fit = validate(models, fit_set, device, conf["batch_size"], sizes[:1])[0]
    row.update(
        valid_psnr=round(val_psnr, 4),
        valid_ssim=round(val_ssim, 4),
        **{f"valid_psnr_{size}": round(score[0], 4) for size, score in zip(sizes[1:], scores[1:])},
        **({"fit_psnr": round(fit[0][0], 4), "fit_ssim": round(fit[0][1], 4)} if fit else {}),
        seconds=round(time.time() - started, 1),
        valid_seconds=round(time.time() - trained, 1),
        **gpu_memory(device),
    )
    history.append(row)
    improved = valid_set is None or val_psnr > best_psnr
    best_psnr = val_psnr if improved else best_psnr
    saving = time.time()
    save_epoch(conf, models, epoch, best_psnr, history, improved, val_psnr, val_ssim)
    reporting = time.time()
    write_reports(conf["model_save_dir"], history, val_samples or samples, plots)
    print(epoch_line(row, valid_set is not None, improved))
    if models.get("time_steps"):  # read by benchmark.py train
        print(
            f"epoch work: validation {row['valid_seconds']:.2f} s, checkpoints {reporting - saving:.2f} s, "
            f"reports {time.time() - reporting:.2f} s"
        )
    return best_psnr


def gpu_memory(device):
    """{gpu_memory_mb: the peak allocated since the last call} on a GPU, {} on the CPU."""
    if device.type != "cuda":
        return {}
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    torch.cuda.reset_peak_memory_stats(device)
    return {"gpu_memory_mb": round(peak, 1)}


# ---------------------------------------------------------------- setup


def remove_leftovers(save_dir, log):
    """A run killed while writing a checkpoint leaves its temporary file (utils.atomic_write names
    it `<name>.tmp<pid>.pth`): whole, but never to be read; remove it so it cannot pile up."""
    if not os.path.isdir(save_dir):
        return
    for name in sorted(os.listdir(save_dir)):
        if re.fullmatch(r".+\.tmp\d+(\.\w+)?", name):
            os.remove(os.path.join(save_dir, name))
            log(f"removed {os.path.join(save_dir, name)}, left by a run killed while writing it")


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(conf, world, log):
    """The training and validation sets (validation None when no folder is set); one-line errors."""
    multiple = size_multiple(conf["laplacian_level_count"], conf["layer_count_of_every_unet"])
    try:
        if not conf["working_sizes"]:
            check_size_multiple(*conf["image_size"], multiple, "[train] key 'image_size'")
        for side in conf["working_sizes"]:
            check_size_multiple(side, side, multiple, "[train] key 'working_sizes' entry")
        train_set = build_dataset(
            conf,
            conf["train_data_dir"],
            conf["paired_train_input_dir"],
            conf["paired_train_gt_dir"],
            True,
            multiple,
            log,
        )
        if train_set is None:  # said before minutes of loading validation photos
            fail(
                "no training data: set train_data_dir and/or paired_train_input_dir + paired_train_gt_dir "
                f"({DATA_HELP})"
            )
        valid_set = build_dataset(
            conf,
            conf["valid_data_dir"],
            conf["paired_valid_input_dir"],
            conf["paired_valid_gt_dir"],
            False,
            multiple,
            log,
        )
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    return train_set, valid_set


def fitting_batch(batch_size, count, world, log):
    """A folder with fewer photos than a batch trains with what there is, said once."""
    if count >= batch_size * world:
        return batch_size
    if count < world:
        fail(f"only {count} training photos for {world} processes: add photos or run fewer processes")
    log(f"only {count} training photos: batches of {count // world} (batch_size {batch_size} needs more)")
    return count // world


def build_models(conf, device, state, log):
    """Generator, discriminator, their optimisers (and DDP wrappers), from `state` when resuming.
    On a CPU the models are channels-last: oneDNN's convolutions are fastest in that layout."""
    arch = arch_of(conf)
    channels_last = device.type == "cpu"
    layout = torch.channels_last if channels_last else torch.contiguous_format
    generator = build_generator(arch).to(device, memory_format=layout)
    if conf["init_generator_from"] and state is None:
        # A checkpoint of an architecture this one extends (PSA added) warm-starts it too.
        try:
            fresh = init_from_smaller(generator, conf["init_generator_from"])
        except ValueError as e:
            fail(init_mismatch(conf["init_generator_from"], arch) or str(e))
        modules = sorted({name.rsplit(".", 2)[0] for name in fresh})
        added = f"; new, freshly initialised: {', '.join(modules)}" if fresh else ""
        log(f"generator initialised from {conf['init_generator_from']}{added}")
    discriminator = Discriminator(conf["discriminator_image_size"]).to(device, memory_format=layout)
    if conf["init_discriminator_from"] and state is None:
        discriminator.load_state_dict(discriminator_state(conf["init_discriminator_from"]))
        log(f"discriminator initialised from {conf['init_discriminator_from']}")
    opt_g = torch.optim.Adam(
        generator_groups(generator, conf["global_head_lr_scale"]),
        lr=conf["init_lr"],
        weight_decay=conf["weight_decay"],
    )
    opt_d = torch.optim.Adam(
        discriminator.parameters(),
        lr=conf["discriminator_init_lr"],
        weight_decay=conf["discriminator_weight_decay"],
    )
    if state:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["optimizer_g"])
        opt_d.load_state_dict(state["optimizer_d"])
        set_rng_states(state["rng"])
    distributed = dist.is_available() and dist.is_initialized()
    side = conf["working_sizes"][0] if conf["working_sizes"] else None
    shape = (conf["batch_size"], 3, side or conf["image_size"][0], side or conf["image_size"][1])
    return {
        "arch": arch,
        "bf16": use_bf16(conf["precision"], device, generator, shape, state, log),
        "channels_last": channels_last,
        "generator": generator,
        "discriminator": discriminator,
        "opt_g": opt_g,
        "opt_d": opt_d,
        "generator_ddp": DistributedDataParallel(generator) if distributed else generator,
        "discriminator_ddp": DistributedDataParallel(discriminator) if distributed else discriminator,
    }


# ---------------------------------------------------------------- last.pth (format: model.py)


def init_mismatch(path, arch):
    """The first architecture key in which init_generator_from's checkpoint differs from the one
    being trained (None if it names none): the line to say when its weights do not fit."""
    try:
        theirs = read_checkpoint(path)["arch"]
    except ValueError as e:
        return str(e)
    for key in sorted(arch, key=lambda k: k == "use_psa"):  # PSA may be added: name another key first
        value = arch[key]
        if key in theirs and theirs[key] != value:
            return (
                f"init_generator_from {path} was trained with {key} {json.dumps(theirs[key])}, this run "
                f"builds {json.dumps(value)}: set --{key} {json.dumps(theirs[key])} to train its architecture"
            )
    return None


def load_training_state(path, asked):
    """last.pth, to resume with the architecture it carries; a key set on the command line that
    contradicts it is one line."""
    try:
        state = read_checkpoint(path)
    except ValueError as e:
        fail(f"{e}: remove it, change model_save_dir or run with --no-resume")
    try:
        check_arch(asked, state["arch"], path)
    except ConfError as e:
        fail(f"{e}; or change model_save_dir, or run with --no-resume to start afresh")
    if "optimizer_g" not in state:
        fail(
            f"{path} holds weights only (no optimiser state to resume): use it as init_generator_from instead"
        )
    return state


def discriminator_state(path):
    """The discriminator of a last.pth (the paper's 512 px stage starts from the 256 px stage's)."""
    try:
        state = read_checkpoint(path)
    except ValueError as e:
        fail(str(e))
    if "discriminator" not in state:
        fail(f'{path} holds no discriminator (a last.pth of train.py does): set init_discriminator_from ""')
    return state["discriminator"]


def rng_states():
    """Every RNG's state in types that torch.load(weights_only=True) accepts (no numpy objects)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available():  # this process's own GPU only: the count may differ on resume
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def set_rng_states(states):
    random.setstate(states["python"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        cuda = states["cuda"]
        if isinstance(cuda, (list, tuple)):  # written by an earlier version: one state per visible GPU
            cuda = cuda[min(torch.cuda.current_device(), len(cuda) - 1)]
        torch.cuda.set_rng_state(cuda)


def save_epoch(conf, models, epoch, best_psnr, history, improved, val_psnr, val_ssim, rng=None, within=None):
    """last.pth every epoch (everything to resume); best.pth when validation improved. `within`:
    (steps done, loss sums) for a checkpoint within epoch number `epoch` (checkpoint_every_steps),
    with `rng` the RNG states at that epoch's start; its "epoch" is then the epochs completed."""
    generator_state = models["generator"].state_dict()
    if improved:
        save_checkpoint(
            os.path.join(conf["model_save_dir"], "best.pth"),
            {
                "arch": models["arch"],
                "generator": generator_state,
                "epoch": epoch,
                "valid_psnr": val_psnr,
                "valid_ssim": val_ssim,
                "conf": conf,
            },
        )
    save_checkpoint(
        os.path.join(conf["model_save_dir"], "last.pth"),
        {
            "arch": models["arch"],
            "generator": generator_state,
            "discriminator": models["discriminator"].state_dict(),
            "optimizer_g": models["opt_g"].state_dict(),
            "optimizer_d": models["opt_d"].state_dict(),
            "epoch": epoch - 1 if within else epoch,
            "best_psnr": best_psnr,
            "history": history,
            "rng": rng or rng_states(),
            "conf": conf,
            "bf16": models["bf16"],
            **({"partial": {"step": within[0], "sums": dict(within[1])}} if within else {}),
        },
    )


# ---------------------------------------------------------------- one epoch


def train_one_epoch(
    models, loader, conf, epoch, where, last_path, resumed=(0, None), save_within=None, stop_at=None
):
    """One pass over the training set (`where` = device, rank, world); returns the history row
    (learning rates, mean losses) and a few (input, output, target) triples from the last batch for
    samples.png. `resumed`: (steps already done, their loss sums) of a run resumed within the
    epoch. Every checkpoint_every_steps steps, and at step `stop_at` (then returning (None, None)),
    rank 0 calls save_within(steps, sums). Loss values reach the host every SHOW_EVERY steps, not
    at each step (a sync on a GPU)."""
    device, rank, world = where
    adversarial = epoch + 1 >= conf["begin_use_adv_loss_epoch"] and conf["adversarial_loss_weight"] > 0
    step = conf["lr_step_epochs"]
    lr_g = lr_at(epoch, conf["epochs"], conf["init_lr"], conf["final_lr"], step)
    lr_d = lr_at(epoch, conf["epochs"], conf["discriminator_init_lr"], conf["discriminator_final_lr"], step)
    set_learning_rates(models["opt_g"], lr_g)
    set_learning_rates(models["opt_d"], lr_d)
    models["generator"].train()
    # a run resumed from before a term existed lacks its sum: it starts at zero
    sums = dict.fromkeys(("loss", "rec", "pyr", *LIFT_TERMS, "adv", "d"), 0.0) | (resumed[1] or {})
    steps = resumed[0]
    used = tuple(k for k in LIFT_TERMS if conf[f"{LIFT_TERMS[k]}_loss_weight"] > 0)
    shown = ("loss", "rec", "pyr") + used + (("adv", "d") if adversarial else ())
    pending, every, last = [], conf["checkpoint_every_steps"], steps + len(loader)
    bar = tqdm(  # a resumed epoch's loader holds only the steps left: the bar counts the whole epoch
        loader,
        desc=f"epoch {epoch + 1}/{conf['epochs']}",
        disable=rank != 0,
        file=sys.stdout,
        initial=steps,
        total=last,
    )
    if models.get("sync_debug"):
        torch.cuda.set_sync_debug_mode("warn")
    timer, first = part_timer(device) if models.get("time_steps") else None, steps
    for batch in bar:
        if timer:
            timer("data")  # waiting for the loader
        terms, output, finite = train_step(models, batch, conf, adversarial, device, timer)
        if not finite:
            fail(
                f"loss became {terms['loss'].item()} at epoch {epoch + 1}, step {steps + 1}; stopping. "
                f"The last good checkpoint is {last_path}: lower init_lr or check the data",
                code=1,
            )
        steps += 1
        pending.append(torch.stack([terms[k].detach().float().reshape(()).to(device) for k in sums]))
        checkpoint = (every and steps % every == 0 or steps == stop_at) and steps < last
        if len(pending) == SHOW_EVERY or checkpoint or steps == last:
            for values in torch.stack(pending).tolist():  # in step order, as single steps would add
                for key, value in zip(sums, values):
                    sums[key] += value
            pending = []
            bar.set_postfix({k: f"{v / steps:.4f}" for k, v in sums.items() if k in shown})
        if checkpoint and rank == 0 and save_within:
            save_within(steps, sums)
        if steps == stop_at:
            bar.close()
            return None, None
        if timer:
            timer("bookkeeping")  # loss values to the host, the progress bar, checkpoints within
    if models.get("sync_debug"):
        torch.cuda.set_sync_debug_mode(0)
    means = {k: v / max(steps, 1) for k, v in sums.items()}
    if world > 1:
        reduced = torch.tensor([means[k] for k in sums], device=device)
        dist.all_reduce(reduced)
        means = dict(zip(sums, (reduced / world).tolist()))
    samples = [
        tuple(
            to_uint8(from_tensor(t[i].detach().float().clamp(0, 1).cpu()))
            for t in (batch[0], output, batch[1])
        )
        for i in range(min(4, len(output)))
    ]
    row = {
        "epoch": epoch + 1,
        "lr": lr_g,
        "d_lr": lr_d,
        "adversarial": int(adversarial),
        **{f"train_{k}": round(v, 6) for k, v in means.items()},
        **{
            f"time_{k}_ms": round(1000 * v / (steps - first), 2)
            for k, v in (timer.totals if timer else {}).items()
        },
    }
    return row, samples


SHOW_EVERY = 10  # steps between the loss values' trips to the host (the progress bar)
# curves.png and samples.png at most this often (history.csv every epoch): the plots took 1 s an
# epoch, and on a GPU an epoch of the 192-scene MSEC set (72 steps) is a few seconds
PLOT_SECONDS = 30


if __name__ == "__main__":
    main()
