"""Shared training support: device, precision, seeding, progress and checkpoints that survive interruption."""
from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from .config import UsageError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


def pick_device(preference: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU. Asking for ``cuda`` on a machine without one is a usage error."""
    if preference not in DEVICES:
        raise UsageError(f"unknown device {preference!r}; valid choices: {', '.join(DEVICES)}")
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' was asked for but no CUDA GPU is visible; use device=cpu or device=auto")
    return torch.device(preference)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 on a GPU that supports it, fp32 otherwise."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; valid choices: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return precision


def autocast(device: torch.device, precision: str = "auto"):
    """A bf16 autocast context on the GPU (when asked for or by default), a no-op otherwise."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def progress(iterable: Iterable | None = None, **kwargs):
    """tqdm progress (notebook widget-free, so executed notebooks and logs stay readable).

    Disabled when REPLICATE_PROGRESS=0."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", os.environ.get("REPLICATE_PROGRESS", "1") == "0")
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 1.0)
    return tqdm(iterable, **kwargs)


def set_threads(n: int | None = None) -> None:
    """Use the machine's cores for CPU work (torch defaults can oversubscribe small machines). Without ``n``:
    REPLICATE_THREADS, else OMP_NUM_THREADS (torchrun sets it per worker), else every core."""
    n = n or int(os.environ.get("REPLICATE_THREADS") or os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
    torch.set_num_threads(max(1, n))


class Checkpointer:
    """Save and restore training state so that an interrupted run resumes where it stopped.

    The state is a dict (model/optimizer state dicts, step, RNG states, anything else); it is written to a
    temporary file and renamed, so a crash mid-write leaves the previous checkpoint intact."""

    def __init__(self, path: Path | str | None, every: int = 1):
        self.path = Path(path) if path else None
        self.every = max(1, int(every))

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def load(self, map_location: Any = "cpu") -> dict | None:
        if not self.enabled or not self.path.is_file():
            return None
        return torch.load(self.path, map_location=map_location, weights_only=False)

    def save(self, state: dict, step: int | None = None, force: bool = False) -> bool:
        if not self.enabled:
            return False
        if not force and step is not None and (step % self.every) != 0:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def clear(self) -> None:
        if self.enabled:
            self.path.unlink(missing_ok=True)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured. torch wants its states as CPU ByteTensors: a state that a checkpoint
    loaded onto a GPU (``map_location=device``) is moved back first, which is what made resuming fail on CUDA."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(torch.as_tensor(state["torch"]).detach().to("cpu", torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        cuda = [torch.as_tensor(t).detach().to("cpu", torch.uint8) for t in state["cuda"]]
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


_STATEFUL = ("model", "optimizer", "scheduler", "scaler")


def _unwrap(obj):
    return getattr(obj, "module", obj)  # DistributedDataParallel / torch.compile wrappers keep the real module


def snapshot(model=None, optimizer=None, scheduler=None, scaler=None, **more) -> dict:
    """What a ``Checkpointer`` saves: the state dicts of the objects given, the RNG states, and ``more``
    (step, epoch, curves ...)."""
    state = {"rng": rng_state(), **more}
    for name, obj in zip(_STATEFUL, (model, optimizer, scheduler, scaler)):
        if obj is not None:
            state[name] = (_unwrap(obj) if name == "model" else obj).state_dict()
    return state


def resume(checkpointer: "Checkpointer", model=None, optimizer=None, scheduler=None, scaler=None) -> dict | None:
    """The one resume path of every chapter: load the checkpoint to the CPU, load the state dicts into the
    objects (already on their device: ``load_state_dict`` copies across), then restore the RNG states. Returns
    the checkpoint's state (step, curves ... under their own keys) or None when there is none."""
    state = checkpointer.load(map_location="cpu")
    if state is None:
        return None
    for name, obj in zip(_STATEFUL, (model, optimizer, scheduler, scaler)):
        if obj is not None and name in state:
            (_unwrap(obj) if name == "model" else obj).load_state_dict(state[name])
    if "rng" in state:
        set_rng_state(state["rng"])
    return state
