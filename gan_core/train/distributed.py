"""Several processes training one model with ``torch.distributed`` (data parallel).

Launch with ``torchrun --nproc_per_node N -m gan_core train ...`` (one process per GPU; on a
CPU-only machine N processes with the gloo backend), or ``ganscope train --gpus N``, which
spawns the N processes itself on this machine. Multi-node: torchrun's ``--nnodes``,
``--node_rank`` and ``--rdzv-endpoint`` as usual.

Gradients are averaged with one all-reduce of a flattened buffer per optimizer step (not
``DistributedDataParallel``: R1 and path-length regularization need double back-propagation,
which DDP's hooks do not support).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, …), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if not dist.is_initialized():
        # torch.distributed.nn.functional binds the default group as a default argument when it is
        # imported; torch.optim imports it lazily (through torch._dynamo) when the first optimizer
        # is made. Imported after the group exists, it keeps the group alive past
        # destroy_process_group, until the interpreter is torn down, and then a gloo worker thread
        # that still holds a finished collective's tensors needs the GIL and aborts the process
        # ("terminate called without an active exception"; 2 in 31 resumed 2-process runs on a
        # loaded 2-core machine). Imported first, it binds None.
        import torch.distributed.nn.functional  # noqa: F401

        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def shutdown(info: DistInfo, finished_cleanly: bool = True) -> None:
    if info.enabled and dist.is_initialized():
        if finished_cleanly:
            # Every process leaves together (not after an error: a peer may be inside another
            # collective and would wait for this one forever).
            try:
                dist.barrier()
            except (RuntimeError, ValueError):
                pass  # a peer is gone already; destroy what is left of the group anyway
        dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if not info.enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo, replace_nonfinite: bool = True) -> None:
    """Average ``.grad`` over processes (missing gradients count as zeros) and replace NaN/Inf
    (which float16 blocks can produce) by finite values — unless ``replace_nonfinite`` is False:
    a loss scaler must see them to skip the step (``gan_core.train.amp``)."""
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    if info.enabled:
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
        dist.all_reduce(flat)
        flat /= info.world_size
        offset = 0
        for p in params:
            n = p.numel()
            g = flat[offset:offset + n].view_as(p)
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)
            offset += n
    for p in params:
        if p.grad is not None and replace_nonfinite:
            torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)


# StyleGAN's mapping ``w_avg`` and StyleGAN3's ``magnitude_ema``; BigGAN's stored batch-norm
# statistics (the ones its G uses in eval mode).
TRACKED_BUFFERS = ("w_avg", "magnitude_ema", "stored_mean", "stored_var")


def average_tracked_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Average the running statistics a network updates from its own batch (``TRACKED_BUFFERS``)
    over processes, so every process keeps the same network (their mean is the statistic of
    the whole batch, the EMAs being linear)."""
    if not info.enabled:
        return
    bufs = [b for name, b in module.named_buffers() if name.rsplit(".", 1)[-1] in TRACKED_BUFFERS]
    if not bufs:
        return
    flat = torch.cat([b.detach().flatten().float() for b in bufs])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    with torch.no_grad():
        for b in bufs:
            n = b.numel()
            b.copy_(flat[offset:offset + n].view_as(b))
            offset += n


def networks_in_sync(nets: list[torch.nn.Module], info: DistInfo, device: torch.device) -> bool:
    """Whether every process holds the same ``nets`` (a checksum of parameters and buffers
    compared over processes); True without a process group."""
    if not info.enabled:
        return True
    with torch.no_grad():
        total = torch.stack([torch.cat([p.detach().double().flatten() for p in
                                        list(net.parameters()) + list(net.buffers())]).sum()
                             for net in nets]).to(device)
    lo = -all_reduce_max(-total, info)
    hi = all_reduce_max(total, info)
    return bool(torch.equal(lo, hi))


def latent_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of process ``rank``'s latent generator: ``seed`` itself for process 0 of a new run
    (what one process draws), other processes apart from it, and a fresh stream at ``step`` for a
    resume with another process count. (A CPU generator keeps only 32 bits of its seed.)"""
    return (seed + 1_000_003 * rank + 7919 * step) % 2 ** 32


def own_process_state(ts: dict | None, dist: DistInfo) -> dict | None:
    """This process's part of a snapshot's ``training_state``: ``ranks[rank]`` when the snapshot
    was written by as many processes, the one-process state (its ``rng``) for a one-process run
    resumed alone, else None (the process count changed: each process starts new streams)."""
    if not ts:
        return None
    ranks = ts.get("ranks")
    if isinstance(ranks, list) and len(ranks) == dist.world_size:
        return ranks[dist.rank]
    if dist.world_size == 1 and ts.get("world_size", 1) == 1:
        return {"rng": ts.get("rng")}
    return None


def gather_objects(obj, info: DistInfo) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process (``[obj]`` without a group)."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t)
    return t


def all_reduce_max(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t
