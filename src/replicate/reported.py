"""The papers' reported numbers as data, and tables that set them beside ours.

Each paper package has ``reported.yaml``::

    source: "Paper title, table/figure"
    numbers:
      table2/eurlex4k/P@1: {value: 86.91, unit: "%", what: "P@1 on Eurlex-4K", tolerance: 1.0}

``tolerance`` (same unit) is what the chapter counts as "reproduced"; a number without one is shown, never judged.
"""
from __future__ import annotations

import importlib.resources
from typing import Any, Mapping

import pandas as pd
import yaml


def load(chapter: str) -> dict[str, dict[str, Any]]:
    """The reported numbers of a chapter: key -> {value, unit, what, tolerance, ...}."""
    text = importlib.resources.files(f"replicate.papers.{chapter}").joinpath("reported.yaml").read_text()
    raw = yaml.safe_load(text) or {}
    return {k: dict(v) for k, v in (raw.get("numbers") or {}).items()}


def verdict(paper: float | None, ours: float | None, tolerance: float | None) -> str:
    if ours is None:
        return "not run"
    if paper is None or tolerance is None:
        return "shown"
    return "reproduced" if abs(ours - paper) <= tolerance else "not reproduced"


def compare(chapter: str, measured: Mapping[str, float | None], profile: str, keys: list[str] | None = None,
            scale: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per reported number: what, paper, ours, difference (ours - paper), profile, verdict.

    ``measured`` maps the same keys as reported.yaml to our values (already in the paper's unit)."""
    rep = load(chapter)
    rows = []
    for key in keys or list(rep):
        if key not in rep:
            raise KeyError(f"{key!r} is not a reported number of {chapter}")
        r = rep[key]
        ours = measured.get(key)
        paper = r.get("value")
        diff = None if ours is None or paper is None else ours - paper
        rows.append({
            "quantity": r.get("what", key),
            "paper": paper,
            "ours": ours,
            "difference": diff,
            "unit": r.get("unit", ""),
            "profile": profile,
            "verdict": verdict(paper, ours, r.get("tolerance")) if profile == "paper" else f"{profile}: not comparable",
        })
    return pd.DataFrame(rows)
