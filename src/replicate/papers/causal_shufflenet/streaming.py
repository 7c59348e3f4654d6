"""Streaming (Section 4.2): causality, memory that does not grow with the video's length, per-subclip latency."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from .model import CausalShuffleNet, StreamState, stream


def random_subclips(n: int, shape, seed: int = 0, device="cpu"):
    """A video of n subclips made on the fly (never held whole in memory)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        yield torch.randn(shape, generator=g).to(device)


@torch.no_grad()
def causality_gap(model: CausalShuffleNet, n: int = 4, change_from: int = 2, shape=(1, 3, 16, 48, 48),
                  seed: int = 0) -> list[float]:
    """Max |logit difference| after each subclip when every frame from subclip ``change_from`` on is replaced:
    zero for the earlier subclips means the output never looks ahead."""
    model.eval()
    a = list(random_subclips(n, shape, seed))
    b = a[:change_from] + [torch.randn(shape) for _ in range(n - change_from)]
    la = stream(model, iter(a), keep_all=True)
    lb = stream(model, iter(b), keep_all=True)
    return [float((x - y).abs().max()) for x, y in zip(la, lb)]


def _rss_peak_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_memory_mib(fn, device: torch.device) -> float:
    """Peak memory while ``fn()`` runs: CUDA allocator peak on a GPU, else the process's peak resident set (reset
    before the call where Linux allows it; otherwise the measurement is a lifetime peak)."""
    if device.type == "cuda":
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn(); torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    _rss_peak_reset()
    fn()
    return _rss_peak_kib() / 1024


def memory_vs_length(model: CausalShuffleNet, lengths=(1, 4, 16), shape=(1, 3, 16, 112, 112), device="cpu") -> list[dict]:
    """Peak memory of streaming a video of n subclips, and of running the same video as one whole clip through
    the network (``forward_clip`` keeps no activations here, but the whole video tensor must be held)."""
    device = torch.device(device)
    model = model.to(device).eval()
    rows = []
    for n in lengths:
        def streamed():
            with torch.no_grad():
                stream(model, random_subclips(n, shape, device=device))

        def whole():
            with torch.no_grad():
                v = torch.randn(shape[0], shape[1], shape[2] * n, *shape[3:], device=device)
                model.forward_clip(v, shape[2])

        state = StreamState()
        with torch.no_grad():
            _, state = model(torch.randn(shape, device=device), state)
        rows.append({"subclips": n, "frames": n * shape[2], "streamed peak (MiB)": peak_memory_mib(streamed, device),
                     "whole video held (MiB)": peak_memory_mib(whole, device),
                     "buffer carried (KiB)": state.nbytes() / 1024})
    return rows


@torch.no_grad()
def subclip_latency_ms(model: CausalShuffleNet, shape=(1, 3, 16, 112, 112), repeats: int = 5, device="cpu") -> float:
    """Median wall time of one streamed subclip (batch 1)."""
    device = torch.device(device)
    model = model.to(device).eval()
    x = torch.randn(shape, device=device)
    state = None
    _, state = model(x, state)
    ts = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        _, state = model(x, state)
        if device.type == "cuda":
            torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    return 1000 * sorted(ts)[len(ts) // 2]


def run(p, profile: str, force: bool = False) -> dict:
    """The streaming record: causality gaps, memory against video lengths ``p.stream_lengths`` (subclips), latency
    (paper-size model, 112x112 on GPU; the profile's model and crop size on CPU)."""
    from replicate.config import as_dict
    from replicate.results import ResultStore
    from replicate.train import pick_device, seed_everything, set_threads

    device = pick_device(p.device)
    if device.type == "cpu":
        set_threads(p.cpu_threads)
    size = 112 if device.type == "cuda" else p.size
    lengths = tuple(p.stream_lengths)

    def fn():
        seed_everything(p.seed)
        blocks = (4, 8, 4) if device.type == "cuda" else p.blocks
        m = CausalShuffleNet(101, buffer_mode=p.buffer_mode, b=p.b, blocks=blocks)
        gaps = causality_gap(m, n=3, shape=(1, 3, p.T, size, size))
        mem = memory_vs_length(m, lengths, (1, 3, p.T, size, size), device)
        lat = subclip_latency_ms(m, (1, 3, p.T, size, size), repeats=5 if device.type == "cuda" else 2, device=device)
        return {"metrics": {"max_gap_before_change": max(gaps[:2]), "subclip_latency_ms": lat},
                "causality_gaps": gaps, "memory": mem, "size": size, "blocks": list(blocks)}

    return ResultStore("causal_shufflenet", profile).run("streaming", {**as_dict(p), "what": "streaming"}, fn,
                                                          seed=p.seed, force=force)
