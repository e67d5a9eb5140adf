"""Several GPUs (or CPU processes) through torchrun: process group set-up and helpers."""

import os

import torch
import torch.distributed as dist


def setup():
    """
    Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK); return the device.

    NCCL on CUDA, gloo on the CPU. A single process (no torchrun) needs no group.

    :raises RuntimeError: when this node runs more processes than it has visible GPUs.
    """
    world = int(os.environ.get('WORLD_SIZE', '1'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = torch.device(f'cuda:{local_rank}' if torch.cuda.is_available() else 'cpu')
    if device.type == 'cuda':
        gpus = torch.cuda.device_count()
        if local_rank >= gpus:
            raise RuntimeError(
                f'process {local_rank} of this node has no GPU: {gpus} visible, one per process; '
                f'start at most {gpus} (torchrun --nproc_per_node={gpus}), or hide the GPUs '
                f'(CUDA_VISIBLE_DEVICES=) to train CPU processes with gloo')
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    return device


def teardown():
    """
    Leave the process group (a no-op without one).

    Call before the process exits: a gloo group still alive at interpreter shutdown can abort
    the process ("terminate called without an active exception").
    """
    if dist.is_initialized():
        dist.destroy_process_group()


def rank():
    """Return the rank of this process (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size():
    """Return the number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def sum_over_processes(value):
    """Sum a tensor over all processes (every process must call this)."""
    if world_size() > 1:
        value = value.clone()
        dist.all_reduce(value)
    return value


def mean_over_processes(value):
    """Average a tensor over all processes (every process must call this)."""
    return sum_over_processes(value) / world_size()


def barrier():
    """Wait for every process (a no-op without a process group)."""
    if world_size() > 1:
        dist.barrier()
