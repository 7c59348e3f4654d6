"""Online tracking of the symmetry quantities and of their theories during training (Parts 3-4, and beyond).

``Tracker`` hooks ``optimizer.register_step_post_hook``: after every optimizer step it folds the step's drive
(per element ``|g_k|^2`` for plain SGD, ``|v_{k+1}|^2`` for momentum; rescale: the difference over A1 and A2)
into the continuous theory and the exact discrete law of every group, element-wise, on the parameters' device
in float64. Nothing is synchronised per step; every ``record_every`` steps the empirical quantities, the two
theories and their error norms are snapshot (still on device) and fetched once at the end.

The per-step work is fused (``Reducer``): the sources (gradients or momentum buffers) of all groups are
concatenated and squared in one pass, each weight's rows (incoming: scale and rescale A2) and columns
(outgoing: rescale A1) are summed once, every group element's drive is gathered from those sums with its sign
in one step, and all theory states advance by one small matrix product ``S <- M [S; D]`` (the laws are linear
in their states and the drive). That is about a dozen kernels per step for the gpu profile's net, where one
reduction per group and quantity took about two hundred. On CUDA the update is captured once into a CUDA graph
and replayed (one launch per step); the training loop must then zero gradients with ``set_to_none=False`` so the
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


class Reducer:
    """Per element of every scale / rescale group (concatenated in the groups' order): ``pair(g, a, a)`` of
    ``symmetry`` for one set of tensors ``a`` (parameters, gradients or momentum buffers) at once.

    The tensors of the groups' parameters are squared in one multi-tensor op (in their dtype, as ``pair``
    does); each incoming weight's rows and each outgoing weight's columns are summed in float64 into ``buf``, the
    biases' squares copied there, and ``buf`` ends with one zero. Every element is then a signed sum of at most
    ``width`` entries of ``buf`` (``index``, ``sign``), gathered in one step."""

    def __init__(self, groups: list[Group], params: dict[str, torch.Tensor]):
        self.groups = [g for g in groups if g.kind != "translation"]
        names: list[str] = []
        for g in self.groups:
            for n in g.params:
                if n not in names:
                    names.append(n)
        self.names = names
        shapes = {n: params[n].shape for n in names}
        at = {n: i for i, n in enumerate(names)}
        cur, row_of, col_of, bias_of = 0, {}, {}, {}
        self._rows, self._cols, self._biases = [], [], []  # (index into the tensor list, start in buf, size)
        for g in self.groups:
            w = f"{g.layer}.weight"
            if w not in row_of:
                row_of[w] = cur
                self._rows.append((at[w], cur, shapes[w][0]))
                cur += shapes[w][0]
            if g.kind == "rescale":
                o = f"{g.outgoing}.weight"
                if o not in col_of:
                    col_of[o] = cur
                    self._cols.append((at[o], cur, g.size))
                    cur += g.size
        bias_start = cur
        for g in self.groups:
            b = f"{g.layer}.bias"
            if g.has_bias and b not in bias_of:
                bias_of[b] = cur
                self._biases.append(at[b])
                cur += shapes[b].numel()
        self._bias_slice = (bias_start, cur)
        zero = cur
        self.size = cur + 1
        terms: list[list[tuple[int, float]]] = []
        for g in self.groups:
            w, b = f"{g.layer}.weight", f"{g.layer}.bias"
            s = 1.0 if g.kind == "scale" else -1.0
            for j in range(g.size):
                t = [(row_of[w] + j, s)]
                if g.has_bias:
                    t.append((bias_of[b] + j, s))
                if g.kind == "rescale":
                    t.append((col_of[f"{g.outgoing}.weight"] + j, 1.0))
                terms.append(t)
        self.elements = len(terms)
        self.width = max((len(t) for t in terms), default=1)
        index = torch.full((self.width, self.elements), zero, dtype=torch.long)
        sign = torch.zeros((self.width, self.elements), dtype=F64)
        for i, t in enumerate(terms):
            for r, (k, v) in enumerate(t):
                index[r, i], sign[r, i] = k, v
        device = next(iter(params.values())).device
        self.index, self.sign = index.to(device), sign.to(device)
        self.buf = torch.zeros(self.size, dtype=F64, device=device)

    def sources(self, tensors: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [tensors[n] for n in self.names]

    def __call__(self, tensors: list[torch.Tensor], out: torch.Tensor) -> torch.Tensor:
        """``out`` (float64, one value per element) = the groups' ``pair(a, a)`` for ``tensors`` (``sources``)."""
        if not self.elements:
            return out
        sq = torch._foreach_mul(tensors, tensors)
        buf = self.buf
        for i, start, n in self._rows:
            torch.sum(sq[i].view(n, -1), 1, dtype=F64, out=buf[start:start + n])
        for i, start, units in self._cols:
            torch.sum(sq[i].view(sq[i].shape[0], units, -1), (0, 2), dtype=F64, out=buf[start:start + units])
        if self._biases:
            a, b = self._bias_slice
            buf[a:b].copy_(torch.cat([sq[i] for i in self._biases]))  # cast to float64 by the copy
        return torch.linalg.vecdot(buf[self.index], self.sign, dim=0, out=out)


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
        self.reducer = Reducer(self.groups, self.params)
        self.driven = self.reducer.groups
        self.translation = [g for g in self.groups if g.kind == "translation"]
        self._src_params = [self.params[n] for n in self.reducer.names]
        gen = torch.Generator().manual_seed(seed)
        # every group's elements in one vector: the driven groups (Reducer's order), then the translation groups
        order = self.driven + self.translation
        sizes = [g.size for g in order]
        self.slices = {}
        e = 0
        for g, s in zip(order, sizes):
            self.slices[g.name] = (e, e + s)
            e += s
        self.total = e
        self.idx = {g.name: torch.randperm(g.size, generator=gen)[:curves_per_layer].sort().values
                    for g in self.groups}
        self.pick = torch.cat([self.idx[g.name] + self.slices[g.name][0] for g in self.groups]).to(self.device) \
            if self.groups else torch.zeros(0, dtype=torch.long, device=self.device)
        self.order = torch.cat([torch.arange(*self.slices[g.name]) for g in self.groups]).to(self.device) \
            if self.groups else torch.zeros(0, dtype=torch.long, device=self.device)
        self.lengths = torch.tensor([self.slices[g.name][1] - self.slices[g.name][0] for g in self.groups],
                                    device=self.device)
        self.x0 = self._empirical()
        # theory states of the driven groups, one row each, and the drive as the last row:
        # plain SGD [xc, xd, D]; momentum [xc, vc, xd, pd, D] (continuous X, X'; discrete X, P = <theta, v>)
        n_state = 2 if self.beta == 0 else 4
        self.state = torch.zeros((n_state + 1, self.reducer.elements), dtype=F64, device=self.device)
        x0d = self.x0[:self.reducer.elements]
        self.state[0].copy_(x0d)
        self.state[1 if self.beta == 0 else 2].copy_(x0d)
        self._next = torch.empty((n_state, self.reducer.elements), dtype=F64, device=self.device)
        self.M = torch.tensor(self._matrix(first=True), dtype=F64, device=self.device)
        self._steady = torch.tensor(self._matrix(first=False), dtype=F64, device=self.device)
        # translation: linear, undriven -- scalar multipliers of S(0)
        self.s_disc, self.w_disc = 1.0, 0.0
        if self.beta > 0:
            self.gamma_t, self.omega_t = theory.oscillator_constants(self.eta, self.lam, self.beta, self.dampening,
                                                                     "translation")
        self.records: list[dict[str, Any]] = []
        self.want_graph = (self.device.type == "cuda") if cuda_graph is None else cuda_graph
        self.graph = None
        self.graph_note = ""
        self._src_ids: list[int] | None = None
        self._record()
        self.handle = optimizer.register_step_post_hook(lambda opt, args, kwargs: self.after_step())

    # -- the linear update -------------------------------------------------------------------------------------
    def _matrix(self, first: bool) -> list[list[float]]:
        """``M`` with ``state[:-1] <- M @ state`` (the last row of ``state`` holds the step's drive ``D``).

        plain SGD -- continuous: ``X <- e^{-2 lam eta}(X + eta^2 D)``; discrete: ``X <- (1 - eta lam)^2 X + eta^2 D``.
        momentum -- continuous: impulse ``F dt`` on ``X'`` (``F = 2 |theta'|^2 = 2 D / (1-d)^2``), then
        ``(X, X') <- exp(A dt) (X, X')``; discrete: ``Q = beta P + c lam X``, ``X <- X - 2 eta Q + eta^2 D``,
        ``P <- Q - eta D`` with ``c = 1`` at the first step and ``1 - dampening`` after."""
        eta, lam, beta, d = self.eta, self.lam, self.beta, self.dampening
        if beta == 0:
            e = math.exp(-2 * lam * eta)
            return [[e, 0.0, e * eta * eta], [0.0, (1 - eta * lam) ** 2, eta * eta]]
        gamma, omega = theory.oscillator_constants(eta, lam, beta, d, "scale")
        a11, a12, a21, a22 = (float(a) for a in theory.propagator(self.dt, gamma, omega).ravel())
        alpha = 2 * self.dt / (1 - d) ** 2
        c = 1.0 if first else 1 - d
        return [[a11, a12, 0.0, 0.0, a12 * alpha],
                [a21, a22, 0.0, 0.0, a22 * alpha],
                [0.0, 0.0, 1 - 2 * eta * c * lam, -2 * eta * beta, eta * eta],
                [0.0, 0.0, c * lam, beta, -eta]]

    def _sources(self) -> list[torch.Tensor]:
        """The tensors whose element-wise squared norms drive the laws: gradients or momentum buffers."""
        if self.beta == 0:
            return [p.grad for p in self._src_params]
        return [self.opt.state[p]["momentum_buffer"] for p in self._src_params]

    def _update(self, src: list[torch.Tensor]) -> None:
        self.reducer(src, out=self.state[-1])
        torch.mm(self.M, self.state, out=self._next)
        self.state[:-1].copy_(self._next)

    def _capture(self, src: list[torch.Tensor]) -> None:
        """Capture ``_update`` into a CUDA graph (after restoring the state the warm-up touched)."""
        saved = self.state.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._update(src)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._update(src)
        self.state.copy_(saved)
        self.graph = graph
        self._src_ids = [t.data_ptr() for t in src]

    def after_step(self) -> None:
        src = self._sources()
        first = self.k == 0
        if self.graph is not None and [t.data_ptr() for t in src] != self._src_ids:
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
                self._update(src)
        if first:
            self.M.copy_(self._steady)
        # translation multipliers (python floats, exact discrete law)
        c = 1.0 if first else 1 - self.dampening
        self.w_disc = self.beta * self.w_disc + c * self.lam * self.s_disc
        self.s_disc = self.s_disc - self.eta * self.w_disc
        self.k += 1
        if self.k % self.record_every == 0:
            self._record()

    # -- snapshots ------------------------------------------------------------------------------------------------
    def time(self, k: int | None = None) -> float:
        return (self.k if k is None else k) * self.dt

    def _translation_factor(self) -> float:
        t = self.time()
        if self.beta == 0:
            return math.exp(-self.lam * t)
        return float(theory.homogeneous(t, 1.0, 0.0, self.gamma_t, self.omega_t)[0])

    @torch.no_grad()
    def _empirical(self) -> torch.Tensor:
        """Every group's quantity now, in the layout of ``slices``."""
        theta = {k: p.detach() for k, p in self.params.items()}
        out = torch.empty(self.total, dtype=F64, device=self.device)
        n = self.reducer.elements
        self.reducer(self.reducer.sources(theta), out=out[:n])
        for g in self.translation:
            a, b = self.slices[g.name]
            out[a:b] = symmetry.total(g, theta, F64)
        return out

    @torch.no_grad()
    def _record(self) -> None:
        emp = self._empirical()
        n = self.reducer.elements
        cont, disc = torch.empty_like(emp), torch.empty_like(emp)
        cont[:n] = self.state[0]
        disc[:n] = self.state[1 if self.beta == 0 else 2]
        cont[n:] = self.x0[n:] * self._translation_factor()
        disc[n:] = self.x0[n:] * self.s_disc
        # per group: |emp|, |cont - emp|, |disc - emp|, |emp - x0| (norms over the group's elements)
        sq = torch.stack([emp, cont - emp, disc - emp, emp - self.x0]).square()
        norms = torch.segment_reduce(sq[:, self.order].T, "sum", lengths=self.lengths).T.sqrt()
        row = torch.cat([emp[self.pick], cont[self.pick], disc[self.pick], norms.reshape(-1)])
        self.records.append({"step": self.k, "t": self.time(), "row": row})

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
        m = torch.stack([r["row"] for r in self.records]).cpu().numpy()
        picked = len(self.pick)
        G = len(self.groups)
        emp_all, cont_all, disc_all = m[:, :picked], m[:, picked:2 * picked], m[:, 2 * picked:3 * picked]
        norms = m[:, 3 * picked:].reshape(len(m), 4, G)
        at = 0
        for i, g in enumerate(self.groups):
            n = len(self.idx[g.name])
            emp, cont, disc = (a[:, at:at + n] for a in (emp_all, cont_all, disc_all))
            at += n
            norm, e_cont, e_disc, change = norms[:, 0, i], norms[:, 1, i], norms[:, 2, i], norms[:, 3, i]
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
        return {"k": self.k, "state": self.state, "x0": self.x0, "s_disc": self.s_disc, "w_disc": self.w_disc,
                "records": self.records}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k, self.s_disc, self.w_disc = state["k"], state["s_disc"], state["w_disc"]
        self.state.copy_(state["state"])
        self.x0 = state["x0"].to(self.device)
        self.records = [{**r, "row": r["row"].to(self.device)} for r in state["records"]]
        self.M.copy_(self._steady if self.k > 0 else torch.tensor(self._matrix(first=True), dtype=F64))
        self.graph = None
