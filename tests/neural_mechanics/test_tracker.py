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
        assert g["rel_disc"] < 1e-9, (name, g["rel_disc"])
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
