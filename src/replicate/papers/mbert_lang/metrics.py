"""Metrics: BLEU-1 and convert rate (Sec. 3.2), top-1 retrieval accuracy (Tatoeba, Table 2), margin-based
mining with F1 at a dev-tuned threshold (BUCC 2018, Table 3), and the retrieval shifts Original / Zero-mean / MDS
(Sec. 4.2)."""
from __future__ import annotations

from typing import Iterable, Sequence

import torch


def bleu1(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU with unigrams only (clipped unigram precision x brevity penalty), in percent, via sacrebleu on
    the model's own tokens (tokenize="none")."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU(max_ngram_order=1, tokenize="none", effective_order=False, force=True)
    return float(bleu.corpus_score([" ".join(h) for h in hypotheses], [[" ".join(r) for r in references]]).score)


def convert_rate(outputs: Iterable[Sequence[str]], V_s: set[str], V_t: set[str]) -> float:
    """convert rate = #{y in V_t - V_s} / (#y - #{y in V_s & V_t}) (Sec. 3.2), in percent.

    y runs over all output tokens; tokens shared by both vocabularies are left out of numerator and denominator.
    Returns NaN when every output token is shared."""
    shared = V_s & V_t
    num = den = 0
    for sent in outputs:
        for y in sent:
            if y in shared:
                continue
            den += 1
            num += y in V_t
    return 100.0 * num / den if den else float("nan")


def token_set(sentences: Iterable[Sequence[str]]) -> set[str]:
    """V_L: the set of tokens of a language's sentences (Table 6)."""
    return {t for s in sentences for t in s}


# ------------------------------------------------------------------------------------------------ retrieval
def shifted(x: torch.Tensor, y: torch.Tensor, R_x: torch.Tensor, R_y: torch.Tensor, method: str):
    """Sentence embeddings of the two sides after Original, Zero-mean (x - R_x, y - R_y; Eq. 1) or MDS
    (x - R_x + R_y against y; Eq. 2), as compared in Sec. 4.2."""
    if method == "Original":
        return x, y
    if method == "Zero-mean":
        return x - R_x, y - R_y
    if method == "MDS":
        return x - R_x + R_y, y
    raise ValueError(f"unknown method {method!r}; valid: Original, Zero-mean, MDS")


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1)


def topk_cosine(x: torch.Tensor, y: torch.Tensor, k: int = 1, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """For every row of x, the k most cosine-similar rows of y: (scores (n, k), indices (n, k)); in chunks, so that
    100k x 100k fits on a GPU."""
    xn, yn = _normalize(x), _normalize(y)
    vals, inds = [], []
    for s in range(0, len(xn), chunk):
        sim = xn[s:s + chunk] @ yn.T
        v, i = sim.topk(min(k, yn.shape[0]), dim=1)
        vals.append(v)
        inds.append(i)
    return torch.cat(vals), torch.cat(inds)


def top1_accuracy(x: torch.Tensor, y: torch.Tensor) -> float:
    """Tatoeba: row i of x translates row i of y; percent of rows whose nearest y (cosine) is the right one."""
    _, idx = topk_cosine(x, y, 1)
    return 100.0 * float((idx[:, 0].cpu() == torch.arange(len(x))).float().mean())


def margin_candidates(x: torch.Tensor, y: torch.Tensor, k: int = 4, chunk: int = 8192):
    """Ratio-margin mining (Artetxe & Schwenk, 2019, as XTREME uses for BUCC): for every x its best y by
    margin(x, y) = cos(x, y) / (mean_k cos(x, NN_k(x)) / 2 + mean_k cos(y, NN_k(y)) / 2).

    Returns (index of y for each x, margin score of that pair)."""
    fwd, _ = topk_cosine(x, y, k, chunk)
    bwd, _ = topk_cosine(y, x, k, chunk)
    r_x, r_y = fwd.mean(1), bwd.mean(1)
    xn, yn = _normalize(x), _normalize(y)
    best_s, best_i = [], []
    for s in range(0, len(xn), chunk):
        sim = xn[s:s + chunk] @ yn.T
        margin = sim / ((r_x[s:s + chunk, None] + r_y[None, :]) / 2)
        v, i = margin.max(dim=1)
        best_s.append(v)
        best_i.append(i)
    return torch.cat(best_i).cpu(), torch.cat(best_s).cpu()


def f1_at(pairs: list[tuple[str, str]], scores: Sequence[float], gold: set[tuple[str, str]], threshold: float) -> float:
    """F1 (percent) of the mined pairs whose score is >= threshold against the gold pairs."""
    pred = {p for p, s in zip(pairs, scores) if s >= threshold}
    tp = len(pred & gold)
    if tp == 0:
        return 0.0
    prec, rec = tp / len(pred), tp / len(gold)
    return 100.0 * 2 * prec * rec / (prec + rec)


def best_threshold(pairs: list[tuple[str, str]], scores: Sequence[float], gold: set[tuple[str, str]]) -> tuple[float, float]:
    """The threshold that maximizes F1 on a split with known gold (BUCC's sample split): (threshold, F1)."""
    import numpy as np

    if not gold or not len(scores):
        return float("inf"), 0.0
    sc = np.asarray(scores, dtype=float)
    order = np.argsort(-sc, kind="stable")
    hit = np.array([pairs[i] in gold for i in order], dtype=float)
    tp = np.cumsum(hit)
    n_pred = np.arange(1, len(order) + 1)
    f1 = 2 * tp / (n_pred + len(gold))  # = 2PR/(P+R) with P = tp/n_pred, R = tp/|gold|
    last_of_tie = np.r_[sc[order][1:] != sc[order][:-1], True]  # a threshold keeps all pairs of equal score
    f1 = np.where(last_of_tie, f1, -1.0)
    j = int(np.argmax(f1))
    return float(sc[order][j]), 100.0 * float(f1[j])
