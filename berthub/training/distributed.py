"""Data-parallel training across processes started by torchrun (one process per GPU, or CPU processes).

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK and the rendezvous variables; `setup()` reads them and
joins the process group (nccl on GPU, gloo on CPU). Without torchrun everything here is a no-op on
one process. Several GPUs in one process (DataParallel) are not supported: launch one process per
GPU with `torchrun --nproc-per-node N -m berthub train ...`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from berthub.errors import ConfigError

logger = logging.getLogger("berthub")


@dataclass(frozen=True)
class Dist:
    """Where this process stands: its rank among `world_size` processes and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, writes files and pushes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Dist:
    """Join the torchrun process group if there is one, and pick this process's device.

    device: "auto" (GPU `LOCAL_RANK` when CUDA is available, else CPU), "cpu" or "cuda".
    """
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for but CUDA is not available here; use device='cpu' or 'auto'.")
    chosen = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(chosen)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if world_size == 1 and use_cuda and torch.cuda.device_count() > 1:
        logger.warning("%d GPUs are visible but berthub trains on one GPU per process; to use them all, "
                       "run `torchrun --nproc-per-node %d -m berthub train ...`.",
                       torch.cuda.device_count(), torch.cuda.device_count())
    return Dist(rank, world_size, local_rank, chosen)


def teardown() -> None:
    """Leave the process group (call once at the end of a torchrun job)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: Tensor, ctx: Dist) -> Tensor:
    """The element-wise sum of `tensor` over every rank (a new tensor; the input is untouched)."""
    total = tensor.detach().clone()
    if ctx.distributed:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def gather_objects(obj: Any, ctx: Dist) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank (picklable objects)."""
    if not ctx.distributed:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, ctx: Dist) -> Any:
    """Rank 0's `obj` on every rank."""
    if not ctx.distributed:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(ctx: Dist) -> None:
    if ctx.distributed:
        dist.barrier()


def wrap(module: nn.Module, ctx: Dist) -> nn.Module:
    """DistributedDataParallel around `module` when there are several ranks, else `module` itself.

    find_unused_parameters: a head may leave encoder parts without gradient (token heads never use
    the pooler), which DDP must be told about.
    """
    if not ctx.distributed:
        return module
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=True)


@contextlib.contextmanager
def maybe_no_sync(module: nn.Module, sync: bool) -> Iterator[None]:
    """Skip DDP's gradient all-reduce unless `sync` (only the last micro-batch of a step syncs)."""
    if sync or not isinstance(module, nn.parallel.DistributedDataParallel):
        yield
    else:
        with module.no_sync():
            yield
