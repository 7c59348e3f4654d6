"""Extractive baselines: Lead-k (the first k sentences) and Random-k (k random sentences, in document order) --
the report's Lead-3 and Random-3 (section 3.3), and with k = 1 Narayan et al.'s (2018) LEAD and RANDOM on XSum,
whose summaries are one sentence -- and the oracle sentence (the one sentence of highest ROUGE against the
reference)."""
from __future__ import annotations

import random

from .data import sentences


def split(document: str, by_line: bool = False) -> list[str]:
    """The sentences of a document. ``by_line``: one sentence per line, as XSum's documents are stored (the
    regex would cut "Mr. Smith" in two); otherwise the regex of ``data.sentences`` on every line."""
    lines = [ln.strip() for ln in document.split("\n") if ln.strip()]
    if by_line:
        return lines
    return [s for ln in lines for s in sentences(ln)]


def lead_k(document: str, k: int = 3, by_line: bool = False) -> str:
    """The first ``k`` sentences of the document."""
    return " ".join(split(document, by_line)[:k])


def random_k(document: str, k: int = 3, rng: random.Random | None = None, by_line: bool = False) -> str:
    """``k`` sentences drawn without replacement, kept in document order (all of them if there are fewer)."""
    rng = rng or random.Random(0)
    s = split(document, by_line)
    keep = sorted(rng.sample(range(len(s)), min(k, len(s))))
    return " ".join(s[i] for i in keep)


def oracle_sentence(document: str, reference: str, by_line: bool = False) -> str:
    """The single sentence with the highest mean of ROUGE-1, ROUGE-2 and ROUGE-L F1 against the reference."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    best, best_score = "", -1.0
    for s in split(document, by_line):
        sc = scorer.score(reference, s)
        v = sum(x.fmeasure for x in sc.values()) / 3
        if v > best_score:
            best, best_score = s, v
    return best
