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


class StaticStep:
    """One streamed subclip at a fixed shape with the input and the carried buffer in fixed tensors, so that the
    whole step (the network and the buffer update) can be captured once as a CUDA graph and replayed per subclip:
    one launch instead of a few hundred small kernels at batch 1 (``graph=True``, CUDA only). With
    ``graph=False`` the same static-buffer step runs eagerly (what the tests check against ``stream``).

    ``reset()`` starts a new video (zero buffer, which is what the model uses when it is given none)."""

    def __init__(self, model: CausalShuffleNet, shape, device, graph: bool = True, precision: str = "auto",
                 channels_last: bool = False):
        import contextlib

        from replicate.train import resolve_precision

        self.model, self.device = model.eval(), torch.device(device)
        bf16 = resolve_precision(precision, self.device) == "bf16"
        # no autocast weight cache: a graph must not capture casts cached outside it (torch.cuda.graph's docs)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False)) if bf16 \
            else contextlib.nullcontext
        self.x = torch.zeros(shape, device=self.device)
        if channels_last:
            self.x = self.x.contiguous(memory_format=torch.channels_last_3d)
        with torch.no_grad(), self.autocast():
            _, st = model(self.x, None)
        self.state = StreamState(torch.zeros_like(st.slow), torch.zeros_like(st.fast))
        self.graph = None
        if graph:
            if self.device.type != "cuda":
                raise ValueError("CUDA graphs need a CUDA device")
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):  # warm up (cuDNN autotuning, allocator) outside the capture
                    self._step()
            torch.cuda.current_stream().wait_stream(side)
            self.reset()
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.logits = self._step()
        self.reset()

    @torch.no_grad()
    def _step(self) -> torch.Tensor:
        with self.autocast():
            logits, new = self.model(self.x, self.state)
        self.state.slow.copy_(new.slow)  # the buffer update is part of the step (and of the graph)
        self.state.fast.copy_(new.fast)
        return logits

    def reset(self) -> None:
        self.state.slow.zero_()
        self.state.fast.zero_()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.x.copy_(x)
        if self.graph is None:
            return self._step()
        self.graph.replay()
        return self.logits


def static_latency_ms(step: StaticStep, x: torch.Tensor, repeats: int = 20) -> float:
    """Median wall time of one subclip through ``step`` (input copy included)."""
    ts = []
    for _ in range(repeats + 2):
        if step.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        step(x)
        if step.device.type == "cuda":
            torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    ts = ts[2:]
    return 1000 * sorted(ts)[len(ts) // 2]


def measure(p) -> dict:
    """The streaming record's body: causality gaps, memory against video lengths ``p.stream_lengths`` (subclips),
    per-subclip latency at batch 1 (eager; on a GPU also replayed as one CUDA graph). On a GPU the model is the
    paper's size at 112x112; on the CPU the profile's model and crop size."""
    from replicate.train import pick_device, seed_everything, set_threads

    device = pick_device(p.device)
    if device.type == "cpu":
        set_threads(p.cpu_threads)
    else:
        torch.backends.cudnn.benchmark = bool(p.cudnn_benchmark)
    size = 112 if device.type == "cuda" else p.size
    shape = (1, 3, p.T, size, size)
    seed_everything(p.seed)
    blocks = (4, 8, 4) if device.type == "cuda" else p.blocks
    m = CausalShuffleNet(101, buffer_mode=p.buffer_mode, b=p.b, blocks=blocks)
    gaps = causality_gap(m, n=3, shape=shape)
    mem = memory_vs_length(m, tuple(p.stream_lengths), shape, device)
    lat = subclip_latency_ms(m, shape, repeats=20 if device.type == "cuda" else 2, device=device)
    metrics = {"max_gap_before_change": max(gaps[:2]), "subclip_latency_ms": lat,
               "memory_growth_mib": mem[-1]["streamed peak (MiB)"] - mem[0]["streamed peak (MiB)"]}
    if device.type == "cuda":
        x = torch.randn(shape, device=device)
        graphed = StaticStep(m, shape, device, graph=True, precision="fp32")  # the eager latency's math (fp32)
        metrics["subclip_latency_ms_cuda_graph"] = static_latency_ms(graphed, x)
        # the graph computes what the eager stream computes (same buffer carried over 3 subclips)
        xs = [torch.randn(shape, device=device) for _ in range(3)]
        graphed.reset()
        g_out = [graphed(v).float().clone() for v in xs]
        e_out = stream(m, iter(xs), keep_all=True)
        metrics["cuda_graph_max_diff"] = max(float((a - b.float()).abs().max()) for a, b in zip(g_out, e_out))
    return {"metrics": metrics, "causality_gaps": gaps, "memory": mem, "size": size, "blocks": list(blocks),
            "device": device.type}


def op_counts(fn) -> dict[str, int]:
    """The aten operators ``fn()`` dispatches (each one a kernel launch or more on a GPU), by name: where the
    time of a small-batch step goes when it is launch-bound. Counted with a TorchDispatchMode (no timing)."""
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    counts: Counter = Counter()

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            counts[func.overloadpacket.__name__] += 1
            return func(*args, **(kwargs or {}))

    with Count():
        fn()
    return dict(counts)


def step_profile(model: torch.nn.Module, shape=(1, 3, 16, 48, 48)) -> dict:
    """Operators of one streamed subclip (causal) or one forward (a baseline) at ``shape``, in eval mode: total,
    convolutions, and the copies (cat, copy_, contiguous clones) that the stream buffer adds."""
    model.eval()
    x = torch.randn(shape)
    with torch.no_grad():
        if isinstance(model, CausalShuffleNet):
            _, st = model(x, None)
            c = op_counts(lambda: model(x, st))
        else:
            c = op_counts(lambda: model(x))
    copies = sum(v for k, v in c.items() if k in ("cat", "copy_", "clone", "_to_copy"))
    return {"ops": sum(c.values()), "convolutions": c.get("convolution", 0), "copies (cat/copy/clone)": copies,
            "by_op": dict(sorted(c.items(), key=lambda kv: -kv[1]))}
