"""Finding a network's symmetry groups and evaluating their quantities (Part 1 of the talk).

A symmetry ``psi(theta, alpha)`` of the loss acts on a group ``A`` of parameters:

* translation: ``theta_A -> theta_A + alpha 1`` -- the last layer feeding the softmax: per input feature ``j``
  the column ``W[:, j]`` over classes (and the bias vector as one more element); quantity ``<theta_A, 1>``.
* scale: ``theta_A -> alpha theta_A`` -- a convolution / linear layer followed by BatchNorm: per output
  filter ``c`` the slice ``(W[c], b[c])``; quantity ``|theta_A|^2``.
* rescale: ``theta_A1 -> alpha^{-1} theta_A1, theta_A2 -> alpha theta_A2`` -- a unit ``j`` between two layers
  joined by positively homogeneous ops (ReLU, max pooling, flatten) without BN: ``A2`` = its incoming filter
  and bias ``(W1[j], b1[j])``, ``A1`` = its outgoing weights ``W2[:, j]``; quantity ``|theta_A1|^2 - |theta_A2|^2``.

The groups are found by tracing the module with ``torch.fx`` and following each Conv/Linear layer's output
through ops that commute with a positive per-channel scaling.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import fx, nn

KINDS = ("translation", "scale", "rescale")

_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
#: ops with f(a x) = a f(x) for a > 0, acting channel-wise (so a per-channel scaling passes through them)
_HOMOGENEOUS_MODULES = (nn.ReLU, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d,
                        nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                        nn.AdaptiveMaxPool2d, nn.Identity, nn.Dropout, nn.Flatten)
_HOMOGENEOUS_FUNCTIONS = {torch.relu, torch.nn.functional.relu, torch.flatten, torch.nn.functional.max_pool2d,
                          torch.nn.functional.avg_pool2d, torch.nn.functional.adaptive_avg_pool2d}
_HOMOGENEOUS_METHODS = {"relu", "flatten"}
#: ops a softmax-shift passes through unchanged (for translation only identities qualify)
_IDENTITY_MODULES = (nn.Identity, nn.Flatten)


@dataclass(frozen=True)
class Group:
    """One symmetry of the loss: ``size`` elements (features, filters or units) of one kind.

    ``layer`` is the module holding the parameters (for rescale the incoming layer ``A2``), ``outgoing`` the
    layer holding ``A1`` for rescale, ``fan`` how many input columns of ``outgoing`` belong to one unit (a
    flatten between a conv and a linear makes it H*W)."""

    kind: str
    layer: str
    size: int
    outgoing: str | None = None
    fan: int = 1
    has_bias: bool = False

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.layer}" + (f"->{self.outgoing}" if self.outgoing else "")

    @property
    def params(self) -> list[str]:
        names = [f"{self.layer}.weight"] + ([f"{self.layer}.bias"] if self.has_bias else [])
        if self.outgoing:
            names.append(f"{self.outgoing}.weight")
        return names


def _is_homogeneous(node: fx.Node, modules: Mapping[str, nn.Module]) -> bool:
    if node.op == "call_module":
        m = modules[node.target]
        return isinstance(m, _HOMOGENEOUS_MODULES) and not isinstance(m, _LAYERS + _NORMS)
    if node.op == "call_function":
        return node.target in _HOMOGENEOUS_FUNCTIONS
    if node.op == "call_method":
        return node.target in _HOMOGENEOUS_METHODS
    return False


def _is_identity(node: fx.Node, modules: Mapping[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[node.target], _IDENTITY_MODULES)
    return (node.op == "call_function" and node.target is torch.flatten) or (
        node.op == "call_method" and node.target == "flatten")


def find_groups(model: nn.Module) -> list[Group]:
    """All translation, scale and rescale groups of ``model``, in the order of its layers."""
    gm = fx.symbolic_trace(model)
    modules = dict(gm.named_modules())
    groups: list[Group] = []
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], _LAYERS):
            continue
        layer = modules[node.target]
        has_bias = layer.bias is not None
        n_out = layer.weight.shape[0]
        # follow the output while it passes through channel-wise homogeneous ops and does not branch
        cur, only_identity = node, True
        while len(cur.users) == 1:
            nxt = next(iter(cur.users))
            if nxt.op == "output":
                if only_identity and isinstance(layer, nn.Linear):
                    groups.append(Group("translation", node.target, layer.in_features + int(has_bias),
                                        has_bias=has_bias))
                break
            if nxt.op == "call_module" and isinstance(modules[nxt.target], _NORMS):
                groups.append(Group("scale", node.target, n_out, has_bias=has_bias))
                break
            if nxt.op == "call_module" and isinstance(modules[nxt.target], _LAYERS):
                nxt_layer = modules[nxt.target]
                n_in = nxt_layer.weight.shape[1]
                if getattr(nxt_layer, "groups", 1) == 1 and n_in % n_out == 0:
                    groups.append(Group("rescale", node.target, n_out, outgoing=nxt.target, fan=n_in // n_out,
                                        has_bias=has_bias))
                break
            if nxt.op == "call_function" and nxt.target is operator.getitem:
                break
            if not _is_homogeneous(nxt, modules):
                break
            only_identity = only_identity and _is_identity(nxt, modules)
            cur = nxt
    return groups


# ----------------------------------------------------------------------------------------------------------
# Per-element quantities. ``t`` maps parameter names to tensors (parameters, gradients, momentum buffers...).

def _rows(w, b, w2, b2, dtype=None) -> torch.Tensor:
    """sum over each output unit's incoming weights (and bias) of w * w2."""
    out = (w * w2).flatten(1).sum(1, dtype=dtype)
    return out if b is None else out + (b * b2).to(out.dtype)


def _cols(w, w2, units: int, dtype=None) -> torch.Tensor:
    """sum over each input unit's outgoing weights of w * w2 (``units`` input units, fan columns each)."""
    p = (w * w2).transpose(0, 1).reshape(units, -1)  # unit j owns input columns j*fan .. (j+1)*fan - 1
    return p.sum(1, dtype=dtype)


def pair(group: Group, a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], dtype=None) -> torch.Tensor:
    """Per element: ``<a_A, b_A>`` (scale), ``<a_A1, b_A1> - <a_A2, b_A2>`` (rescale), ``sum_A a * b``
    per input column of the last layer and the bias (translation). ``pair(g, theta, theta)`` is the scale /
    rescale quantity, ``pair(g, grad, grad)`` its gradient-norm drive."""
    w, bw = a[f"{group.layer}.weight"], b[f"{group.layer}.weight"]
    bias_a = a.get(f"{group.layer}.bias") if group.has_bias else None
    bias_b = b.get(f"{group.layer}.bias") if group.has_bias else None
    if group.kind == "scale":
        return _rows(w, bias_a, bw, bias_b, dtype)
    if group.kind == "rescale":
        incoming = _rows(w, bias_a, bw, bias_b, dtype)
        wo, bwo = a[f"{group.outgoing}.weight"], b[f"{group.outgoing}.weight"]
        return _cols(wo, bwo, group.size, dtype) - incoming
    # translation: per input column, then the bias vector as one element
    cols = (w * bw).sum(0, dtype=dtype)
    return torch.cat([cols, (bias_a * bias_b).sum(dtype=dtype)[None]]) if group.has_bias else cols


def total(group: Group, a: Mapping[str, torch.Tensor], dtype=None) -> torch.Tensor:
    """``<theta_A, 1>`` per element: the translation quantity."""
    if group.kind != "translation":
        raise ValueError("total() is the translation quantity")
    cols = a[f"{group.layer}.weight"].sum(0, dtype=dtype)
    return torch.cat([cols, a[f"{group.layer}.bias"].sum(dtype=dtype)[None]]) if group.has_bias else cols


def quantity(group: Group, theta: Mapping[str, torch.Tensor], dtype=None) -> torch.Tensor:
    """The quantity the talk tracks: ``<theta_A, 1>``, ``|theta_A|^2`` or ``|theta_A1|^2 - |theta_A2|^2``."""
    return total(group, theta, dtype) if group.kind == "translation" else pair(group, theta, theta, dtype)


def generator(group: Group, theta: Mapping[str, torch.Tensor], j: int) -> tuple[dict, dict]:
    """Element ``j``'s generator ``v = d psi / d alpha`` at alpha = 0 and the sign mask ``m`` with which the
    Hessian identity reads ``H v + m * g = 0`` (``m = 0`` for translation, ``1`` on A for scale, ``+1`` on
    A1 and ``-1`` on A2 for rescale). Tensors are full-size, zero outside the group."""
    v = {k: torch.zeros_like(t) for k, t in theta.items() if k in group.params}
    m = {k: torch.zeros_like(t) for k, t in v.items()}
    W, B = f"{group.layer}.weight", f"{group.layer}.bias"
    if group.kind == "translation":
        if j < theta[W].shape[1]:
            v[W][:, j] = 1.0
        else:
            v[B][:] = 1.0
        return v, m
    m[W][j] = 1.0 if group.kind == "scale" else -1.0
    if group.has_bias:
        m[B][j] = m[W][j].flatten()[0]
    if group.kind == "rescale":
        O = f"{group.outgoing}.weight"
        wo = theta[O]
        cols = torch.zeros(wo.shape[1], dtype=torch.bool)
        cols[j * group.fan:(j + 1) * group.fan] = True
        m[O][:, cols] = 1.0
    v = {k: m[k] * theta[k] for k in m}
    return v, m
