"""ROUGE as the report uses it (Table 3): ROUGE-1, ROUGE-2 and ROUGE-L precision, recall and F1, with
``rouge-score`` and Porter stemming, averaged over documents (fractions, as the report prints them).

ROUGE-Lsum (the summary-level LCS of the Hugging Face example) needs sentences on separate lines; they are split
with :func:`data.sentences` (a regex: nltk's punkt model is not available offline)."""
from __future__ import annotations

from rouge_score import rouge_scorer

from .data import sentences

TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
PARTS = ("precision", "recall", "fmeasure")


def rouge(predictions: list[str], references: list[str], types=TYPES) -> dict[str, dict[str, float]]:
    """Mean precision / recall / F1 per ROUGE type over (prediction, reference) pairs."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=True)
    sums = {t: dict.fromkeys(PARTS, 0.0) for t in types}
    for pred, ref in zip(predictions, references):
        if "rougeLsum" in types:
            pred_, ref_ = "\n".join(sentences(pred)), "\n".join(sentences(ref))
        else:
            pred_, ref_ = pred, ref
        for t, s in scorer.score(ref_, pred_).items():  # score(target, prediction)
            for part in PARTS:
                sums[t][part] += getattr(s, part)
    n = max(1, len(predictions))
    return {t: {part: v / n for part, v in d.items()} for t, d in sums.items()}


def flat(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """{"rouge1": {"precision": p, ...}} -> {"rouge1/precision": p, ...}"""
    return {f"{t}/{part}": v for t, d in scores.items() for part, v in d.items()}
