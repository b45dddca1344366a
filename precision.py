"""The training precision: bfloat16 autocast or float32, chosen by timing where it is not given
(the gain of bfloat16 on a CPU depends on the CPU underneath, not only on its flags: 2.3x one day
on this project's machines, none on later days, 1.3-1.9x on an Intel Xeon with AMX), and the one
place the networks enter it (training, validation and the probe)."""

import copy
import time

import torch
import torch.distributed as dist


def use_bf16(precision, device, generator, shape, state, log):
    """'auto': bfloat16 autocast on CUDA with bf16; on a CPU with AVX-512 BF16 or AMX only where a
    short probe finds it faster (2.3x one day on this kind of CPU, no faster on later days with the
    same flags); float32 otherwise. A resumed run keeps the precision it started in."""
    if precision != "auto":
        return precision == "bf16"
    if state and "bf16" in state:
        return state["bf16"]
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    faster = cpu_has_bf16() and bf16_is_faster(generator, shape, log)
    if dist.is_available() and dist.is_initialized():  # every process trains in rank 0's choice
        flag = torch.tensor([int(faster)])
        dist.broadcast(flag, 0)
        faster = bool(flag.item())
    return faster


def bf16_is_faster(generator, shape, log, passes=3):
    """Seconds of a few forward+backward passes of a copy of the generator on one batch, float32
    then bfloat16 autocast (channels-last, after 2 warm-up passes each); bfloat16 must win by 10%.
    The input comes from its own seeded generator, so the run's random streams are untouched."""
    net = copy.deepcopy(generator)
    x = to_device(torch.rand(shape, generator=torch.Generator().manual_seed(0)), torch.device("cpu"), True)

    def seconds(bf16):
        for i in range(2 + passes):
            if i == 2:
                started = time.perf_counter()
            with autocast(torch.device("cpu"), bf16):
                out = net(x)
            out.float().mean().backward()
        return time.perf_counter() - started

    fp32, bf16 = seconds(False), seconds(True)
    faster = fp32 / bf16 >= 1.1
    log(
        f"precision 'auto': {passes} passes of {tuple(shape)}: float32 {fp32:.2f} s, bfloat16 {bf16:.2f} s; "
        f"training in {'bfloat16' if faster else 'float32'}"
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
