"""Throughput of a chapter's hot loop against its reference route, measured as a ratio in one run.

A chapter's ``bench`` module defines ``routes(quick: bool) -> Bench``: named callables that each do one unit of
work (e.g. one training step) on the same data, one of them the reference. The harness warms each route up,
then times them interleaved (A, B, A, B, ...) so machine noise hits both alike, and reports throughput and the
ratio against the reference. The result is stored as a record under results/<chapter>/bench/.
"""
from __future__ import annotations

import importlib
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .config import UsageError


@dataclass
class Bench:
    """What a chapter hands the harness."""

    routes: dict[str, Callable[[], Any]]  # name -> one unit of work (e.g. one training step)
    reference: str  # the name of the reference route
    items_per_call: float  # e.g. batch size (samples) or tokens per call
    unit: str  # e.g. "samples/s"
    config: dict = field(default_factory=dict)  # shapes, batch, precision ... (goes into the record)
    warmup: int = 3
    repeats: int = 20
    rounds: int = 3
    setup: dict[str, Callable[[], None]] = field(default_factory=dict)  # optional per-route reset before timing
    check: Callable[[], dict] | None = None  # optional: e.g. the routes' losses on the same batch
    notes: str = ""


def _sync() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    except ImportError:  # pragma: no cover
        pass


def measure(b: Bench) -> dict:
    """Time every route; return per-route throughput (median over rounds) and ratios to the reference."""
    if b.reference not in b.routes:
        raise ValueError(f"reference route {b.reference!r} not among {list(b.routes)}")
    for name, fn in b.routes.items():
        if name in b.setup:
            b.setup[name]()
        for _ in range(b.warmup):
            fn()
    _sync()
    samples: dict[str, list[float]] = {n: [] for n in b.routes}
    for _ in range(b.rounds):
        for name, fn in b.routes.items():
            _sync()
            t0 = time.perf_counter()
            for _ in range(b.repeats):
                fn()
            _sync()
            samples[name].append(time.perf_counter() - t0)
    thr = {n: b.items_per_call * b.repeats / statistics.median(s) for n, s in samples.items()}
    ref = thr[b.reference]
    out = {
        "unit": b.unit,
        "reference": b.reference,
        "throughput": thr,
        "ratio": {n: v / ref for n, v in thr.items()},
        "seconds_per_call": {n: statistics.median(s) / b.repeats for n, s in samples.items()},
        "raw_seconds": samples,
        "config": b.config,
        "notes": b.notes,
    }
    if b.check is not None:
        out["check"] = b.check()
    try:
        import torch

        if torch.cuda.is_available():
            out["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    except ImportError:  # pragma: no cover
        pass
    return out


def run(chapter: str, quick: bool = False, store: bool = True) -> dict:
    from . import chapters
    from .results import ResultStore

    chapters.get(chapter)  # validates the name
    try:
        mod = importlib.import_module(f"replicate.papers.{chapter}.bench")
    except ModuleNotFoundError as e:
        raise UsageError(f"chapter {chapter!r} has no bench yet") from e
    b = mod.routes(quick=quick)
    t0 = time.perf_counter()
    result = measure(b)
    if store:
        import datetime

        cfg = {**b.config, "quick": quick, "routes": list(b.routes), "reference": b.reference,
               "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        ResultStore(chapter, "bench").put("bench", cfg, {"metrics": {"ratio": result["ratio"],
                                                                     "throughput": result["throughput"]},
                                                         "bench": result},
                                          wall_time_s=time.perf_counter() - t0)
    return result


def format_result(chapter: str, r: dict) -> str:
    lines = [f"bench {chapter}: {r['unit']} (reference: {r['reference']})"]
    for n, v in r["throughput"].items():
        lines.append(f"  {n:<28} {v:12.1f} {r['unit']}   x{r['ratio'][n]:.2f}")
    if "check" in r:
        lines.append(f"  check: {r['check']}")
    if "peak_memory_gib" in r:
        lines.append(f"  peak GPU memory: {r['peak_memory_gib']:.2f} GiB")
    return "\n".join(lines)


def committed(chapter: str) -> list[dict]:
    """The chapter's committed bench records from a GPU run (not ``--quick``), newest first."""
    from .results import committed_records

    recs = [r for r in committed_records(chapter, "bench") if not r.get("config", {}).get("quick")]
    return sorted(recs, key=lambda r: r.get("meta", {}).get("created", ""), reverse=True)


def record_table(record: dict):
    """One bench record as a table: route, throughput, ratio to the reference route, time per call."""
    import pandas as pd

    b = record["bench"]
    rows = [{"route": n + (" (reference)" if n == b["reference"] else ""), f"throughput ({b['unit']})": v,
             "ratio to reference": b["ratio"][n], "ms per call": 1e3 * b["seconds_per_call"][n]}
            for n, v in b["throughput"].items()]
    return pd.DataFrame(rows).set_index("route")
