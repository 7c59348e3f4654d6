"""The entry points of the chapter, one per record (``run_<experiment>(params, profile, ...)``): geometry checks
(Part 1), gradient flow over learning rates (Part 2), the modified-equation picture of GD (Part 3), SGD with
weight decay / momentum against the continuous theory and the discrete law (Part 4 and beyond), a timed slice of
the paper profile at full model size, and the kill-and-resume check.

Every record goes through ``replicate.results.record`` (key: the experiment, the full parameters, what tells
the runs of one experiment apart, and the chapter's code fingerprint); checkpoints live in the data cache.

    python -m replicate.papers.neural_mechanics.experiment paper_slice --profile paper \
        -p dataset_name=tiny-imagenet-shaped        # the timed slice of the paper profile (a GPU)
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from replicate import paths
from replicate.results import config_key, record

from . import data as nmdata
from . import geometry, symmetry
from .scoreboard import overall  # noqa: F401 - the chapter's headline numbers, also read from here
from .train import NETS, make_model, train

CHAPTER = "neural_mechanics"


def load_data(params):
    return nmdata.load(params)


def _checkpoint(profile: str, experiment: str, params, extra: dict) -> Path | None:
    """Where the run keeps its checkpoint (the data cache), named by the run's parameters."""
    if not params.checkpoint_every:
        return None
    from replicate.config import as_dict

    key = config_key(experiment, {"params": as_dict(params), "extra": extra})[:12]
    return paths.checkpoint_path(CHAPTER, profile, f"{experiment}-{key}")


def _summary_metrics(res: dict) -> dict:
    m = {}
    for name, g in res["groups"].items():
        for key in ("rel_cont", "rel_disc", "rel_conserved", "rel_change_cont", "rel_change_disc"):
            m[f"{name}/{key}"] = g[key]
    return m


# ------------------------------------------------------------------------------------------------------------
# Part 1

def run_geometry(params, profile: str, net: str, ds=None) -> dict:
    """Relative residuals of the gradient / Hessian identities for every group of ``net`` (+ controls)."""
    def fn():
        d = ds if ds is not None else load_data(params)
        X, y = nmdata.first(d, params.geometry_batch_size)
        model = make_model(params, net, d)
        df = geometry.check(model, X, y, params.geometry_per_layer, params.seed)
        return {"metrics": {f"max_rel/{k}/{i}/{'control' if c else 'sym'}": v for (k, i, c), v in
                            df.groupby(["kind", "identity", "control"])["relative residual"].max().items()},
                "rows": df.to_dict("records")}

    return record(CHAPTER, profile, "geometry", params, fn, extra={"net": net})


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


# ------------------------------------------------------------------------------------------------------------
# Part 2: gradient flow

def run_gradient_flow(params, profile: str, ds=None) -> list[dict]:
    """Full-batch GD, lambda = 0, beta = 0, for each learning rate in ``gf_learning_rates`` to the same time
    ``gf_time``, on both nets: one record per (net, learning rate)."""
    recs = []
    for net, eta in itertools.product(NETS, params.gf_learning_rates):
        steps = max(1, round(params.gf_time / eta))
        extra = {"net": net, "eta": eta, "lam": 0.0, "beta": 0.0, "batch": params.gf_batch_size, "steps": steps,
                 "full_batch": True}

        def fn(net=net, eta=eta, steps=steps, extra=extra):
            d = ds if ds is not None else load_data(params)
            res = train(params, net, d, eta=eta, lam=0.0, beta=0.0, batch_size=params.gf_batch_size, steps=steps,
                        record_every=max(1, steps // 20), full_batch=True,
                        checkpoint=_checkpoint(profile, "gradient_flow", params, extra), desc=f"GD {net} eta={eta}")
            return {"metrics": _summary_metrics(res), "curves": res}

        recs.append(record(CHAPTER, profile, "gradient_flow", params, fn, extra=extra))
    return recs


# ------------------------------------------------------------------------------------------------------------
# Part 3: the modified equation of gradient descent

#: The quadratic of Part 3: L(theta) = theta' A theta / 2 with A's eigenvalues 1 and 3 along rotated axes.
QUADRATIC = {"eigenvalues": (1.0, 3.0), "angle": 0.6, "theta0": (1.0, 0.8), "time": 3.0,
             "etas": (0.25, 0.125, 0.0625, 0.03125)}


def _quadratic_paths(q: dict, eta: float) -> dict:
    from scipy.linalg import expm

    c, s = np.cos(q["angle"]), np.sin(q["angle"])
    R = np.array([[c, -s], [s, c]])
    A = R @ np.diag(q["eigenvalues"]) @ R.T
    th0 = np.array(q["theta0"])
    steps = round(q["time"] / eta)
    gd = [th0]
    for _ in range(steps):
        gd.append(gd[-1] - eta * A @ gd[-1])  # g = A theta
    t = eta * np.arange(steps + 1)
    flow = np.stack([expm(-A * ti) @ th0 for ti in t])  # gradient flow
    modified = np.stack([expm(-(A + eta / 2 * A @ A) * ti) @ th0 for ti in t])  # d theta/dt = -g - eta/2 H g
    gd = np.stack(gd)
    return {"t": t.tolist(), "gd": gd.tolist(), "flow": flow.tolist(), "modified": modified.tolist(),
            "err_flow": float(np.linalg.norm(gd - flow, axis=1).max()),
            "err_modified": float(np.linalg.norm(gd - modified, axis=1).max())}


def run_modified_flow(params, profile: str) -> dict:
    """Part 3 on a quadratic loss: gradient descent's iterates against gradient flow and against the modified
    flow ``d theta/dt = -g - eta/2 H g``, for several learning rates to the same time; the largest distance of
    the iterates from each path, and its log-log slope in the learning rate."""
    def fn():
        runs = {str(eta): _quadratic_paths(QUADRATIC, eta) for eta in QUADRATIC["etas"]}
        etas = np.array(QUADRATIC["etas"])
        slope = {k: float(np.polyfit(np.log(etas), np.log([runs[str(e)][f"err_{k}"] for e in etas]), 1)[0])
                 for k in ("flow", "modified")}
        return {"metrics": {"slope_flow": slope["flow"], "slope_modified": slope["modified"],
                            **{f"err_flow/{e}": runs[str(e)]["err_flow"] for e in etas},
                            **{f"err_modified/{e}": runs[str(e)]["err_modified"] for e in etas}},
                "runs": runs}

    return record(CHAPTER, profile, "modified_flow", params, fn, extra={"quadratic": QUADRATIC})


# ------------------------------------------------------------------------------------------------------------
# Part 4: broken conservation

def sgd_plan(params) -> list[tuple[str, float, float, int]]:
    """(net, lambda, beta, batch) of every SGD run: each weight decay (beta = 0), each momentum (lambda =
    ``momentum_weight_decay``, batch ``momentum_batch_size``), on both nets."""
    runs = [(net, lam, 0.0, params.per_device_train_batch_size) for net in NETS for lam in params.weight_decays]
    runs += [(net, params.momentum_weight_decay, b, params.momentum_batch_size) for net in NETS for b in params.momenta]
    return runs


def run_sgd(params, profile: str, ds=None) -> list[dict]:
    """The SGD runs of ``sgd_plan``, each tracked: one record per run."""
    recs = []
    for net, lam, beta, bs in sgd_plan(params):
        extra = {"net": net, "eta": params.learning_rate, "lam": lam, "beta": beta, "batch": bs,
                 "steps": params.max_steps}

        def fn(net=net, lam=lam, beta=beta, bs=bs, extra=extra):
            d = ds if ds is not None else load_data(params)
            res = train(params, net, d, eta=params.learning_rate, lam=lam, beta=beta, batch_size=bs,
                        steps=params.max_steps, record_every=params.record_every,
                        checkpoint=_checkpoint(profile, "sgd", params, extra), desc=f"SGD {net} lambda={lam} beta={beta}")
            return {"metrics": _summary_metrics(res), "curves": res}

        recs.append(record(CHAPTER, profile, "sgd", params, fn, extra=extra))
    return recs


# ------------------------------------------------------------------------------------------------------------
# The paper profile, timed on a slice

def run_paper_slice(params, profile: str, steps: int = 300, warmup: int = 30, ds=None) -> dict:
    """``steps`` SGD steps of the profile's nets at full size (the paper profile: VGG-16 / VGG-16-BN, batch 256
    and 128, 64x64x3 inputs, 200 classes), tracked and untracked, timed after ``warmup`` steps; with the
    projected wall time of the profile's whole sweep (``sgd_plan`` x ``max_steps``, plus Part 2's full-batch
    runs scaled by their batch) on this device."""
    lam = params.momentum_weight_decay
    beta = max(params.momenta)
    plan = {"bn_tracked": ("bn", lam, 0.0, params.per_device_train_batch_size, True),
            "bn_untracked": ("bn", lam, 0.0, params.per_device_train_batch_size, False),
            "plain_tracked": ("plain", lam, 0.0, params.per_device_train_batch_size, True),
            "bn_momentum_tracked": ("bn", lam, beta, params.momentum_batch_size, True)}

    def fn():
        d = ds if ds is not None else load_data(params)
        out, metrics = {}, {}
        for name, (net, lam_, beta_, bs, track) in plan.items():
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            res = train(params, net, d, eta=params.learning_rate, lam=lam_, beta=beta_, batch_size=bs,
                        steps=warmup + steps, record_every=min(params.record_every, steps), track=track,
                        desc=f"slice {name}", warmup=warmup)
            sps = steps / res["seconds"]
            metrics[f"{name}/steps_per_s"] = sps
            if track:
                metrics[f"{name}/max_rel_disc"] = max(g["rel_disc"] for g in res["groups"].values())
                metrics[f"{name}/max_rel_cont"] = max(g["rel_cont"] for g in res["groups"].values())
            out[name] = {"net": net, "lam": lam_, "beta": beta_, "batch": bs, "tracked": track,
                         "loss": res["loss"], "cuda_graph": res.get("cuda_graph"), "note": res.get("note", ""),
                         "peak_memory_gib": (torch.cuda.max_memory_allocated() / 2**30
                                             if torch.cuda.is_available() else None)}
        metrics["tracking_overhead"] = metrics["bn_untracked/steps_per_s"] / metrics["bn_tracked/steps_per_s"] - 1
        wd = (metrics["bn_tracked/steps_per_s"] + metrics["plain_tracked/steps_per_s"]) / 2
        mom = metrics["bn_momentum_tracked/steps_per_s"]
        runs = sgd_plan(params)
        sgd_s = sum(params.max_steps / (mom if beta_ else wd) for _, _, beta_, _ in runs)
        gd_steps = sum(max(1, round(params.gf_time / e)) for e in params.gf_learning_rates) * len(NETS)
        gd_s = gd_steps * (params.gf_batch_size / params.per_device_train_batch_size) / wd
        metrics.update({"paper_slice_steps_per_s": metrics["bn_tracked/steps_per_s"],
                        "projected_sgd_hours": sgd_s / 3600, "projected_gd_hours": gd_s / 3600,
                        "projected_hours": (sgd_s + gd_s) / 3600, "sgd_runs": len(runs), "gd_steps": gd_steps})
        return {"metrics": metrics, "runs": out}

    return record(CHAPTER, profile, "paper_slice", params, fn, extra={"steps": steps, "warmup": warmup})


# ------------------------------------------------------------------------------------------------------------
# Kill and resume

def resume_check_code(profile: str, overrides: dict, net: str = "bn", beta: float = 0.9) -> str:
    """A training script for ``kill_and_resume`` (tests/resume.py): one SGD run of the profile (with
    ``overrides``; ``checkpoint_every`` must be set) that checkpoints to $CHECKPOINT, resumes from it when it
    exists, and prints its final numbers (loss curve, tracked errors and curves' last values, a digest of the
    final weights) as JSON on its last line. Deterministic kernels on a GPU, so that the runs can agree exactly."""
    return f"""
import hashlib, json, os
import torch
if torch.cuda.is_available():
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
from replicate import chapters
from replicate.papers.neural_mechanics import data as nmdata, train as nmtrain
params = chapters.get("neural_mechanics").resolve({profile!r}, {overrides!r})
ds = nmdata.load(params)
lam = params.momentum_weight_decay
bs = params.momentum_batch_size if {beta!r} else params.per_device_train_batch_size
res = nmtrain.train(params, {net!r}, ds, eta=params.learning_rate, lam=lam, beta={beta!r}, batch_size=bs,
                    steps=params.max_steps, record_every=params.record_every, checkpoint=os.environ["CHECKPOINT"])
out = {{"loss": res["loss"], "steps_run": res["steps_run"],
        "groups": {{k: [g["rel_cont"], g["rel_disc"], [float(v) for v in g["emp"][-1]],
                        [float(v) for v in g["disc"][-1]]] for k, g in res["groups"].items()}}}}
print(json.dumps(out))
"""


def _compare(a: dict, b: dict) -> dict:
    """Largest absolute difference between two runs' final numbers, and whether they are identical."""
    diffs = [abs(x - y) for x, y in zip(a["loss"], b["loss"])]
    for k, ga in a["groups"].items():
        gb = b["groups"][k]
        diffs += [abs(ga[0] - gb[0]), abs(ga[1] - gb[1])]
        diffs += [abs(x - y) for x, y in zip(ga[2] + ga[3], gb[2] + gb[3])]
    same = json.dumps(a["loss"]) == json.dumps(b["loss"]) and json.dumps(a["groups"]) == json.dumps(b["groups"])
    return {"max_abs_diff": max(diffs) if diffs else 0.0, "identical": same,
            "compared_values": len(diffs), "lengths_match": len(a["loss"]) == len(b["loss"])}


def run_resume_check(params, profile: str, kill_and_resume, workdir: Path, overrides: dict,
                     net: str = "bn", beta: float = 0.9, control: bool = True) -> dict:
    """Train one run straight, train it again SIGKILLed mid-way and resumed (``kill_and_resume`` of
    tests/resume.py), and (``control``) a second straight run, which shows the device's own run-to-run
    determinism; the record compares their final numbers."""
    code = resume_check_code(profile, overrides, net, beta)

    def fn():
        straight, resumed = kill_and_resume(code, Path(workdir))
        metrics = {"resumed_vs_straight": _compare(straight, resumed), "resumed_steps_run": resumed["steps_run"],
                   "steps": params.max_steps}
        if control:
            env = {**os.environ, "OMP_NUM_THREADS": "1", "REPLICATE_PROGRESS": "0",
                   "CHECKPOINT": str(Path(workdir) / "control.pt")}
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            metrics["straight_vs_straight"] = _compare(straight, json.loads(proc.stdout.strip().splitlines()[-1]))
        return {"metrics": metrics,
                "final": {"straight": straight, "resumed": resumed},
                "digest": hashlib.sha256(code.encode()).hexdigest()[:16]}

    return record(CHAPTER, profile, "resume_check", params, fn, extra={"net": net, "beta": beta, "control": control})


def main(argv: list[str] | None = None) -> int:
    """``python -m replicate.papers.neural_mechanics.experiment paper_slice --profile P -p k=v ...``"""
    import argparse

    from replicate import chapters

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("experiment", choices=["paper_slice", "modified_flow"])
    ap.add_argument("--profile", default="paper")
    ap.add_argument("-p", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--steps", type=int, default=300, help="timed steps of each paper_slice route")
    ap.add_argument("--warmup", type=int, default=30, help="untimed steps before them")
    a = ap.parse_args(argv)
    overrides = dict(kv.split("=", 1) for kv in a.p)
    params = chapters.get(CHAPTER).resolve(a.profile, overrides)
    if a.experiment == "paper_slice":
        rec = run_paper_slice(params, a.profile, steps=a.steps, warmup=a.warmup)
    else:
        rec = run_modified_flow(params, a.profile)
    print(json.dumps(rec["metrics"], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
