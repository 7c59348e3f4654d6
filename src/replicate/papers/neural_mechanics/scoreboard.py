"""Which reported numbers the chapter's records measure (see ``replicate.scoreboard``).

The talk claims that theory and empirics match "exactly" for every symmetry kind; its setting is VGG-16 on Tiny
ImageNet, but the claim itself holds or fails on any net and data, so the largest relative error of the continuous
theory over all SGD runs of a profile is our value for ``<kind>/theory`` (diverged runs have no error and do not
count)."""
from __future__ import annotations

import math

from . import experiment


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    sgd = [r for r in records if r.get("experiment") == "sgd"]
    if not sgd:
        return {}
    newest = max(sgd, key=lambda r: r["meta"].get("created", ""))
    out = {}
    for key, value in experiment.overall(sgd).items():
        if key.endswith("/theory") and value is not None and math.isfinite(value):
            out[key] = (value, newest)
    return out
