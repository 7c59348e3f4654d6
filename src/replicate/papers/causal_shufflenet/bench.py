"""``replicate bench causal_shufflenet``: training and streaming-inference clips/s of the causal model against
3D-ShuffleNetV1 0.5x (the reference) in one run, each model at the same math under the same speed levers:

* ``eager``: NCDHW tensors, cuDNN autotuner on (GPU), bf16 autocast on a GPU;
* ``channels_last``: the same with ``channels_last_3d`` tensors and weights;
* ``compiled``: the channels-last step under ``torch.compile`` (GPU only: the CPU compile takes minutes).

``check`` adds what throughput cannot say: per-route peak GPU memory; batch-1 per-subclip latency of the
streamed causal model eager and replayed as one CUDA graph (``streaming.StaticStep``); the streamed peak memory
over a long stream against a short one; and the GPU idle share of a training loop fed by a DataLoader with
workers from a frame cache of real UCF101 size (128 x 170 frames, the chapter's cache resolution).

A clip is one T = 16-frame subclip at 112x112 (quick: 48x48, one unit per stage, CPU, no compile, no graph).
"""
from __future__ import annotations

import os
import tempfile
import time

import torch
import torch.nn.functional as F

from replicate.bench import Bench
from replicate.train import autocast, pick_device

from .model import CausalShuffleNet, ShuffleNet3D


MEAN, STD = (0.45, 0.45, 0.45), (0.25, 0.25, 0.25)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def loader_idle_share(device, quick: bool, size: int, blocks) -> dict:
    """Train the causal model from a DataLoader over a generated frame cache of UCF101's cached size; the share
    of wall time the GPU waits for the next batch (time in ``next(loader)`` + host-to-device copy over the loop)."""
    import numpy as np

    from . import data as D

    n_videos, length, hw = (6, 40, (64, 85)) if quick else (96, 120, (128, 170))
    workers = 0 if quick else min(8, max(1, (os.cpu_count() or 2) - 2))
    batch, steps = (2, 3) if quick else (16, 30)
    with tempfile.TemporaryDirectory() as tmp:
        cache = D.FrameCache(tmp)
        rng = np.random.default_rng(0)
        entries = []
        for i in range(n_videos):
            rel = f"C{i % 4}/v_{i}.avi"
            cache.put(rel, rng.integers(0, 256, (length, *hw, 3), dtype=np.uint8))
            entries.append((rel, i % 4))
        ds = D.TrainClips(cache, entries * 20, 32, size)
        dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                         prefetch_factor=4 if workers else None)
        model = CausalShuffleNet(4, blocks=blocks).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        it = iter(dl)
        for _ in range(2):  # warm-up: workers start, cuDNN autotunes
            x, y = next(it)
            _step(model, opt, D.normalise(x.to(device), MEAN, STD), y.to(device), device)
        _sync(device)
        wait = 0.0
        t0 = time.perf_counter()
        for _ in range(steps):
            t = time.perf_counter()
            x, y = next(it)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            wait += time.perf_counter() - t
            _step(model, opt, D.normalise(x, MEAN, STD), y, device)
            _sync(device)
        total = time.perf_counter() - t0
        del it, dl
    return {"loader workers": workers, "loader batch": batch, "GPU idle share (waiting for data)": round(wait / total, 4),
            "loader-fed causal train clips/s": round(steps * batch / total, 1)}


def _step(model, opt, x, y, device):
    with autocast(device):
        logits = model.forward_clip(x, 16)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.repeat(logits.shape[0]))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def routes(quick: bool = False, compile_backend: str | None = None) -> Bench:
    """The bench's routes; ``compile_backend`` (e.g. "eager": dynamo's trace without code generation, seconds on
    the CPU) also runs the torch.compile routes off the GPU (a test), where they are GPU-only by default."""
    device = pick_device("auto")
    cuda = device.type == "cuda" and not quick
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    size, batch, blocks = (48, 2, (1, 1, 1)) if quick else (112, 16, (4, 8, 4))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 16, size, size, generator=g).to(device)
    y = torch.randint(0, 101, (batch,), generator=g).to(device)
    xs = {"eager": x, "channels_last": x.contiguous(memory_format=torch.channels_last_3d)}
    models = {}
    for fmt in ("eager", "channels_last"):
        for name, make in (("shufflenet_0.5x", lambda: ShuffleNet3D(101, 0.5, blocks=blocks)),
                           ("causal", lambda: CausalShuffleNet(101, blocks=blocks))):
            torch.manual_seed(0)
            m = make().to(device)
            if fmt == "channels_last":
                m = m.to(memory_format=torch.channels_last_3d)
            models[(name, fmt)] = m
    torch.manual_seed(0)
    models[("causal_code", "channels_last")] = CausalShuffleNet(101, buffer_mode="code", blocks=blocks).to(device).to(
        memory_format=torch.channels_last_3d)  # the authors' code: fast path strided in time, fewer multiply-adds
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}
    state: dict = {}

    def train_step(key, fwd, inp):
        m = models[key]

        def step():
            m.train()
            with autocast(device):
                loss = F.cross_entropy(fwd(inp).float(), y)
            opts[key].zero_grad(set_to_none=True)
            loss.backward()
            opts[key].step()
            return loss
        return step

    def causal_fwd(key, net=None):
        def f(inp):  # one subclip with the buffer carried from the previous call (detached between steps)
            out, s = (models[key] if net is None else net)(inp, state.get(key))  # not `net or`: a compiled
            # module has a __len__ that raises for a non-container (bool() of it failed on the H200)
            state[key] = s.detach()
            return out
        return f

    def infer(key, inp):
        @torch.no_grad()
        def f():
            models[key].eval()
            with autocast(device):
                if key[0] == "causal":
                    _, state[key] = models[key](inp, state.get(key))
                else:
                    models[key](inp)
        return f

    r = {}
    for fmt in ("eager", "channels_last"):
        r[f"shufflenet_0.5x train {fmt}"] = train_step(("shufflenet_0.5x", fmt), models[("shufflenet_0.5x", fmt)], xs[fmt])
        r[f"causal train {fmt} (buffer carried)"] = train_step(("causal", fmt), causal_fwd(("causal", fmt)), xs[fmt])
    r["causal train channels_last, code's buffer"] = train_step(("causal_code", "channels_last"),
                                                               causal_fwd(("causal_code", "channels_last")),
                                                               xs["channels_last"])
    notes = ["clip = one 16-frame subclip; causal training carries its buffer between calls"]
    if cuda or compile_backend:
        try:
            backend = compile_backend or "inductor"
            cb = torch.compile(models[("shufflenet_0.5x", "channels_last")], backend=backend)
            cc = torch.compile(models[("causal", "channels_last")], backend=backend)
            r["shufflenet_0.5x train compiled"] = train_step(("shufflenet_0.5x", "channels_last"), cb, xs["channels_last"])
            r["causal train compiled (buffer carried)"] = train_step(("causal", "channels_last"),
                                                                     causal_fwd(("causal", "channels_last"), cc),
                                                                     xs["channels_last"])
            for _ in range(2):  # compile here, inside the try: first call without a buffer, then with one
                r["shufflenet_0.5x train compiled"]()
                r["causal train compiled (buffer carried)"]()
            state.clear()
        except Exception as e:  # noqa: BLE001 - a compile failure is reported, the other routes still run
            r.pop("shufflenet_0.5x train compiled", None)
            r.pop("causal train compiled (buffer carried)", None)
            notes.append(f"torch.compile failed: {type(e).__name__}: {str(e)[:200]}")
    for fmt in ("eager", "channels_last"):
        r[f"shufflenet_0.5x inference {fmt}"] = infer(("shufflenet_0.5x", fmt), xs[fmt])
        r[f"causal streaming inference {fmt}"] = infer(("causal", fmt), xs[fmt])
    setup = {n: state.clear for n in r}

    def check():
        from .streaming import StaticStep, memory_vs_length, static_latency_ms

        out = {}
        for name, fn in r.items():
            if device.type == "cuda":
                torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
                out[f"peak MiB {name}"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        shape1 = (1, 3, 16, size, size)
        x1 = torch.randn(shape1, generator=g).to(device)
        reps = 3 if quick else 50
        for fmt in ("eager", "channels_last"):
            m = models[("causal", fmt)]
            eager = StaticStep(m, shape1, device, graph=False, channels_last=fmt == "channels_last", precision="fp32")
            out[f"causal per-subclip latency, batch 1, {fmt} fp32 (ms)"] = round(static_latency_ms(eager, x1, reps), 3)
            if cuda:
                for prec in ("fp32", "bf16"):
                    gr = StaticStep(m, shape1, device, graph=True, channels_last=fmt == "channels_last", precision=prec)
                    out[f"causal per-subclip latency, batch 1, {fmt} {prec}, CUDA graph (ms)"] = round(
                        static_latency_ms(gr, x1, reps), 3)
        lengths = (1, 8) if quick else (1, 16, 256)
        mem = memory_vs_length(models[("causal", "eager")], lengths, shape1, device)
        out["streamed peak MiB by subclips"] = {r_["subclips"]: round(r_["streamed peak (MiB)"], 2) for r_ in mem}
        out.update(loader_idle_share(device, quick, size, blocks))
        from .model import count_macs
        from .streaming import step_profile  # operators per call at full depth (counted on the CPU, 48x48)

        for name, make in (("shufflenet_0.5x", lambda: ShuffleNet3D(101, 0.5, blocks=blocks)),
                           ("causal", lambda: CausalShuffleNet(101, blocks=blocks)),
                           ("causal, code's buffer", lambda: CausalShuffleNet(101, buffer_mode="code", blocks=blocks))):
            with torch.device("meta"):  # the arithmetic each training route does per clip (forward)
                out[f"MMACs per clip {name}"] = round(count_macs(make(), (1, 3, 16, size, size)) / 1e6, 1)

        for name, m in (("causal streamed subclip", CausalShuffleNet(101)),
                        ("shufflenet_0.5x forward", ShuffleNet3D(101, 0.5))):
            prof = step_profile(m)
            out[f"aten ops per {name}"] = {k: prof[k] for k in ("ops", "convolutions", "copies (cat/copy/clone)")}
        return out

    return Bench(routes=r, reference="shufflenet_0.5x train eager", items_per_call=batch, unit="clips/s",
                 config={"size": size, "batch": batch, "T": 16, "blocks": list(blocks), "device": device.type,
                         "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
                         "cudnn_benchmark": device.type == "cuda"},
                 warmup=1 if quick else 5, repeats=1 if quick else 20, rounds=1 if quick else 3, setup=setup,
                 check=check, notes="; ".join(notes))

