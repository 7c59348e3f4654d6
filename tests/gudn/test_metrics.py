"""P@k, nDCG@k, PSP@k against independent computations on fixed inputs."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score

from replicate.papers.gudn import metrics as M

Y_DENSE = np.array([[1, 0, 1, 0, 0, 1],
                    [0, 1, 0, 0, 0, 0],
                    [0, 0, 0, 1, 1, 0],
                    [1, 1, 1, 1, 0, 0]], dtype=float)
SCORES = np.array([[.9, .1, .2, .8, .0, .7],
                   [.1, .2, .9, .3, .4, .5],
                   [.3, .2, .1, .9, .8, .0],
                   [.5, .4, .3, .2, .1, .0]])


def topk(scores, k=5):
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_precision_against_loops():
    Y = sp.csr_matrix(Y_DENSE)
    got = M.precision_at_k(topk(SCORES), Y)
    for k in (1, 3, 5):
        want = np.mean([sum(Y_DENSE[i, j] for j in topk(SCORES)[i, :k]) / k for i in range(4)])
        assert got[k] == pytest.approx(want)
    assert got[1] == pytest.approx(0.75)  # rows 0, 2, 3 are right at rank 1


def test_ndcg_against_sklearn():
    Y = sp.csr_matrix(Y_DENSE)
    got = M.ndcg_at_k(topk(SCORES, 5), Y)
    for k in (1, 3, 5):
        assert got[k] == pytest.approx(ndcg_score(Y_DENSE, SCORES, k=k))


def test_psp_against_loops():
    Y = sp.csr_matrix(Y_DENSE)
    w = np.array([1.0, 2.0, 3.0, 1.5, 4.0, 2.5])
    got = M.psp_at_k(topk(SCORES), Y, w)
    for k in (1, 3, 5):
        num = sum(Y_DENSE[i, j] * w[j] for i in range(4) for j in topk(SCORES)[i, :k])
        den = sum(sum(sorted(w[Y_DENSE[i] > 0], reverse=True)[:k]) for i in range(4))
        assert got[k] == pytest.approx(num / den)
    perfect = np.argsort(-(Y_DENSE * w + 1e-3 * w), axis=1)[:, :5]
    assert M.psp_at_k(perfect, Y, w)[1] == pytest.approx(1.0)


def test_inverse_propensity_formula():
    Y = sp.csr_matrix(Y_DENSE)
    w = M.inverse_propensity(Y, A=0.55, B=1.5)
    n_l, N = Y_DENSE.sum(0), 4
    C = (np.log(N) - 1) * (1.5 + 1) ** 0.55
    assert np.allclose(w, 1 + C * (n_l + 1.5) ** -0.55)
    assert w[4] > w[0]  # rarer labels weigh more


def test_hits_refuses_padding_indices():
    Y = sp.csr_matrix(Y_DENSE)
    with pytest.raises(ValueError, match="label indices"):
        M.precision_at_k(np.array([[0, -1, -1, -1, -1]] * 4), Y)
    with pytest.raises(ValueError, match="label indices"):
        M.hits(np.array([[6]] * 4), Y)
