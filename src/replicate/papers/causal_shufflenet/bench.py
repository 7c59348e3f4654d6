"""``replicate bench causal_shufflenet``: training and streaming-inference clips/s of the causal model against
3D-ShuffleNetV1 0.5x (the reference) in one run, per-route peak memory, and batch-1 per-subclip latency.
A clip is one T = 16-frame subclip at 112x112 (quick: 48x48, reduced depth, on CPU)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from replicate.bench import Bench
from replicate.train import autocast, pick_device

from .model import CausalShuffleNet, ShuffleNet3D


def routes(quick: bool = False) -> Bench:
    device = pick_device("auto")
    size, batch, blocks = (48, 2, (1, 1, 1)) if quick else (112, 16, (4, 8, 4))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 16, size, size, generator=g).to(device)
    x1 = x[:1].clone()
    y = torch.randint(0, 101, (batch,), generator=g).to(device)
    causal = CausalShuffleNet(101, blocks=blocks).to(device)
    base = ShuffleNet3D(101, 0.5, blocks=blocks).to(device)
    opts = {id(m): torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for m in (causal, base)}
    state = {"s": None, "s1": None}

    def train_step(m, fwd):
        def step():
            m.train()
            with autocast(device):
                loss = F.cross_entropy(fwd(x).float(), y)
            opts[id(m)].zero_grad(set_to_none=True)
            loss.backward()
            opts[id(m)].step()
            return loss
        return step

    def causal_fwd(inp):
        out, s = causal(inp, state["s"])
        state["s"] = s.detach()
        return out

    @torch.no_grad()
    def infer_base():
        base.eval()
        with autocast(device):
            base(x)

    @torch.no_grad()
    def stream_causal():
        causal.eval()
        with autocast(device):
            _, state["s"] = causal(x, state["s"])

    @torch.no_grad()
    def stream_causal_b1():  # one subclip of one video: latency = seconds_per_call
        causal.eval()
        with autocast(device):
            _, state["s1"] = causal(x1, state["s1"])

    r = {"shufflenet_0.5x train": train_step(base, base), "causal train (buffer carried)": train_step(causal, causal_fwd),
         "shufflenet_0.5x inference": infer_base, "causal streaming inference": stream_causal}
    setup = {n: (lambda: state.update(s=None)) for n in r}

    def check():
        out = {}
        for name, fn in r.items():
            if device.type == "cuda":
                torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
                out[f"peak MiB {name}"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        import time
        ts = []
        for _ in range(3 if quick else 20):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter(); stream_causal_b1()
            if device.type == "cuda":
                torch.cuda.synchronize()
            ts.append(time.perf_counter() - t)
        out["causal per-subclip latency, batch 1 (ms)"] = round(1000 * sorted(ts)[len(ts) // 2], 3)
        return out

    return Bench(routes=r, reference="shufflenet_0.5x train", items_per_call=batch, unit="clips/s",
                 config={"size": size, "batch": batch, "T": 16, "blocks": list(blocks), "device": device.type},
                 warmup=1 if quick else 5, repeats=1 if quick else 20, rounds=1 if quick else 3, setup=setup,
                 check=check, notes="clip = one 16-frame subclip; causal training carries its buffer between calls")
