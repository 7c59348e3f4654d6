import numpy as np
import pytest
import torch
from torch import nn

from replicate.papers.neural_mechanics import geometry, symmetry
from replicate.papers.neural_mechanics.model import vgg
from replicate.papers.neural_mechanics.tracker import Tracker


def run(bn: bool, beta: float, lam: float = 0.05, steps: int = 60, eta: float = 0.1):
    torch.manual_seed(0)
    m = vgg("vgg-tiny", bn, 1, 10, 8, 16).double()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.eps = 1e-14  # make the scale symmetry exact up to rounding
    X, y = torch.randn(64, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (64,))
    opt = torch.optim.SGD(m.parameters(), lr=eta, momentum=beta, weight_decay=lam)
    tr = Tracker(m, symmetry.find_groups(m), opt, eta=eta, lam=lam, beta=beta, record_every=5, curves_per_layer=4)
    losses = []
    for k in range(steps):
        i = torch.arange(k * 16, k * 16 + 16) % 64
        opt.zero_grad(set_to_none=False)
        loss = nn.functional.cross_entropy(m(X[i]), y[i])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    tr.close()
    return tr.result(), losses


@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("beta", [0.0, 0.9])
def test_tracker_matches_discrete_law_to_float_precision(bn, beta):
    res, losses = run(bn, beta)
    assert len(res["steps"]) == 13 and res["steps"][-1] == 60
    for name, g in res["groups"].items():
        assert g["rel_disc"] < 3e-11, (name, g["rel_disc"])  # float64: rounding (and BN eps 1e-14) only
        assert g["rel_conserved"] > 1e-3, name  # the quantities did move (conservation is broken)
        assert g["rel_change_cont"] < 0.2, (name, g["rel_change_cont"])  # the continuous theory is close


def test_losses_decrease_and_theory_tracks_small_lr():
    res, losses = run(False, 0.0, lam=0.01, steps=60, eta=0.02)
    assert sum(losses[-10:]) < sum(losses[:10])
    for g in res["groups"].values():
        assert g["rel_cont"] < 1e-3


def test_geometry_identities_hold_and_controls_do_not():
    torch.manual_seed(0)
    X, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    for bn in (True, False):
        df = geometry.check(vgg("vgg-tiny", bn, 1, 10, 8, 16), X, y, per_layer=1)
        sym, ctl = df[~df["control"]], df[df["control"]]
        exact = sym[sym["kind"] != "scale"]["relative residual"]
        assert exact.max() < 1e-10
        if bn:
            assert sym[sym["kind"] == "scale"]["relative residual"].max() < 1e-2  # up to BatchNorm's eps
        assert ctl[ctl["identity"].str.startswith("Hessian")]["relative residual"].min() > 1e-3


@pytest.mark.parametrize("bn", [False, True])
def test_fused_reducer_equals_pair_for_every_group(bn):
    """The fused per-step reduction gives each group's pair(a, a) (scale |a_A|^2, rescale |a_A1|^2 - |a_A2|^2)."""
    from replicate.papers.neural_mechanics.tracker import Reducer

    torch.manual_seed(1)
    m = vgg("vgg-small", bn, 1, 10, 28, 32).double()
    params = dict(m.named_parameters())
    groups = symmetry.find_groups(m)
    red = Reducer(groups, params)
    a = {k: torch.randn_like(p) for k, p in params.items()}
    out = torch.empty(red.elements, dtype=torch.float64)
    red(red.sources(a), out=out)
    at = 0
    for g in red.groups:
        want = symmetry.pair(g, a, a, torch.float64)
        torch.testing.assert_close(out[at:at + g.size], want, rtol=1e-13, atol=1e-12)
        at += g.size
    assert at == red.elements and {g.kind for g in red.groups} == ({"scale", "rescale"} if bn else {"rescale"})


@pytest.mark.parametrize("beta", [0.0, 0.9])
def test_tracker_equals_the_reference_laws_step_by_step(beta):
    """The tracker's theory curves equal theory.py's reference implementations (first-order / oscillator /
    discrete laws) fed with the drives of every step computed group by group with symmetry.pair, in float64."""
    from replicate.papers.neural_mechanics import theory

    torch.manual_seed(0)
    eta, lam, steps = 0.1, 0.05, 30
    m = vgg("vgg-tiny", False, 1, 10, 8, 16).double()
    X, y = torch.randn(64, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (64,))
    opt = torch.optim.SGD(m.parameters(), lr=eta, momentum=beta, weight_decay=lam)
    groups = symmetry.find_groups(m)
    tr = Tracker(m, groups, opt, eta=eta, lam=lam, beta=beta, record_every=steps, curves_per_layer=100)
    params = dict(m.named_parameters())
    x0 = {g.name: symmetry.quantity(g, params, torch.float64).detach() for g in groups}
    drives = {g.name: [] for g in groups if g.kind != "translation"}
    for k in range(steps):
        i = torch.arange(k * 16, k * 16 + 16) % 64
        opt.zero_grad(set_to_none=False)
        nn.functional.cross_entropy(m(X[i]), y[i]).backward()
        opt.step()
        src = {n: (p.grad if beta == 0 else opt.state[p]["momentum_buffer"]) for n, p in params.items()}
        for g in groups:
            if g.kind != "translation":
                drives[g.name].append(symmetry.pair(g, src, src, torch.float64).numpy())
    tr.close()
    res = tr.result()
    for g in groups:
        got = res["groups"][g.name]
        if g.kind == "translation":
            continue
        D = np.stack(drives[g.name])[:, got["elements"]]
        x = x0[g.name].numpy()[got["elements"]]
        disc = np.array([theory.discrete_scale(x[j], eta, lam, D[:, j], beta)[-1] for j in range(len(x))], dtype=float)
        np.testing.assert_allclose(got["disc"][-1], disc, rtol=1e-12, atol=1e-14)
        if beta == 0:
            tau = eta * np.arange(steps)
            cont = np.array([theory.first_order_solution(eta * steps, x[j], lam, eta, tau, D[:, j])[0]
                             for j in range(len(x))], dtype=float)
        else:
            gamma, omega = theory.oscillator_constants(eta, lam, beta, 0.0)
            tau = eta * np.arange(steps)
            cont = np.array([theory.oscillator_solution(eta * steps, x[j], 0.0, gamma, omega, tau, 2 * D[:, j], eta)[0]
                             for j in range(len(x))], dtype=float)
        np.testing.assert_allclose(got["cont"][-1], cont, rtol=1e-9, atol=1e-12)
