"""Ranking metrics of extreme classification on sparse labels, vectorised over documents.

All take ``topk`` (N x K int array: label indices ranked best first, K >= k) and ``Y`` (scipy CSR, N x L, 0/1).
- P@k  (Eq. 7):   (1/k) sum_{l in rank_k(y_hat)} y_l, averaged over documents.
- nDCG@k:         DCG@k / IDCG@k with DCG@k = sum_{r<k} y_{rank r} / log2(r + 2), IDCG over min(k, |y|) hits.
- PSP@k:          propensity-scored P@k (Jain et al. 2016): hits weighted by w_l = 1/p_l, normalised by the best
                  achievable value (the same sum over the k true labels of highest w_l); a ratio of totals.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

KS = (1, 3, 5)


def hits(topk: np.ndarray, Y: sp.csr_matrix) -> np.ndarray:
    """hits[i, r] = Y[i, topk[i, r]] (N x K, float), looked up in the sparse matrix without densifying it."""
    topk = np.asarray(topk)
    n, K = topk.shape
    if topk.size and (topk.min() < 0 or topk.max() >= Y.shape[1]):
        # numpy would read -1 as the last label: a ranker's padding index must never reach the metrics
        raise ValueError(f"label indices must lie in [0, {Y.shape[1]}), got {topk.min()} .. {topk.max()}")
    rows = np.repeat(np.arange(n), K)
    return np.asarray(Y[rows, topk.ravel()]).reshape(n, K).astype(np.float64)


def precision_at_k(topk, Y, ks=KS) -> dict[int, float]:
    h = hits(topk, Y)
    return {k: float(h[:, :k].sum(1).mean() / k) for k in ks}


def ndcg_at_k(topk, Y, ks=KS) -> dict[int, float]:
    h = hits(topk, Y)
    disc = 1.0 / np.log2(np.arange(h.shape[1]) + 2.0)
    n_true = np.diff(Y.indptr)
    out = {}
    for k in ks:
        dcg = (h[:, :k] * disc[:k]).sum(1)
        idcg = np.cumsum(disc[:k])[np.clip(np.minimum(n_true, k) - 1, 0, None)]
        valid = n_true > 0
        out[k] = float((dcg[valid] / idcg[valid]).sum() / len(n_true))
    return out


def inverse_propensity(Y_train: sp.csr_matrix, A: float = 0.55, B: float = 1.5) -> np.ndarray:
    """w_l = 1 + C (n_l + B)^-A with C = (ln N - 1)(B + 1)^A (Jain et al. 2016); n_l = training frequency of l."""
    N = Y_train.shape[0]
    n_l = np.asarray(Y_train.sum(0)).ravel()
    C = (np.log(N) - 1.0) * (B + 1.0) ** A
    return 1.0 + C * (n_l + B) ** (-A)


def psp_at_k(topk, Y, w: np.ndarray, ks=KS) -> dict[int, float]:
    h = hits(topk, Y)
    scored = h * w[np.asarray(topk)]
    # best achievable: each document's true labels sorted by w, descending
    n = Y.shape[0]
    kmax = max(ks)
    best = np.zeros((n, kmax))
    for i in range(n):  # per row of a sparse matrix: O(nnz log), no N x L array
        wi = np.sort(w[Y.indices[Y.indptr[i]:Y.indptr[i + 1]]])[::-1][:kmax]
        best[i, :len(wi)] = wi
    return {k: float(scored[:, :k].sum() / max(best[:, :k].sum(), 1e-12)) for k in ks}


def all_metrics(topk, Y, w=None, ks=KS) -> dict[str, float]:
    """P@k, nDCG@k (and PSP@k given propensity weights) in percent, keyed "P@1", "nDCG@3", "PSP@5", ..."""
    out = {f"P@{k}": 100 * v for k, v in precision_at_k(topk, Y, ks).items()}
    out.update({f"nDCG@{k}": 100 * v for k, v in ndcg_at_k(topk, Y, ks).items()})
    if w is not None:
        out.update({f"PSP@{k}": 100 * v for k, v in psp_at_k(topk, Y, w, ks).items()})
    return out
