"""Extractive baselines of the report (section 3.3): Lead-3 (the first three sentences), Random-3 (three random
sentences, in document order); Lead-1 is XSum's own classic baseline (Narayan et al., 2018)."""
from __future__ import annotations

import random

from .data import sentences


def lead_k(document: str, k: int = 3) -> str:
    """The first ``k`` sentences of the document."""
    return " ".join(sentences(document)[:k])


def random_k(document: str, k: int = 3, rng: random.Random | None = None) -> str:
    """``k`` sentences drawn without replacement, kept in document order (all of them if there are fewer)."""
    rng = rng or random.Random(0)
    s = sentences(document)
    keep = sorted(rng.sample(range(len(s)), min(k, len(s))))
    return " ".join(s[i] for i in keep)
