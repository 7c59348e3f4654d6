"""The chapter registry. Each paper package has a light ``profiles`` module (no torch import) with CHAPTER."""
from __future__ import annotations

import importlib
import importlib.util

from .config import Chapter, UsageError

#: Book order.
ORDER = ("neural_mechanics", "gudn", "t5_xsum", "mbert_lang", "causal_shufflenet")


def names() -> list[str]:
    """Chapters present in this checkout, in book order."""
    out = []
    for n in ORDER:
        try:
            if importlib.util.find_spec(f"replicate.papers.{n}.profiles") is not None:
                out.append(n)
        except ModuleNotFoundError:
            pass
    return out


def get(name: str) -> Chapter:
    valid = names()
    if name not in valid:
        raise UsageError(f"unknown chapter {name!r}; valid chapters: {', '.join(valid)}")
    return importlib.import_module(f"replicate.papers.{name}.profiles").CHAPTER
