import pytest
import torch
from torch import nn
from torchvision.models.vgg import VGG, cfgs, make_layers

from replicate.papers.neural_mechanics import symmetry
from replicate.papers.neural_mechanics.model import vgg


def names(groups):
    return [(g.kind, g.layer, g.outgoing, g.size, g.fan) for g in groups]


def tv_vgg11(bn: bool):
    m = VGG(make_layers(cfgs["A"], batch_norm=bn), num_classes=10, init_weights=False)
    m.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 32),
                                 nn.ReLU(True), nn.Dropout(), nn.Linear(32, 10))
    return m


def test_tiny_vgg_bn_groups():
    g = symmetry.find_groups(vgg("vgg-tiny", True, 1, 10, 8, 64))
    assert names(g) == [
        ("scale", "features.0", None, 16, 1), ("scale", "features.3", None, 16, 1),
        ("scale", "features.7", None, 32, 1),
        ("rescale", "classifier.0", "classifier.2", 64, 1), ("rescale", "classifier.2", "classifier.4", 64, 1),
        ("translation", "classifier.4", None, 65, 1)]


def test_tiny_vgg_plain_groups():
    g = symmetry.find_groups(vgg("vgg-tiny", False, 1, 10, 8, 64))
    assert names(g) == [
        ("rescale", "features.0", "features.2", 16, 1), ("rescale", "features.2", "features.5", 16, 1),
        ("rescale", "features.5", "classifier.0", 32, 4),  # 2x2 map flattened: 4 columns per channel
        ("rescale", "classifier.0", "classifier.2", 64, 1), ("rescale", "classifier.2", "classifier.4", 64, 1),
        ("translation", "classifier.4", None, 65, 1)]


def test_torchvision_vgg11_bn():
    g = symmetry.find_groups(tv_vgg11(True))
    convs = ["features.0", "features.4", "features.8", "features.11", "features.15", "features.18",
             "features.22", "features.25"]
    widths = [64, 128, 256, 256, 512, 512, 512, 512]
    assert names(g) == [("scale", c, None, w, 1) for c, w in zip(convs, widths)] + [
        ("rescale", "classifier.0", "classifier.3", 32, 1), ("rescale", "classifier.3", "classifier.6", 32, 1),
        ("translation", "classifier.6", None, 33, 1)]


def test_torchvision_vgg11_plain():
    g = symmetry.find_groups(tv_vgg11(False))
    convs = ["features.0", "features.3", "features.6", "features.8", "features.11", "features.13",
             "features.16", "features.18"]
    widths = [64, 128, 256, 256, 512, 512, 512, 512]
    expect = [("rescale", a, b, w, 1) for a, b, w in zip(convs, convs[1:], widths)]
    expect += [("rescale", "features.18", "classifier.0", 512, 49),  # adaptive 7x7 pool + flatten
               ("rescale", "classifier.0", "classifier.3", 32, 1), ("rescale", "classifier.3", "classifier.6", 32, 1),
               ("translation", "classifier.6", None, 33, 1)]
    assert names(g) == expect


def test_no_group_through_nonhomogeneous_ops():
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.ReLU())
    assert symmetry.find_groups(m) == []  # tanh blocks rescale; ReLU after the last layer blocks translation


@pytest.mark.parametrize("bn", [True, False])
def test_groups_are_symmetries_of_the_loss(bn):
    """Acting with each group (alpha = 0.7 or a shift) leaves the loss unchanged; a non-group change does not."""
    torch.manual_seed(0)
    m = vgg("vgg-tiny", bn, 1, 10, 8, 16).double().train()
    X, y = torch.randn(32, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (32,))
    loss = lambda: nn.functional.cross_entropy(m(X), y).item()  # noqa: E731
    base = loss()
    params = dict(m.named_parameters())
    for g in symmetry.find_groups(m):
        with torch.no_grad():
            saved = {k: p.clone() for k, p in params.items()}
            theta = {k: p.detach() for k, p in params.items()}
            v, mask = symmetry.generator(g, theta, 1)
            for k in v:
                if g.kind == "translation":
                    params[k].add_(0.7 * v[k])
                else:  # theta -> alpha^{mask} theta (scale: alpha; rescale: alpha on A1, 1/alpha on A2)
                    params[k].mul_(torch.where(mask[k] != 0, 0.7 ** mask[k], torch.ones_like(mask[k])))
        assert loss() == pytest.approx(base, rel=1e-6 if g.kind == "scale" else 1e-12), g.name
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(saved[k])
    with torch.no_grad():
        params["classifier.0.weight"][:, :3].mul_(3.0)
    assert abs(loss() - base) > 1e-9


def test_quantities_match_direct_computation():
    torch.manual_seed(1)
    m = vgg("vgg-tiny", False, 1, 10, 8, 16)
    t = {k: p.detach() for k, p in m.named_parameters()}
    g = {x.name: x for x in symmetry.find_groups(m)}
    q = symmetry.quantity(g["rescale:features.5->classifier.0"], t)
    W1, b1, W2 = t["features.5.weight"], t["features.5.bias"], t["classifier.0.weight"]
    j = 7
    direct = (W2[:, 4 * j:4 * j + 4] ** 2).sum() - (W1[j] ** 2).sum() - b1[j] ** 2
    assert q[j].item() == pytest.approx(direct.item(), rel=1e-5)
    tr = symmetry.quantity(g["translation:classifier.4"], t)
    assert tr[3].item() == pytest.approx(t["classifier.4.weight"][:, 3].sum().item(), rel=1e-5)
    assert tr[-1].item() == pytest.approx(t["classifier.4.bias"].sum().item(), rel=1e-5)
