"""Numbers that the book's prose pages quote, generated from records at every build (never typed by hand).

``write(root)`` writes ``book/_generated/*.md``, which the prose pages pull in with MyST's ``{include}``:
``expected_time.md``, the intro's table of the expected GPU time of each chapter's ``paper`` profile, computed
from the newest committed ``replicate bench`` record of each chapter (or the chapter's measured ``paper``-size
slice) and the size of the paper's workload (the papers' own data-set sizes, stated in the table).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import paths
from .results import committed_records, provenance


@dataclass(frozen=True)
class Workload:
    what: str  # the paper profile's work, in words, with where its size comes from
    items: float  # in the unit of the rate
    route: Callable[[dict], tuple[str, float] | None]  # (route, rate) from the chapter's records
    scope: str = ""  # what the estimate leaves out


def _bench(chapter: str) -> dict | None:
    recs = [r for r in committed_records(chapter, "bench") if not r.get("config", {}).get("quick")]
    return max(recs, key=lambda r: r.get("meta", {}).get("created", ""), default=None)


def _best(prefix: str):
    """The fastest route whose name starts with ``prefix`` in the newest bench record."""
    def pick(rec: dict) -> tuple[str, float] | None:
        thr = rec["bench"]["throughput"]
        cands = {k: v for k, v in thr.items() if k.startswith(prefix)}
        return max(cands.items(), key=lambda kv: kv[1]) if cands else None
    return pick


def _nm_slice(chapter: str) -> tuple[dict, str, float] | None:
    """Neural Mechanics: a measured slice of the paper profile (VGG-16 at Tiny ImageNet's shapes), if committed."""
    for profile in ("paper", "paper_slice", "gpu"):
        for r in sorted(committed_records(chapter, profile), key=lambda r: r["meta"].get("created", ""), reverse=True):
            sps = (r.get("metrics") or {}).get("paper_slice_steps_per_s")
            if sps:
                return r, "VGG-16-BN paper-size slice, tracked", float(sps)
    return None


WORKLOADS: dict[str, Workload] = {
    "neural_mechanics": Workload(
        "VGG-16 / VGG-16-BN on Tiny ImageNet, 14 SGD runs x 39,100 steps (the talk's sweep, lambda = 0 included) "
        "and the gradient-flow runs, batch 256", 14 * 39_100, lambda rec: None,
        "training only; each run at the rate measured for its net (the slice record's projection)"),
    "gudn": Workload(
        "Eurlex-4K, 5 runs (BERT, +GUD-F, +GUD-L, GUDN, one-hot) x 40 epochs x 15,539 training texts (Table 1)",
        5 * 40 * 15_539, _best("ours"), "training only"),
    "t5_xsum": Workload(
        "XSum: 1 epoch of 204,045 training pairs and a 4-point sweep of 20,000 pairs each (Narayan et al. 2018)",
        204_045 + 4 * 20_000, _best("ours"), "training only; generation of the test summaries is extra"),
    "mbert_lang": Workload(
        "language means over 5M Wikipedia tokens (Sec. 4.3) for each of the 20 languages of Tables 4-5 (English, "
        "13 POS and 6 parsing test languages)", 20 * 5e6, _best("ours"),
        "the means only; retrieval and POS fine-tuning are extra"),
    "causal_shufflenet": Workload(
        "UCF101 split 1, 100 epochs of about 84,000 16-frame subclips", 100 * 84_000, _best("causal train"),
        "training only, if decoding keeps up"),
}


def _hours(seconds: float) -> str:
    h = seconds / 3600
    return f"{h:.1f} h" if h >= 1 else f"{seconds / 60:.0f} min"


def expected_time_rows() -> list[dict]:
    rows = []
    from . import chapters

    for chapter in chapters.names():
        w = WORKLOADS.get(chapter)
        if w is None:
            continue
        row = {"chapter": chapters.get(chapter).title, "workload": w.what, "rate": "not measured",
               "expected": "not estimated", "record": "", "scope": w.scope}
        found = None
        if chapter == "neural_mechanics":
            s = _nm_slice(chapter)
            if s is not None:
                rec, route, rate = s
                found = (rec, route, rate, "steps/s")
        else:
            rec = _bench(chapter)
            pick = w.route(rec) if rec is not None else None
            if pick is not None:
                found = (rec, pick[0], pick[1], rec["bench"]["unit"])
        if found is not None:
            rec, route, rate, unit = found
            # a record that projects its own workload (each run at its own measured rate) is quoted as it is
            hours = (rec.get("metrics") or {}).get("projected_hours")
            expected = _hours(3600 * hours) if hours else _hours(w.items / rate)
            row.update(rate=f"{rate:,.1f} {unit} ({route})" if rate < 100 else f"{rate:,.0f} {unit} ({route})",
                       expected=expected, record=provenance(rec))
        rows.append(row)
    return rows


def expected_time_markdown() -> str:
    lines = ["| chapter | `paper` workload | measured rate | expected time | covers | measured by |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in expected_time_rows():
        lines.append(f"| {r['chapter']} | {r['workload']} | {r['rate']} | {r['expected']} | {r['scope']} | "
                     f"{r['record'] or 'no record'} |")
    return "\n".join(lines) + "\n"


def write(root: Path | None = None) -> list[Path]:
    root = root or paths.project_root()
    out = root / "book" / "_generated"
    out.mkdir(parents=True, exist_ok=True)
    p = out / "expected_time.md"
    p.write_text(expected_time_markdown())
    return [p]
