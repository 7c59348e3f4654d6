"""Part 1: symmetry constrains the gradient and the Hessian. Checked numerically on a real network.

For a group element with generator ``v = d psi/d alpha`` and sign mask ``m`` (see ``symmetry.generator``):

* gradient:  ``<g, v> = 0``
* Hessian:   ``H v + m * g = 0`` -- translation ``H 1_A = 0``, scale ``H theta_A + g_A = 0``, rescale
  ``H (theta_A1 - theta_A2) + g_A1 - g_A2 = 0``
* quadratic: ``v^T H v + v^T (m * g) = 0`` -- ``1^T H 1 = 0``, ``theta_A^T H theta_A = 0``,
  ``(theta_A1 - theta_A2)^T H (theta_A1 - theta_A2) + g_A1 theta_A1 + g_A2 theta_A2 = 0``

Hessian-vector products by double backward, in float64, on a fixed batch with BatchNorm in training mode (batch
statistics, as in training). Residuals are relative: the gradient's cosine with ``v``; ``|H v + m g|`` over
``|H u| + |m g|`` where ``u`` is a random direction of the same support and norm as ``v`` (a typical Hessian
response there); the quadratic form over ``|v| (|H u| + |m g|)``. Control groups (no symmetry) use the same
formulas on parameters that do not have the symmetry and show what "not zero" looks like.
"""
from __future__ import annotations

import copy

import pandas as pd
import torch
from torch import nn

from . import symmetry
from .symmetry import Group


def _dot(a: dict, b: dict) -> torch.Tensor:
    return sum((a[k] * b[k]).sum() for k in a)


def _norm(a: dict) -> torch.Tensor:
    return torch.sqrt(sum((t * t).sum() for t in a.values()))


def _controls(model: nn.Module, groups: list[Group], theta: dict, gen: torch.Generator):
    """(label, kind, v, m) for directions without symmetry: the same formulas on the first hidden Linear of the
    classifier (not followed by BN, not feeding the softmax)."""
    rescales = [g for g in groups if g.kind == "rescale" and g.outgoing]
    linear = [g for g in rescales if isinstance(model.get_submodule(g.layer), nn.Linear)]
    g = (linear or rescales)[0]
    W, B, O = f"{g.layer}.weight", f"{g.layer}.bias", f"{g.outgoing}.weight"
    out = []
    # translation-like: a column of a layer that does not feed the softmax
    v = {W: torch.zeros_like(theta[W])}
    v[W][:, 0] = 1.0
    out.append(("control: ones on a hidden layer's column", "translation", v, {W: torch.zeros_like(theta[W])}))
    # scale-like: a random half of one unit's incoming weights (no BN after it)
    m = {W: torch.zeros_like(theta[W])}
    m[W][0] = (torch.rand(theta[W].shape[1:], generator=gen) < 0.5).to(theta[W].dtype)
    out.append(("control: random subset of a layer without BN", "scale", {W: m[W] * theta[W]}, m))
    # rescale-like: unit 0's incoming weights against unit 1's outgoing weights (mismatched)
    m = {W: torch.zeros_like(theta[W]), B: torch.zeros_like(theta[B]), O: torch.zeros_like(theta[O])}
    m[W][0], m[B][0] = -1.0, -1.0
    m[O][:, g.fan:2 * g.fan] = 1.0
    out.append(("control: incoming of unit 0 vs outgoing of unit 1", "rescale", {k: m[k] * theta[k] for k in m}, m))
    return out


def check(model: nn.Module, X: torch.Tensor, y: torch.Tensor, per_layer: int = 3, seed: int = 0,
          groups: list[Group] | None = None) -> pd.DataFrame:
    """One row per (group element or control, identity): the relative residual of each identity."""
    model = copy.deepcopy(model).double().train()
    groups = groups if groups is not None else symmetry.find_groups(model)
    gen = torch.Generator().manual_seed(seed)
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    theta = {n: p.detach() for n, p in zip(names, params)}
    loss = nn.functional.cross_entropy(model(X.double()), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    g = {n: t.detach() for n, t in zip(names, grads)}

    def hvp(v: dict) -> dict:
        vs = [v.get(n, torch.zeros_like(theta[n])) for n in names]
        hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
        return {n: t for n, t in zip(names, hv) if n in v}

    def rows(label: str, kind: str, element, v: dict, m: dict, control: bool):
        c = {k: m[k] * g[k] for k in v}
        support = {k: (v[k] != 0).to(v[k].dtype) for k in v}
        u = {k: torch.randn(v[k].shape, generator=gen, dtype=v[k].dtype) * support[k] for k in v}
        scale = _norm(v) / _norm(u)
        u = {k: t * scale for k, t in u.items()}
        Hv, Hu = hvp(v), hvp(u)
        gA = {k: g[k] * support[k] for k in v}
        r = {k: Hv[k] + c[k] for k in v}
        ref = _norm(Hu) + _norm(c)
        vals = {
            "gradient: <g, v> = 0": (abs(_dot(v, g)) / (_norm(gA) * _norm(v))).item(),
            "Hessian: H v + m g = 0": (_norm(r) / ref).item(),
            "quadratic: v'Hv + v'(m g) = 0": (abs(_dot(v, r)) / (_norm(v) * ref)).item(),
        }
        return [{"group": label, "kind": kind, "element": element, "control": control, "identity": k,
                 "relative residual": val} for k, val in vals.items()]

    out = []
    for grp in groups:
        picks = torch.randperm(grp.size, generator=gen)[:per_layer].tolist()
        if grp.kind == "translation" and grp.has_bias and grp.size - 1 not in picks:
            picks[-1] = grp.size - 1  # always check the bias element too
        for j in picks:
            v, m = symmetry.generator(grp, theta, j)
            out += rows(grp.name, grp.kind, j, v, m, False)
    for label, kind, v, m in _controls(model, groups, theta, gen):
        out += rows(label, kind, 0, v, m, True)
    return pd.DataFrame(out)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Max relative residual per (kind, symmetric group vs control, identity)."""
    t = df.assign(where=df["control"].map({False: "symmetry groups", True: "control (no symmetry)"}))
    return t.pivot_table(index=["kind", "identity"], columns="where", values="relative residual", aggfunc="max")
