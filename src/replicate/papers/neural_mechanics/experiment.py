"""The runs behind the notebooks: geometry checks (Part 1), gradient flow over learning rates (Part 2) and SGD
with weight decay / momentum against the continuous theory and the discrete law (Parts 3-4 and beyond).

Every run is stored as a result record (``ResultStore``), keyed by its config, so a re-run re-uses it and the
book can show records made on a GPU.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from replicate import paths
from replicate.results import ResultStore, config_key
from replicate.train import Checkpointer, autocast, pick_device, progress, rng_state, seed_everything, set_rng_state

from . import data as nmdata
from . import geometry, symmetry
from .model import vgg
from .tracker import Tracker

CHAPTER = "neural_mechanics"
NETS = {"bn": True, "plain": False}  # VGG-BN (scale groups) and VGG without BN (rescale groups)


def load_data(params):
    return nmdata.load(params)


def _shape(ds) -> tuple[tuple[int, int, int], int]:
    if isinstance(ds, nmdata.TensorData):
        return ds.shape, ds.num_classes
    return (3, 64, 64), len(ds.wnids)


def make_model(params, net: str, ds) -> nn.Module:
    """The profile's VGG-style net, ``net`` = "bn" or "plain", initialised from ``params.seed``."""
    (c, h, _), k = _shape(ds)
    torch.manual_seed(params.seed)
    return vgg(params.arch, NETS[net], c, k, h, params.classifier_width)


def _common(params) -> dict:
    keys = ("seed", "dataset", "data_dir", "train_size", "arch", "classifier_width", "precision")
    return {k: getattr(params, k) for k in keys}


# ------------------------------------------------------------------------------------------------------------
# Part 1

def geometry_run(params, profile: str, net: str, ds=None) -> dict:
    """Relative residuals of the gradient / Hessian identities for every group of ``net`` (+ controls)."""
    cfg = {**_common(params), "net": net, "batch": params.geometry_batch, "per_layer": params.geometry_per_layer}

    def fn():
        d = ds if ds is not None else load_data(params)
        X, y = _batch(d, params.geometry_batch)
        model = make_model(params, net, d)
        df = geometry.check(model, X, y, params.geometry_per_layer, params.seed)
        return {"metrics": {f"max_rel/{k}/{i}/{'control' if c else 'sym'}": v for (k, i, c), v in
                            df.groupby(["kind", "identity", "control"])["relative residual"].max().items()},
                "rows": df.to_dict("records")}

    return ResultStore(CHAPTER, profile).run("geometry", cfg, fn, seed=params.seed)


def _batch(ds, n: int):
    if isinstance(ds, nmdata.TensorData):
        return ds.X[:n], ds.y[:n]
    xs, ys = zip(*(ds[i] for i in range(min(n, len(ds)))))
    return torch.stack(xs), torch.tensor(ys)


# ------------------------------------------------------------------------------------------------------------
# Training with the tracker

def _batches(ds, batch_size: int, device, seed: int, full_batch: bool, skip: int = 0):
    """Endless mini-batches: random permutations of a tensor data set (on device), or a DataLoader.

    ``skip``: batches already consumed (a resumed run). The tensor route replays the same permutations and
    continues exactly where the interrupted run stopped; the DataLoader route (image folders) starts a fresh
    shuffle seeded with ``seed + skip`` instead of reading the skipped images again."""
    if full_batch:
        X, y = _batch(ds, batch_size)
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
          record_every: int, full_batch: bool = False, checkpoint: Path | None = None, desc: str = "") -> dict:
    """SGD (PyTorch's, with ``weight_decay`` = lambda and ``momentum`` = beta) for ``steps`` steps with every
    symmetry group tracked online; returns the tracker's curves/errors and the loss curve."""
    device = pick_device(params.device)
    seed_everything(params.seed)
    model = make_model(params, net, ds).to(device)
    groups = symmetry.find_groups(model)
    opt = torch.optim.SGD(model.parameters(), lr=eta, momentum=beta, dampening=params.dampening if beta else 0.0,
                          weight_decay=lam)
    tracker = Tracker(model, groups, opt, eta=eta, lam=lam, beta=beta, dampening=params.dampening if beta else 0.0,
                      record_every=record_every, curves_per_layer=params.curves_per_layer, seed=params.seed)
    ckpt = Checkpointer(checkpoint, every=params.checkpoint_every or 1)
    start, losses = 0, []
    state = ckpt.load(map_location=device)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        tracker.load_state_dict(state["tracker"])
        set_rng_state(state["rng"])
        start, losses = state["step"], state["losses"]
    batches = _batches(ds, batch_size, device, params.seed, full_batch, skip=start)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    acc = torch.zeros((), device=device)
    for k in progress(range(start, steps), desc=desc or f"{net} eta={eta} lambda={lam} beta={beta}", leave=False):
        X, y = next(batches)
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
            ckpt.save({"model": model.state_dict(), "opt": opt.state_dict(), "tracker": tracker.state_dict(),
                       "rng": rng_state(), "step": k + 1, "losses": losses}, force=True)
    tracker.close()
    out = tracker.result()
    out["loss"] = [float(v) for v in torch.stack(losses).cpu()] if losses else []
    ckpt.clear()
    return out


def _ckpt(profile: str, experiment: str, cfg: dict, params) -> Path | None:
    if not params.checkpoint_every:
        return None
    return paths.results_dir() / CHAPTER / profile / "checkpoints" / f"{experiment}-{config_key(experiment, cfg)[:12]}.pt"


def _summary_metrics(res: dict) -> dict:
    m = {}
    for name, g in res["groups"].items():
        for key in ("rel_cont", "rel_disc", "rel_conserved", "rel_change_cont", "rel_change_disc"):
            m[f"{name}/{key}"] = g[key]
    return m


# ------------------------------------------------------------------------------------------------------------
# Part 2: gradient flow

def gradient_flow(params, profile: str, ds=None) -> list[dict]:
    """Full-batch GD, lambda = 0, beta = 0, for each eta in ``gf_etas`` to the same time ``gf_time``."""
    recs = []
    store = ResultStore(CHAPTER, profile)
    for net, eta in itertools.product(NETS, params.gf_etas):
        steps = max(1, round(params.gf_time / eta))
        cfg = {**_common(params), "net": net, "eta": eta, "lam": 0.0, "beta": 0.0, "batch": params.gf_batch,
               "steps": steps, "full_batch": True, "curves": params.curves_per_layer}

        def fn(net=net, eta=eta, steps=steps, cfg=cfg):
            d = ds if ds is not None else load_data(params)
            res = train(params, net, d, eta=eta, lam=0.0, beta=0.0, batch_size=params.gf_batch, steps=steps,
                        record_every=max(1, steps // 20), full_batch=True,
                        checkpoint=_ckpt(profile, "gradient_flow", cfg, params), desc=f"GD {net} eta={eta}")
            return {"metrics": _summary_metrics(res), "curves": res}

        recs.append(store.run("gradient_flow", cfg, fn, seed=params.seed))
    return recs


def drift_table(records: list[dict]) -> pd.DataFrame:
    """Per run and group kind: the drift max_t |X(t) - X(0)| / max_t |X| of the 'conserved' quantities."""
    rows = []
    for r in records:
        c = r["config"]
        for name, g in r["curves"]["groups"].items():
            rows.append({"net": c["net"], "eta": c["eta"], "steps": c["steps"], "group": name, "kind": g["kind"],
                         "drift": g["rel_conserved"], "discrete law error": g["rel_disc"]})
    df = pd.DataFrame(rows)
    return df.groupby(["kind", "eta"]).agg(drift=("drift", "max"), discrete_law_error=("discrete law error", "max"),
                                           steps=("steps", "first")).reset_index()


def drift_slopes(records: list[dict], smallest: int = 2) -> dict[str, float]:
    """Log-log slope of the max drift against eta per kind over the ``smallest`` learning rates (the discrete
    law predicts ~1 for scale/rescale when the gradients are similar along the runs)."""
    df = drift_table(records)
    out = {}
    for kind, d in df.groupby("kind"):
        d = d[d["drift"] > 0].nsmallest(smallest, "eta")
        if len(d) >= 2:
            out[kind] = float(np.polyfit(np.log(d["eta"]), np.log(d["drift"]), 1)[0])
    return out


# ------------------------------------------------------------------------------------------------------------
# Parts 3-4: broken conservation

def sgd_runs(params, profile: str, ds=None) -> list[dict]:
    """SGD with each weight decay in ``lambdas`` (beta = 0) and each momentum in ``betas`` (lambda =
    ``momentum_lambda``, batch ``momentum_batch_size``), on both nets."""
    runs = [(net, lam, 0.0, params.batch_size) for net in NETS for lam in params.lambdas]
    runs += [(net, params.momentum_lambda, b, params.momentum_batch_size) for net in NETS for b in params.betas]
    store = ResultStore(CHAPTER, profile)
    recs = []
    for net, lam, beta, bs in runs:
        cfg = {**_common(params), "net": net, "eta": params.eta, "lam": lam, "beta": beta, "batch": bs,
               "dampening": params.dampening if beta else 0.0, "steps": params.steps,
               "record_every": params.record_every, "curves": params.curves_per_layer}

        def fn(net=net, lam=lam, beta=beta, bs=bs, cfg=cfg):
            d = ds if ds is not None else load_data(params)
            res = train(params, net, d, eta=params.eta, lam=lam, beta=beta, batch_size=bs, steps=params.steps,
                        record_every=params.record_every, checkpoint=_ckpt(profile, "sgd", cfg, params),
                        desc=f"SGD {net} lambda={lam} beta={beta}")
            return {"metrics": _summary_metrics(res), "curves": res}

        recs.append(store.run("sgd", cfg, fn, seed=params.seed))
    return recs


def error_table(records: list[dict], by_group: bool = True) -> pd.DataFrame:
    """Max relative error of the continuous theory and of the discrete law vs the empirics, per run and group
    (errors: max over time of the error norm over the group's elements, divided by the max norm of the
    quantity, and by the max norm of its change since step 0)."""
    rows = []
    for r in records:
        c = r["config"]
        for name, g in r["curves"]["groups"].items():
            rows.append({"net": c["net"], "lambda": c["lam"], "beta": c["beta"], "group": name, "kind": g["kind"],
                         "theory (continuous)": g["rel_cont"], "discrete law": g["rel_disc"],
                         "conservation (Part 2)": g["rel_conserved"],
                         "theory / change": g["rel_change_cont"], "discrete / change": g["rel_change_disc"]})
    df = pd.DataFrame(rows)
    if by_group:
        return df
    return df.groupby(["net", "lambda", "beta", "kind"]).max(numeric_only=True).reset_index()


def diverged(records: list[dict]) -> list[tuple]:
    """(net, lambda, beta) of the runs whose tracked quantities went non-finite (no error can be computed)."""
    def bad(v):
        return v is None or (isinstance(v, float) and not math.isfinite(v))
    return sorted({(r["config"]["net"], r["config"]["lam"], r["config"]["beta"]) for r in records
                   if r["metrics"] and all(bad(v) for v in r["metrics"].values())})


def overall(records: list[dict]) -> dict[str, float]:
    """The chapter's headline numbers: max relative errors over all runs and groups."""
    df = error_table(records)
    out = {}
    for kind, d in df.groupby("kind"):
        out[f"{kind}/theory"] = float(d["theory (continuous)"].max())
        out[f"{kind}/discrete"] = float(d["discrete law"].max())
    return out


# ------------------------------------------------------------------------------------------------------------
# Figures

def plot_run(record: dict, kinds=("translation", "scale", "rescale"), max_groups: int = 8, axes_per_row: int = 4,
             law: str = "cont", profile: str | None = None):
    """Per layer: the empirical quantity of a few elements (coloured) and the theory (black dashed)."""
    import matplotlib.pyplot as plt

    cur = record["curves"]
    groups = [(n, g) for n, g in cur["groups"].items() if g["kind"] in kinds][:max_groups]
    rows = math.ceil(len(groups) / axes_per_row)
    cols = min(axes_per_row, len(groups))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    steps = np.asarray(cur["steps"])
    for ax, (name, g) in zip(axes.ravel(), groups):
        emp, th = np.asarray(g["emp"]), np.asarray(g[law])
        colors = plt.cm.viridis(np.linspace(0.05, 0.9, emp.shape[1]))
        for i in range(emp.shape[1]):
            ax.plot(steps, emp[:, i], color=colors[i], lw=1.6)
            ax.plot(steps, th[:, i], "k--", lw=0.9)
        ax.set_title(name.replace("->", "\n->"), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    c = record["config"]
    fig.suptitle(f"{c['net']} net, eta={c['eta']}, lambda={c['lam']}, beta={c['beta']}: empirics (colour), "
                 f"{'theory' if law == 'cont' else 'discrete law'} (black dashed)"
                 + (f"  [profile: {profile}]" if profile else ""), fontsize=9)
    fig.supxlabel("step", fontsize=8)
    fig.tight_layout()
    return fig


def plot_drift(records: list[dict], profile: str | None = None):
    """Drift of the gradient-flow 'conserved' quantities against the learning rate (same time t)."""
    import matplotlib.pyplot as plt

    df = drift_table(records)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for kind, d in df.groupby("kind"):
        ax.loglog(d["eta"], d["drift"].clip(lower=1e-18), "o-", label=kind)
    etas = sorted(df["eta"].unique())
    ax.set_xticks(etas, [f"{e:g}" for e in etas])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("learning rate eta (same t = eta * steps)")
    ax.set_ylabel("max_t |X(t) - X(0)| / max_t |X|")
    ax.legend()
    from replicate.plots import profile_title

    profile_title(ax, "Gradient flow: drift of conserved quantities", profile)
    return fig


def groups_table(params, ds) -> pd.DataFrame:
    """The symmetry groups the finder reports for both nets of the profile."""
    rows = []
    for net in NETS:
        for g in symmetry.find_groups(make_model(params, net, ds)):
            rows.append({"net": net, "kind": g.kind, "layer (A2 / A)": g.layer, "outgoing (A1)": g.outgoing or "",
                         "elements": g.size, "columns per unit": g.fan if g.kind == "rescale" else None,
                         "bias in group": g.has_bias})
    return pd.DataFrame(rows)


def torchvision_groups() -> pd.DataFrame:
    """Group counts on torchvision's VGG-11 / VGG-11-BN (10 classes): the finder on models it was not built for."""
    import torchvision

    rows = []
    for name in ("vgg11", "vgg11_bn"):
        model = getattr(torchvision.models, name)(num_classes=10)
        groups = symmetry.find_groups(model)
        for kind in symmetry.KINDS:
            rows.append({"model": f"torchvision {name}", "kind": kind,
                         "groups": sum(g.kind == kind for g in groups),
                         "elements": sum(g.size for g in groups if g.kind == kind)})
    return pd.DataFrame(rows)
