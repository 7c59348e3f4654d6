"""Online tracking of the symmetry quantities and of their theories during training (Parts 3-4, and beyond).

``Tracker`` hooks ``optimizer.register_step_post_hook``: after every optimizer step it folds the step's drive
(per element ``|g_k|^2`` for plain SGD, ``|v_{k+1}|^2`` for momentum; rescale: the difference over A1 and A2)
into the continuous theory and the exact discrete law of every group, element-wise, on the parameters' device
in float64. Nothing is synchronised per step; every ``record_every`` steps the empirical quantities, the two
theories and their error norms are snapshot (still on device) and fetched once at the end.

On CUDA the per-step update is captured once into a CUDA graph and replayed (one launch per step), which keeps
the tracking overhead small; the training loop must then zero gradients with ``set_to_none=False`` so the
gradient tensors keep their addresses (checked at every step).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from . import symmetry, theory
from .symmetry import Group

F64 = torch.float64


class Tracker:
    """Track every group of ``groups`` for SGD with learning rate ``eta``, weight decay ``lam``, momentum
    ``beta`` and ``dampening`` (the values the optimizer uses)."""

    def __init__(self, model: nn.Module, groups: list[Group], optimizer: torch.optim.Optimizer, *, eta: float,
                 lam: float, beta: float = 0.0, dampening: float = 0.0, record_every: int = 10,
                 curves_per_layer: int = 6, seed: int = 0, cuda_graph: bool | None = None):
        self.model, self.groups, self.opt = model, list(groups), optimizer
        self.eta, self.lam, self.beta, self.dampening = float(eta), float(lam), float(beta), float(dampening)
        self.dt = self.eta * (1 - self.dampening) if self.beta > 0 else self.eta
        self.record_every = int(record_every)
        self.params = dict(model.named_parameters())
        self.device = next(model.parameters()).device
        self.k = 0
        gen = torch.Generator().manual_seed(seed)
        theta = self._theta()
        self.x0 = {g.name: symmetry.quantity(g, theta, F64) for g in self.groups}
        self.idx = {g.name: torch.randperm(g.size, generator=gen)[:curves_per_layer].sort().values.to(self.device)
                    for g in self.groups}
        self.driven = [g for g in self.groups if g.kind != "translation"]
        # continuous theory state (X, X') and discrete law state (X, P) of the driven groups
        self.xc = [self.x0[g.name].clone() for g in self.driven]
        self.vc = [torch.zeros_like(x) for x in self.xc]
        self.xd = [self.x0[g.name].clone() for g in self.driven]
        self.pd = [torch.zeros_like(x) for x in self.xd]
        # translation: linear, undriven -- scalar multipliers of S(0)
        self.s_disc, self.w_disc = 1.0, 0.0
        if self.beta > 0:
            gamma, omega = theory.oscillator_constants(self.eta, self.lam, self.beta, self.dampening, "scale")
            self.A = [float(a) for a in theory.propagator(self.dt, gamma, omega).ravel()]
            self.gamma_t, self.omega_t = theory.oscillator_constants(self.eta, self.lam, self.beta, self.dampening,
                                                                     "translation")
        self.records: list[dict[str, Any]] = []
        self.want_graph = (self.device.type == "cuda") if cuda_graph is None else cuda_graph
        self.graph = None
        self.graph_note = ""
        self._src_ids: list[int] | None = None
        self._record()
        self.handle = optimizer.register_step_post_hook(lambda opt, args, kwargs: self.after_step())

    # -- state ------------------------------------------------------------------------------------------------
    def _theta(self) -> dict[str, torch.Tensor]:
        return {k: p.detach() for k, p in self.params.items()}

    def _sources(self) -> dict[str, torch.Tensor]:
        """The tensors whose element-wise squared norms drive the laws: gradients or momentum buffers."""
        if self.beta == 0:
            return {k: p.grad for k, p in self.params.items() if p.grad is not None}
        return {k: self.opt.state[p]["momentum_buffer"] for k, p in self.params.items()
                if "momentum_buffer" in self.opt.state.get(p, {})}

    def time(self, k: int | None = None) -> float:
        return (self.k if k is None else k) * self.dt

    # -- one step -----------------------------------------------------------------------------------------------
    def _update(self, src: dict[str, torch.Tensor], first: bool) -> None:
        eta, lam, beta = self.eta, self.lam, self.beta
        drives = [symmetry.pair(g, src, src, F64) for g in self.driven]
        if beta == 0:
            # continuous: X <- e^{-2 lam eta}(X + eta^2 |g|^2); discrete: X <- (1 - eta lam)^2 X + eta^2 |g|^2
            torch._foreach_add_(self.xc, drives, alpha=eta * eta)
            torch._foreach_mul_(self.xc, math.exp(-2 * lam * eta))
            torch._foreach_mul_(self.xd, (1 - eta * lam) ** 2)
            torch._foreach_add_(self.xd, drives, alpha=eta * eta)
            return
        d = self.dampening
        # continuous: impulse F dt on X' with F = 2 |theta'|^2 = 2 |v|^2 / (1-d)^2, then propagate by exp(M dt)
        torch._foreach_add_(self.vc, drives, alpha=2 * self.dt / (1 - d) ** 2)
        a11, a12, a21, a22 = self.A
        new_x = torch._foreach_mul(self.xc, a11)
        torch._foreach_add_(new_x, self.vc, alpha=a12)
        torch._foreach_mul_(self.vc, a22)
        torch._foreach_add_(self.vc, self.xc, alpha=a21)
        for x, nx in zip(self.xc, new_x):
            x.copy_(nx)
        # discrete: Q = beta P + c lam X; X <- X - 2 eta Q + eta^2 |v|^2; P <- Q - eta |v|^2
        c = 1.0 if first else 1 - d
        q = torch._foreach_mul(self.pd, beta)
        torch._foreach_add_(q, self.xd, alpha=c * lam)
        torch._foreach_add_(self.xd, q, alpha=-2 * eta)
        torch._foreach_add_(self.xd, drives, alpha=eta * eta)
        torch._foreach_add_(q, drives, alpha=-eta)
        for p, qq in zip(self.pd, q):
            p.copy_(qq)

    def _capture(self, src: dict[str, torch.Tensor]) -> None:
        """Capture ``_update`` into a CUDA graph (after restoring the states the warm-up touched)."""
        states = self.xc + self.vc + self.xd + self.pd
        saved = [s.clone() for s in states]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._update(src, first=False)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._update(src, first=False)
        for s, v in zip(states, saved):
            s.copy_(v)
        self.graph = graph
        self._src_ids = [t.data_ptr() for t in src.values()]

    def after_step(self) -> None:
        src = self._sources()
        first = self.k == 0
        if self.graph is not None and [t.data_ptr() for t in src.values()] != self._src_ids:
            self.graph, self.graph_note = None, "gradient tensors moved (zero_grad(set_to_none=True)?): eager updates"
        if self.graph is not None:
            self.graph.replay()
        else:
            if self.want_graph and not first and not self.graph_note:
                try:
                    self._capture(src)
                except Exception as e:  # pragma: no cover - GPU only
                    self.graph_note = f"CUDA graph capture failed ({type(e).__name__}: {e}); eager updates"
            if self.graph is not None:
                self.graph.replay()
            else:
                self._update(src, first)
        # translation multipliers (python floats, exact discrete law)
        c = 1.0 if first else 1 - self.dampening
        self.w_disc = self.beta * self.w_disc + c * self.lam * self.s_disc
        self.s_disc = self.s_disc - self.eta * self.w_disc
        self.k += 1
        if self.k % self.record_every == 0:
            self._record()

    # -- snapshots ------------------------------------------------------------------------------------------------
    def _translation_factor(self) -> float:
        t = self.time()
        if self.beta == 0:
            return math.exp(-self.lam * t)
        return float(theory.homogeneous(t, 1.0, 0.0, self.gamma_t, self.omega_t)[0])

    @torch.no_grad()
    def _record(self) -> None:
        theta = self._theta()
        rec: dict[str, Any] = {"step": self.k, "t": self.time(), "groups": {}}
        ft = self._translation_factor()
        i = 0
        for g in self.groups:
            emp = symmetry.quantity(g, theta, F64)
            x0 = self.x0[g.name]
            if g.kind == "translation":
                cont, disc = x0 * ft, x0 * self.s_disc
            else:
                cont, disc = self.xc[i], self.xd[i]
                i += 1
            idx = self.idx[g.name]
            norms = torch.stack([torch.linalg.vector_norm(v) for v in
                                 (emp, cont - emp, disc - emp, emp - x0)])
            rec["groups"][g.name] = torch.cat([emp[idx], cont[idx], disc[idx], norms])
        self.records.append(rec)

    def close(self) -> None:
        self.handle.remove()

    def result(self) -> dict[str, Any]:
        """Curves and errors as plain lists: per group ``emp``, ``cont``, ``disc`` ([records, elements]) and
        ``rel_cont``, ``rel_disc``, ``rel_conserved`` (max over time of the error norm over all elements / max
        over time of the quantity's norm), and the same errors relative to the quantity's change."""
        steps = [r["step"] for r in self.records]
        out: dict[str, Any] = {"steps": steps, "t": [r["t"] for r in self.records], "groups": {},
                               "eta": self.eta, "lam": self.lam, "beta": self.beta, "dampening": self.dampening,
                               "cuda_graph": self.graph is not None, "note": self.graph_note}
        for g in self.groups:
            m = torch.stack([r["groups"][g.name] for r in self.records]).cpu().numpy()
            n = len(self.idx[g.name])
            emp, cont, disc = m[:, :n], m[:, n:2 * n], m[:, 2 * n:3 * n]
            norm, e_cont, e_disc, change = m[:, 3 * n], m[:, 3 * n + 1], m[:, 3 * n + 2], m[:, 3 * n + 3]
            big, moved = max(norm.max(), 1e-300), max(change.max(), 1e-300)
            out["groups"][g.name] = {
                "kind": g.kind, "layer": g.layer, "size": g.size, "elements": self.idx[g.name].tolist(),
                "emp": emp, "cont": cont, "disc": disc,
                "rel_cont": e_cont.max() / big, "rel_disc": e_disc.max() / big, "rel_conserved": change.max() / big,
                "rel_change_cont": e_cont.max() / moved, "rel_change_disc": e_disc.max() / moved,
            }
        return out

    # -- resuming ------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k, "xc": self.xc, "vc": self.vc, "xd": self.xd, "pd": self.pd, "x0": self.x0,
                "s_disc": self.s_disc, "w_disc": self.w_disc, "records": self.records}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k, self.s_disc, self.w_disc = state["k"], state["s_disc"], state["w_disc"]
        for name in ("xc", "vc", "xd", "pd"):
            for dst, src in zip(getattr(self, name), state[name]):
                dst.copy_(src)
        self.x0 = {k: v.to(self.device) for k, v in state["x0"].items()}
        self.records = state["records"]
        self.graph = None
