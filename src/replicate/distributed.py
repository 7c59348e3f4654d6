"""Training on N processes with torch.distributed (torchrun + DDP), the same way in every chapter.

A chapter's experiment entry point is marked ``@distributed.entry``. Called in a notebook's kernel with
``REPLICATE_NPROC=N > 1`` (``replicate run CHAPTER --nproc N``, ``make book NPROC=N``), it runs itself under
``torchrun --standalone --nproc_per_node N`` (``python -m replicate.launch``), waits, and then returns the record
that rank 0 stored (the kernel's own call finds it by its key). Inside the workers, and whenever N = 1, it just
runs. The number of processes is not part of a record's key (the same config on 1 and N processes is the same
experiment, up to the batch order); the record's meta says how many processes made it.

The training loops use ``setup`` (device and process group: NCCL on GPUs, gloo on the CPU), ``shard`` (every rank
takes the same number of steps), ``wrap`` (DDP) and ``mean``/``broadcast`` for metrics and objects.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from .config import UsageError, as_dict


def nproc() -> int:
    """How many processes a run should use: REPLICATE_NPROC (default 1)."""
    try:
        n = int(os.environ.get("REPLICATE_NPROC", "1") or 1)
    except ValueError:
        raise UsageError(f"REPLICATE_NPROC must be a positive integer, got {os.environ['REPLICATE_NPROC']!r}") from None
    if n < 1:
        raise UsageError(f"--nproc must be at least 1, got {n}")
    return n


def in_worker() -> bool:
    """True inside a torchrun worker (WORLD_SIZE set by the launcher)."""
    return "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_dist() -> bool:
    return world_size() > 1


def setup(preference: str = "auto"):
    """(device, rank, world size). Under torchrun with WORLD_SIZE > 1 joins the process group (NCCL on GPUs,
    gloo on the CPU) and takes the GPU of its local rank."""
    import torch
    import torch.distributed as dist

    from .train import pick_device

    device = pick_device(preference)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device, dist.get_rank(), dist.get_world_size()
    return device, 0, 1


def teardown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(indices, rank_: int | None = None, world: int | None = None):
    """Rank ``rank_``'s share of ``indices`` (a permutation already shuffled alike on every rank), padded by
    wrapping around so that every rank takes the same number of steps (DistributedSampler's rule; an uneven
    count would leave one rank waiting in DDP's all-reduce for ever)."""
    import numpy as np

    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    idx = np.asarray(indices)
    if world == 1:
        return idx
    total = -(-len(idx) // world) * world
    return np.resize(idx, total)[rank_::world]


def wrap(model, device):
    """DDP around ``model`` when there are several processes; the model itself otherwise."""
    if not is_dist():
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)


def mean(value: float, device=None) -> float:
    """The mean of a scalar over the ranks (the scalar itself on one process)."""
    if not is_dist():
        return float(value)
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / world_size()


def broadcast(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s Python object on every rank."""
    if not is_dist():
        return obj
    import torch.distributed as dist

    box = [obj if rank() == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if is_dist():
        import torch.distributed as dist

        dist.barrier()


def launch(target: str, chapter: str, profile: str, params, extra: dict | None, n: int) -> None:
    """Run ``target`` ("module:function", an ``@entry`` function) as ``function(params, profile, **extra)`` on
    ``n`` processes under torchrun; raise if any rank fails."""
    with tempfile.TemporaryDirectory(prefix="replicate-launch-") as tmp:
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"target": target, "chapter": chapter, "profile": profile,
                                    "params": as_dict(params), "extra": extra or {}}))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
               "-m", "replicate.launch", str(spec)]
        env = {**os.environ, "REPLICATE_NPROC": "1"}
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
        print(f"launching {target} on {n} processes: {' '.join(cmd)}", flush=True)
        proc = subprocess.run(cmd, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{target} failed on {n} processes (torchrun exit {proc.returncode}); see the log above")


def entry(chapter: str) -> Callable:
    """Mark an experiment entry point ``fn(params, profile, **extra) -> record`` of ``chapter`` as one that runs
    on REPLICATE_NPROC processes when asked (see the module's docstring)."""
    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(params, profile: str, **extra):
            n = nproc()
            if n > 1 and not in_worker():
                launch(f"{fn.__module__}:{fn.__qualname__}", chapter, profile, params, extra, n)
            return fn(params, profile, **extra)

        wrapper.distributed_entry = True
        return wrapper
    return deco
