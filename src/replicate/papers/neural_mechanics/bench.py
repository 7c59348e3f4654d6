"""`replicate bench neural_mechanics`: one SGD step of the chapter's net, plain vs with every symmetry group
tracked online (goal: tracking costs <= 2% on the GPU). Both routes train the same VGG-BN net from the same
initialisation on the same fixed batch (random data of the profile's shape: no data set needed)."""
from __future__ import annotations

import torch
from torch import nn

from replicate.bench import Bench
from replicate.train import pick_device

from . import symmetry
from .model import vgg
from .tracker import Tracker


def routes(quick: bool = False) -> Bench:
    device = pick_device("cpu" if quick else "auto")
    if quick:
        arch, shape, width, batch = "vgg-tiny", (1, 8, 8), 64, 64
    else:
        arch, shape, width, batch = "vgg-small", (1, 28, 28), 256, 256
    eta, lam, beta = 0.1, 5e-4, 0.9
    g = torch.Generator().manual_seed(0)
    X = torch.randn(batch, *shape, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    loss_fn = nn.CrossEntropyLoss()

    def make():
        torch.manual_seed(0)
        m = vgg(arch, True, shape[0], 10, shape[1], width).to(device)
        return m, torch.optim.SGD(m.parameters(), lr=eta, momentum=beta, weight_decay=lam)

    plain_m, plain_opt = make()
    tr_m, tr_opt = make()
    tracker = Tracker(tr_m, symmetry.find_groups(tr_m), tr_opt, eta=eta, lam=lam, beta=beta, record_every=25,
                      curves_per_layer=8)

    def step(m, opt):
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(m(X), y)
        loss.backward()
        opt.step()
        return loss

    def check() -> dict:
        with torch.no_grad():
            a, b = plain_m.train(), tr_m.train()
            return {"plain_loss": float(loss_fn(a(X), y)), "tracked_loss": float(loss_fn(b(X), y)),
                    "tracked_groups": len(tracker.groups), "cuda_graph": tracker.graph is not None,
                    "tracker_note": tracker.graph_note}

    return Bench(
        routes={"plain": lambda: step(plain_m, plain_opt), "tracked": lambda: step(tr_m, tr_opt)},
        reference="plain", items_per_call=1, unit="steps/s",
        config={"arch": arch, "batch": batch, "input": list(shape), "eta": eta, "lambda": lam, "beta": beta,
                "device": device.type, "quick": quick},
        warmup=2 if quick else 50, repeats=5 if quick else 100, rounds=2 if quick else 15, check=check,
        notes="tracked = plain + the Tracker's post-step hook (all groups, element-wise, float64, fused: one multi-tensor "
              "square, one sum per weight's rows / columns, one gather, one state product; CUDA graph on GPU)",
    )
