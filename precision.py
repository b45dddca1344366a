"""The training device and precision: which GPU a process takes (alone or under torchrun),
bfloat16 autocast or float32, chosen by timing where it is not given (the gain of bfloat16 on a
CPU depends on the CPU underneath, not only on its flags: 2.3x one day on this project's machines,
none on later days, 1.3-1.9x on an Intel Xeon with AMX), and the one place the networks enter it
(training, validation and the probe)."""

import copy
import datetime
import os
import time

import torch
import torch.distributed as dist

# The other processes wait at a barrier while rank 0 validates and writes reports (CPU-bound
# scoring at full resolution): torch's 10-minute default would kill a run with a large validation set.
PROCESS_GROUP_TIMEOUT = datetime.timedelta(hours=2)


def visible_devices(conf_value, environ):
    """The CUDA_VISIBLE_DEVICES to set from the conf, or None to leave the environment alone: under
    torchrun (LOCAL_RANK set) every process must see every GPU to take cuda:LOCAL_RANK, and a value
    the environment already has (a scheduler's, or the user's) wins over the conf's."""
    if "LOCAL_RANK" in environ or "CUDA_VISIBLE_DEVICES" in environ:
        return None
    return conf_value


def choose_device(conf_value, environ=os.environ):
    """The process's device: cuda:LOCAL_RANK where CUDA is visible, else the CPU. Applies the conf's
    CUDA_VISIBLE_DEVICES first (visible_devices): CUDA reads it when it initialises, on first use."""
    value = visible_devices(conf_value, environ)
    if value is not None:
        environ["CUDA_VISIBLE_DEVICES"] = value
    if not torch.cuda.is_available():
        return torch.device("cpu")
    local = int(environ.get("LOCAL_RANK", 0))
    if local >= torch.cuda.device_count():
        raise ValueError(
            f"process {local} of torchrun wants GPU {local} but {torch.cuda.device_count()} are visible "
            f"(CUDA_VISIBLE_DEVICES={environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): "
            f"use --nproc_per_node={torch.cuda.device_count()} or fewer"
        )
    device = torch.device("cuda", local)
    torch.cuda.set_device(device)
    return device


def cuda_bf16_native():
    """bfloat16 convolutions in hardware: Ampere (compute capability 8) and later. This torch's
    is_bf16_supported() also says yes on older GPUs, where it is emulated (a T4, an RTX 20xx)."""
    return torch.cuda.get_device_capability()[0] >= 8


def set_float32_math(device):
    """On CUDA, float32 is float32: torch lets cuDNN use TF32 (10-bit mantissa) for convolutions on
    Ampere+ by default, so a "float32" run would score differently from the CPU's."""
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def use_bf16(precision, device, generator, shape, state, log):
    """'auto': bfloat16 autocast on a GPU that runs it natively (cuda_bf16_native); on a CPU with
    AVX-512 BF16 or AMX only where a short probe finds it faster (2.3x one day on this kind of CPU,
    no faster on later days with the same flags); float32 otherwise. A resumed run keeps the
    precision it started in."""
    if precision != "auto":
        return precision == "bf16"
    if state and "bf16" in state:
        return state["bf16"]
    if device.type == "cuda":
        return cuda_bf16_native()
    faster = cpu_has_bf16() and bf16_is_faster(generator, shape, log)
    if dist.is_available() and dist.is_initialized():  # every process trains in rank 0's choice
        flag = torch.tensor([int(faster)])
        dist.broadcast(flag, 0)
        faster = bool(flag.item())
    return faster


def bf16_is_faster(generator, shape, log, passes=3):
    """A few forward+backward passes of a copy of the generator on one batch, float32 and bfloat16
    autocast in turn (channels-last, after 2 warm-up passes each); each precision's fastest pass
    counts, and bfloat16 must win by 10%. Alternating and taking the fastest keeps a moment's
    jitter of a shared machine from deciding: with three passes of each in a row, one run chose
    float32 where bfloat16 was 1.8x faster (2026-12-05). The input comes from its own seeded
    generator, so the run's random streams are untouched."""
    net = copy.deepcopy(generator)
    x = to_device(torch.rand(shape, generator=torch.Generator().manual_seed(0)), torch.device("cpu"), True)

    def seconds(bf16):
        started = time.perf_counter()
        with autocast(torch.device("cpu"), bf16):
            out = net(x)
        out.float().mean().backward()
        return time.perf_counter() - started

    times = {False: [], True: []}
    for i in range(2 + passes):
        for bf16 in (False, True):
            spent = seconds(bf16)
            if i >= 2:
                times[bf16].append(spent)
    fp32, bf16 = min(times[False]), min(times[True])
    faster = fp32 / bf16 >= 1.1
    log(
        f"precision 'auto': fastest of {passes} passes of {tuple(shape)}: float32 {fp32:.2f} s, "
        f"bfloat16 {bf16:.2f} s; training in {'bfloat16' if faster else 'float32'}"
    )
    return faster


def cpu_has_bf16():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:  # not Linux: torch's own probe, where this torch has it
        return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(device, bf16):
    """The one place the networks enter bfloat16 (training, validation and the precision probe)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def to_device(batch, device, channels_last):
    batch = batch.to(device, non_blocking=True)
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch
