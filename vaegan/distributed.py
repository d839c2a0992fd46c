"""torchrun / DistributedDataParallel: the one place that knows about ranks.

`torchrun --standalone --nproc_per_node=K train.py ...` sets RANK / WORLD_SIZE / LOCAL_RANK;
without them everything here is a no-op and vaegan runs as one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    """Join the process group torchrun describes (nccl on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    info = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return info


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """Rank 0 under torchrun; always True without it."""
    return not is_distributed() or dist.get_rank() == 0


def barrier() -> None:
    """Every rank waits here for the others (a no-op without DDP)."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        tensor = tensor.clone()
        dist.all_reduce(tensor)
    return tensor


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    return all_reduce_sum(tensor) / dist.get_world_size() if is_distributed() else tensor


def global_batch(t: torch.Tensor) -> torch.Tensor:
    """All ranks' rows of t, with gradients (their backward sums into each rank's own rows, which
    DDP's gradient mean turns back into one process's gradient); t itself without DDP."""
    if not is_distributed():
        return t
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(t))


def gather_objects(obj: object) -> list:
    """`obj` from every rank, in rank order, on every rank (a list of one without DDP)."""
    if not is_distributed():
        return [obj]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on any (e.g. a signal that reached one rank)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_for_step(module: torch.nn.Module, dist_info: Dist, device: torch.device, compile: bool) -> torch.nn.Module:
    """What the training step calls: DDP under torchrun (GroupNorm only, so no buffers to sync),
    then torch.compile with --compile; the module itself otherwise."""
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        module = DDP(module, device_ids=[device.index] if device.type == "cuda" else None)
    if not compile:
        return module
    # The loss differentiates through the networks more than once (retain_graph, for the adaptive
    # weight); a compiled backward that donates its buffers refuses that, as soon as a batch of
    # another size (an epoch's last) makes it recompile.
    torch._functorch.config.donated_buffer = False
    return torch.compile(module)
