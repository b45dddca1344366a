"""Issue 38's host-side proxy for a GPU step: the kernel-launching aten ops of one train step
(optimiser excluded: on CUDA Adam is foreach) against the generator's own forward+backward, on the
CPU, for the tree at ROOT with its own conf defaults. Batch of the conf, 128x128 crops, 256x256
full photos, float32. A count, not a GPU time (docs/benchmarks.md).

    python results/ab38/step_ops.py .                       # HEAD
    python results/ab38/step_ops.py . msec                  # HEAD, batches of the conf's training photos
    git worktree add /tmp/b15 b15f441 && python results/ab38/step_ops.py /tmp/b15
"""
import sys
from collections import Counter

import torch
from torch.profiler import ProfilerActivity, profile

root = sys.argv[1]
real = sys.argv[2:] == ["msec"]
sys.path.insert(0, root)
import loss as losses  # noqa: E402  (the tree at ROOT, not this one)
import model as M  # noqa: E402

try:  # issue 38 moved the step into step.py and the conf into config.py
    from config import read_conf
    from dataset import lift_groups
    from step import generator_groups, train_step
except ImportError:
    from train import generator_groups, train_step
    from utils import read_conf

    lift_groups = None
# the architecture keys of every tree (later ones add ARCH_DEFAULTS' keys)
ARCH = ("laplacian_level_count", "layer_count_of_every_unet", "first_layer_out_channels_of_every_unet",
        "use_iaff", "iaff_r", "use_psa")
# ops that allocate, alias or reshape: no kernel of their own
FREE = {"aten::empty", "aten::empty_strided", "aten::as_strided", "aten::as_strided_", "aten::resize_",
        "aten::detach", "aten::view", "aten::_reshape_alias", "aten::lift_fresh", "aten::unsqueeze",
        "aten::alias"}


def launched(fn):
    """Leaf aten ops of fn's second call outside any optimiser step, and the most common."""
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as p:
        fn()
    events = p.events()
    steps = [e.time_range for e in events if e.name.startswith("Optimizer.step")]
    leaf = [e for e in events if e.name.startswith("aten::") and e.name not in FREE
            and not any(c.name.startswith("aten::") for c in e.cpu_children)
            and not any(s.start <= e.time_range.start and e.time_range.end <= s.end for s in steps)]
    return len(leaf), Counter(e.name for e in leaf).most_common(5)


def main():
    conf = read_conf(root + "/conf.json")["train"]
    torch.manual_seed(0)
    arch = {k: conf[k] for k in conf if k in getattr(M, "ARCH_DEFAULTS", {}) or k in ARCH}
    g = M.build_generator(arch)
    d = M.Discriminator(conf["discriminator_image_size"])
    models = {"generator": g, "generator_ddp": g, "discriminator": d, "discriminator_ddp": d, "bf16": False,
              "channels_last": False, "opt_d": torch.optim.Adam(d.parameters(), lr=1e-5),
              "opt_g": torch.optim.Adam(generator_groups(g, conf["global_head_lr_scale"]), lr=1e-4)}
    if real:  # the lift runs once per group of same-sized photos: real batches have several
        return real_batches(conf, models)
    b, h, w = conf["batch_size"], 128, 128
    inputs, targets = torch.rand(b, 3, h, w), torch.rand(b, 3, h, w)
    full_in = [torch.rand(3, 2 * h, 2 * w) for _ in range(b)]
    full_gt = [torch.rand(3, 2 * h, 2 * w) for _ in range(b)]
    valid = [(h, w)] * b
    if lift_groups:
        batch = (inputs, targets, lift_groups(full_in, full_gt, valid), valid)
    else:
        batch = (inputs, targets, full_in, full_gt, valid)

    def alone():  # the network's own work: forward, an L1 loss, backward
        g.zero_grad(set_to_none=True)
        losses.reconstruction_loss(g(inputs).float(), targets).backward()

    for name, fn in [("generator alone", alone),
                     ("train step", lambda: train_step(models, batch, conf, False, torch.device("cpu"))),
                     ("train step, adversarial", lambda: train_step(models, batch, conf, True,
                                                                    torch.device("cpu")))]:
        count, top = launched(fn)
        print(f"{root} {name}: {count} ops; most common {top}")


def real_batches(conf, models, sizes=(128, 512), draws=3):
    """Op counts on batches drawn (seed 0) from the conf's training pairs at two working sizes."""
    import random

    from dataset import build_dataset, collate_groups

    multiple = M.size_multiple(conf["laplacian_level_count"], conf["layer_count_of_every_unet"])
    data = build_dataset(conf, conf["train_data_dir"], conf["paired_train_input_dir"],
                         conf["paired_train_gt_dir"], True, multiple, lambda *_: None)
    random.seed(0)
    for size in sizes:
        for _ in range(draws):
            batch = collate_groups([data[(i, size, 0)] for i in random.sample(range(len(data)),
                                                                               conf["batch_size"])])
            count, _ = launched(lambda: train_step(models, batch, conf, False, torch.device("cpu")))
            shapes = [(len(items), tuple(full.shape[2:])) for items, full, _ in batch[2]]
            print(f"{root} working size {size}: {len(shapes)} groups {shapes}: {count} ops")


main()
