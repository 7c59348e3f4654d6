"""Training with the tracker: SGD (PyTorch's) on the chapter's VGG-style nets with every symmetry group tracked
online, checkpointed in the data cache and resumed through ``replicate.train.resume``."""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from replicate.train import Checkpointer, autocast, pick_device, progress, resume, seed_everything, snapshot

from . import data as nmdata
from . import symmetry
from .model import vgg
from .tracker import Tracker

NETS = {"bn": True, "plain": False}  # VGG-BN (scale groups) and VGG without BN (rescale groups)


def make_model(params, net: str, ds) -> nn.Module:
    """The profile's VGG-style net, ``net`` = "bn" or "plain", initialised from ``params.seed``."""
    (c, h, _), k = nmdata.shape_of(ds)
    torch.manual_seed(params.seed)
    return vgg(params.arch, NETS[net], c, k, h, params.classifier_width)


def set_tf32(allow: bool) -> None:
    """cuDNN convolutions and cuBLAS matmuls in TF32 or in full fp32 (``allow_tf32``)."""
    torch.backends.cudnn.allow_tf32 = bool(allow)
    torch.backends.cuda.matmul.allow_tf32 = bool(allow)


def batches(ds, batch_size: int, device, seed: int, full_batch: bool, skip: int = 0):
    """Endless mini-batches: random permutations of a tensor data set (on device), or a DataLoader.

    ``skip``: batches already consumed (a resumed run). The tensor route replays the same permutations and
    continues exactly where the interrupted run stopped; the DataLoader route (image folders) starts a fresh
    shuffle seeded with ``seed + skip`` instead of reading the skipped images again."""
    if full_batch:
        X, y = nmdata.first(ds, batch_size)
        X, y = X.to(device), y.to(device)
        while True:
            yield X, y
    if isinstance(ds, nmdata.TensorData):
        X, y = ds.X.to(device), ds.y.to(device)
        g = torch.Generator().manual_seed(seed)
        n = len(y)
        per_epoch = n // batch_size
        for _ in range(skip // per_epoch):
            torch.randperm(n, generator=g)
        first = (skip % per_epoch) * batch_size
        while True:
            perm = torch.randperm(n, generator=g).to(device)
            for i in range(first, n - batch_size + 1, batch_size):
                idx = perm[i:i + batch_size]
                yield X[idx], y[idx]
            first = 0
    from torch.utils.data import DataLoader

    g = torch.Generator().manual_seed(seed + skip)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=8, generator=g,
                        pin_memory=device.type == "cuda", persistent_workers=True)
    while True:
        for X, y in loader:
            yield X.to(device, non_blocking=True), y.to(device, non_blocking=True)


def train(params, net: str, ds, *, eta: float, lam: float, beta: float, batch_size: int, steps: int,
          record_every: int, full_batch: bool = False, checkpoint: Path | None = None, desc: str = "",
          track: bool = True, warmup: int = 0) -> dict:
    """SGD (PyTorch's, with ``weight_decay`` = lambda and ``momentum`` = beta) for ``steps`` steps with every
    symmetry group tracked online (``track``); returns the tracker's curves/errors, the loss curve and the wall
    time of the steps (``seconds``: the steps after the first ``warmup`` of this process; a resumed run counts
    only its own steps)."""
    device = pick_device(params.device)
    set_tf32(params.allow_tf32)
    seed_everything(params.seed)
    model = make_model(params, net, ds).to(device)
    dampening = params.dampening if beta else 0.0
    opt = torch.optim.SGD(model.parameters(), lr=eta, momentum=beta, dampening=dampening, weight_decay=lam)
    tracker = None
    if track:
        tracker = Tracker(model, symmetry.find_groups(model), opt, eta=eta, lam=lam, beta=beta, dampening=dampening,
                          record_every=record_every, curves_per_layer=params.curves_per_layer, seed=params.seed)
    ckpt = Checkpointer(checkpoint, every=params.checkpoint_every or 1)
    start, losses = 0, []
    state = resume(ckpt, model=model, optimizer=opt)
    if state is not None:
        if tracker is not None:
            tracker.load_state_dict(state["tracker"])
        start, losses = state["step"], [torch.as_tensor(v, device=device) for v in state["losses"]]
    stream = batches(ds, batch_size, device, params.seed, full_batch, skip=start)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    acc = torch.zeros((), device=device)
    t0 = time.perf_counter()
    for k in progress(range(start, steps), desc=desc or f"{net} eta={eta} lambda={lam} beta={beta}", leave=False):
        if k == start + warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        X, y = next(stream)
        opt.zero_grad(set_to_none=False)
        with autocast(device, params.precision):
            loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()  # the tracker's hook runs here
        acc += loss.detach().float()
        if (k + 1) % record_every == 0:
            losses.append(acc / record_every)
            acc = torch.zeros((), device=device)
        if ckpt.enabled and params.checkpoint_every and (k + 1) % params.checkpoint_every == 0 and k + 1 < steps:
            ckpt.save(snapshot(model=model, optimizer=opt, step=k + 1, losses=[v.cpu() for v in losses],
                               tracker=tracker.state_dict() if tracker is not None else None), force=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    out: dict = {}
    if tracker is not None:
        tracker.close()
        out = tracker.result()
    out["loss"] = [float(v) for v in torch.stack(losses).cpu()] if losses else []
    out["seconds"], out["steps_run"] = seconds, steps - start
    ckpt.clear()
    return out
