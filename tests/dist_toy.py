"""A toy experiment entry point for tests/test_distributed.py: a linear regression trained with DDP on the
processes of ``replicate.distributed``, its record stored by rank 0 through ``replicate.results.record``."""
import numpy as np
import torch

from replicate import distributed, results


@distributed.entry("neural_mechanics")
def run_toy(params, profile, steps: int = 30, global_batch: int = 8):
    def fn():
        device, rank, world = distributed.setup("cpu")
        g = torch.Generator().manual_seed(0)
        X = torch.randn(64, 4, generator=g)
        y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        torch.manual_seed(0)
        model = distributed.wrap(torch.nn.Linear(4, 1), device)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        per_rank = global_batch // world
        for step in range(steps):
            perm = np.random.default_rng(step).permutation(64)[:global_batch]
            mine = distributed.shard(perm, rank, world)[:per_rank]
            loss = ((model(X[mine]).squeeze(1) - y[mine]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        m = model.module if hasattr(model, "module") else model
        return {"metrics": {"weight": m.weight.detach().flatten().tolist(), "world": world}}
    return results.record("neural_mechanics", profile, "toy_dist", params, fn, extra={"steps": steps})
