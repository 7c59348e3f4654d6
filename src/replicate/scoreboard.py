"""The replication scoreboard: every number the papers report, beside ours, built from result records.

Each chapter says which reported numbers its records measure through a hook, ``replicate.papers.<chapter>.
scoreboard.measured(records) -> {key: (value, record)}``: given all records of one profile, our value (in the
paper's unit) of each key of the chapter's ``reported.yaml`` that those records measure *in the paper's setting*
(its data set; a run on generated data measures none), with the record it came from. The scoreboard asks the
profiles in order ``paper``, ``gpu``, ``smoke`` and keeps the first value per key. Only a ``paper``-profile value
is judged against the paper's tolerance; anything else is "not run" in the paper's setting, shown for context.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from . import chapters, paths, reported

PREFERENCE = ("paper", "gpu", "smoke")


def _records(roots: Iterable[Path]) -> list[dict]:
    out, seen = [], set()
    for root in roots:
        if not root.is_dir():
            continue
        for p in sorted(root.glob("*/*/*.json")):
            try:
                rec = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            key = (rec.get("chapter"), rec.get("profile"), rec.get("key"))
            if key in seen:
                continue
            seen.add(key)
            out.append(rec)
    return out


def _hook(chapter: str):
    import importlib

    try:
        return importlib.import_module(f"replicate.papers.{chapter}.scoreboard").measured
    except ModuleNotFoundError:
        return None


def table(roots: Iterable[Path] | None = None) -> pd.DataFrame:
    roots = list(roots) if roots is not None else [paths.committed_results_dir(), paths.results_dir()]
    recs = _records(roots)
    rows = []
    for ch in chapters.names():
        rep = reported.load(ch)
        hook = _hook(ch)
        best: dict[str, tuple] = {}
        for profile in PREFERENCE:
            mine = [r for r in recs if r.get("chapter") == ch and r.get("profile") == profile]
            if not mine or hook is None:
                continue
            for key, (value, rec) in hook(mine).items():
                if key not in rep:
                    raise KeyError(f"{ch}: the scoreboard hook gave {key!r}, which is not in reported.yaml")
                if key not in best and value is not None:
                    best[key] = (value, rec)
        for key, r in rep.items():
            paper = r.get("value")
            row = {"chapter": ch, "number": r.get("what", key), "paper": paper, "ours": None, "difference": None,
                   "unit": r.get("unit", ""), "profile": "", "device": "", "date": "", "verdict": "not run"}
            if key in best:
                value, rec = best[key]
                meta = rec["meta"]
                dev = meta.get("device", {})
                row.update(ours=value, difference=None if paper is None else value - paper, profile=rec["profile"],
                           device=dev.get("gpu") or dev.get("device", ""), date=str(meta.get("created", ""))[:10])
                if rec["profile"] == "paper":
                    row["verdict"] = reported.verdict(paper, value, r.get("tolerance"))
                else:
                    row["verdict"] = f"not run (closest: {rec['profile']}, not comparable)"
            rows.append(row)
    return pd.DataFrame(rows)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown(df: pd.DataFrame) -> str:
    """The scoreboard page (MyST markdown), written before the book is built."""
    lines = [
        "# Replication scoreboard",
        "",
        "Every number the five papers report that a chapter reproduces: the paper's value, ours, the difference, "
        "the profile, device and date of the run, and a verdict. This page is generated from the result records "
        "(`results/`) each time the book is built; nothing in it is typed by hand. Only runs of the `paper` profile "
        "(the paper's data, models and settings) are judged; `smoke` and `gpu` runs are shown for context only.",
        "",
    ]
    counts = df["verdict"].map(lambda v: v.split(" (")[0]).value_counts() if len(df) else {}
    lines.append("Totals: " + ", ".join(f"{k}: {v}" for k, v in dict(counts).items()) + ".")
    lines.append("")
    for ch, part in df.groupby("chapter", sort=False):
        title = chapters.get(ch).title
        lines += [f"## {title}", "", "| number | paper | ours | difference | unit | profile | device | date | verdict |",
                  "| --- | ---: | ---: | ---: | --- | --- | --- | --- | --- |"]
        for _, r in part.iterrows():
            lines.append("| " + " | ".join(_fmt(r[c]) for c in ("number", "paper", "ours", "difference", "unit",
                                                                 "profile", "device", "date", "verdict")) + " |")
        lines.append("")
    return "\n".join(lines)


def write(root: Path | None = None, roots: Iterable[Path] | None = None) -> Path:
    root = root or paths.project_root()
    out = root / "book" / "scoreboard.md"
    out.write_text(markdown(table(roots)))
    return out
