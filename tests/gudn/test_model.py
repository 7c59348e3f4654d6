"""Model shapes, the three losses on a tiny model, test time without the label side, training/resume, profiles,
the bench's quick mode."""
from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from replicate import chapters
from replicate.config import UsageError
from replicate.papers.gudn import data as gdata
from replicate.papers.gudn import metrics as M
from replicate.papers.gudn.model import GUDN, ClusterRanker, make_encoder
from replicate.papers.gudn.profiles import PROFILES
from replicate.papers.gudn.train import Batcher

P = replace(PROFILES["smoke"], hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
            feature_layers=2, max_seq_length=24, max_label_length=8, n_train=40, n_test=16, n_labels=20, n_topics=4,
            doc_words=20, num_train_epochs=1, vocab_size=300, feature_mse="cls")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    labels, splits = gdata.generate(40, 16, 20, 4, 20, seed=0)
    d = gdata.load_folder(gdata.write_layout(tmp_path_factory.mktemp("g") / "gen", labels, splits))
    return d, gdata.train_tokenizer(d.train.texts + [" ".join(d.labels)], 300)


def tiny(tok, n_labels, label_input="raw", pooler=False, ranker=None):
    torch.manual_seed(0)
    return GUDN(make_encoder(P, len(tok), pooler=pooler), n_labels, P.feature_layers, 0.0, label_input, ranker)


def test_feature_shapes(corpus):
    d, tok = corpus
    m = tiny(tok, d.n_labels, pooler=True)
    b = Batcher(tok, d.train, P.max_seq_length, P.max_label_length)(range(4), "cpu")
    E, Pool = m.features(b["ids"], b["mask"])
    assert E.shape == (4, P.feature_layers * P.hidden_size) and Pool.shape == (4, P.hidden_size)
    assert b["label_ids"].shape[1] <= P.max_label_length and b["y"].shape == (4, d.n_labels)
    assert m.rank(b["ids"], b["mask"], 5).shape == (4, 5)


@pytest.mark.parametrize("term,flags", [("class", {}), ("feature", {}), ("link", {})])
def test_each_loss_goes_down_on_a_fixed_batch(corpus, term, flags):
    d, tok = corpus
    m = tiny(tok, d.n_labels)
    b = Batcher(tok, d.train, P.max_seq_length, P.max_label_length)(range(8), "cpu")
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        out = m(b, use_feature=True, use_link=True, feature_mse="cls")
        opt.zero_grad()
        out[term].backward()
        opt.step()
        first = first if first is not None else float(out[term].detach())
    with torch.no_grad():
        assert float(m(b, feature_mse="cls")[term]) < 0.8 * first


@pytest.mark.parametrize("feature_mse", ["cls", "pooler"])
def test_one_pass_over_texts_and_labels_equals_two_forwards(corpus, feature_mse):
    d, tok = corpus
    m = tiny(tok, d.n_labels, pooler=feature_mse == "pooler").eval()
    b = Batcher(tok, d.train, P.max_seq_length, P.max_label_length)(range(6), "cpu")
    assert b["label_ids"].shape[1] != b["ids"].shape[1]  # the label rows get padded inside the one forward
    with torch.no_grad():
        two = m(b, feature_mse=feature_mse)
        m.one_pass = True
        one = m(b, feature_mse=feature_mse)
    for k in ("class", "feature", "link", "total"):
        assert torch.allclose(one[k], two[k], atol=1e-5), k


def test_onehot_label_input_and_pooler_mse(corpus):
    d, tok = corpus
    m = tiny(tok, d.n_labels, label_input="onehot", pooler=True)
    b = Batcher(tok, d.train, P.max_seq_length, P.max_label_length, label_side=False)(range(4), "cpu")
    out = m(b, feature_mse="pooler")
    assert set(out) == {"class", "feature", "link", "total"}
    assert torch.isclose(out["total"], out["class"] + out["feature"] + out["link"])


def test_label_side_is_unused_at_test_time(corpus):
    d, tok = corpus
    m = tiny(tok, d.n_labels).eval()
    b = Batcher(tok, d.train, P.max_seq_length, P.max_label_length)(range(4), "cpu")
    calls = []
    h = m.bert.register_forward_hook(lambda mod, a, kw=None: calls.append(1))
    top = m.rank(b["ids"], b["mask"], 3)
    h.remove()
    assert len(calls) == 1  # one BERT pass, over the text only
    b2 = dict(b, label_ids=torch.zeros_like(b["label_ids"]))  # changing the label input changes nothing
    assert torch.equal(top, m.rank(b2["ids"], b2["mask"], 3))
    with pytest.raises(TypeError):
        m.rank(b["ids"], b["mask"], 3, b["label_ids"])


def test_cluster_ranker_dynamic_negative_sampling(corpus):
    d, tok = corpus
    from replicate.papers.gudn.model import label_clusters

    cl = label_clusters(d.train.texts, d.train.Y, 4)
    assert cl.shape == (d.n_labels,) and cl.max() < 4
    r = ClusterRanker(P.feature_layers * P.hidden_size, cl, top_b=2, emb_dim=16)
    m = tiny(tok, d.n_labels, ranker=r)
    b = Batcher(tok, d.train, P.max_seq_length, P.max_label_length)(range(8), "cpu")
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    l0 = float(m(b)["class"])
    for _ in range(10):
        loss = m(b)["class"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(m(b)["class"]) < l0
    top = m.eval().rank(b["ids"], b["mask"], 5)
    assert top.shape == (8, 5) and int(top.min()) >= 0 and int(top.max()) < d.n_labels


def test_fit_and_resume(corpus, tmp_path):
    from replicate.papers.gudn.train import fit
    from replicate.train import Checkpointer

    d, tok = corpus
    p = replace(P, num_train_epochs=2, per_device_train_batch_size=8, learning_rate=2e-3, device="cpu")
    ck = Checkpointer(tmp_path / "ck.pt")
    one = fit(replace(p, num_train_epochs=1), d, tok, "gudn", ck, log=lambda *a: None)
    assert ck.path.is_file() and one["curves"]["epoch"] == [1]
    # resuming the 2-epoch run from the 1-epoch checkpoint: the schedule differs (total steps), so only check it runs
    resumed = fit(p, d, tok, "gudn", ck, log=lambda *a: None)
    assert resumed["curves"]["epoch"] == [1, 2]
    assert resumed["curves"]["loss_class"][0] == one["curves"]["loss_class"][0]  # epoch 1 came from the checkpoint
    assert set(resumed["metrics"]) >= {"P@1", "P@3", "P@5", "nDCG@5", "PSP@5"}
    assert resumed["curves"]["loss_feature"][1] is not None


def test_profiles_resolve_and_bad_values_raise():
    ch = chapters.get("gudn")
    for name in ("smoke", "gpu", "paper"):
        ch.resolve(name)
    assert ch.resolve("paper").n_epochs == 40 and ch.resolve("paper", {"dataset_name": "wiki500k"}).n_epochs == 20
    with pytest.raises(UsageError, match="valid choices"):
        ch.resolve("smoke", {"feature_mse": "l2"})
    with pytest.raises(UsageError, match="valid choices"):
        ch.resolve("smoke", {"variants": "bert,gudx"})
    with pytest.raises(UsageError):
        ch.resolve("smoke", {"feature_layers": 99})


def test_bench_quick_runs():
    from replicate import bench

    r = bench.run("gudn", quick=True, store=False)
    assert set(r["throughput"]) == {"reference", "ours_onepass", "ours_compiled"} and r["reference"] == "reference"
    for route in ("ours_onepass", "ours_compiled"):
        assert r["check"]["reference"] == pytest.approx(r["check"][route], rel=1e-3)


def test_cluster_ranker_never_returns_padding_when_chosen_clusters_are_small():
    """Clusters of 1 and 3 labels, top_b=1, k=5: the chosen cluster can hold fewer than k labels; the ranking
    must still name k distinct valid labels, its first ones the chosen cluster's (the -1 padding bug: a probe
    gave P@5 53.3 instead of 13.3 because metrics read index -1 as the last label)."""
    torch.manual_seed(0)
    cl = np.array([0, 1, 1, 1, 2, 2, 2, 3, 3, 3])  # cluster 0 holds one label
    r = ClusterRanker(8, cl, top_b=1, emb_dim=4)
    with torch.no_grad():
        r.meta.weight.zero_()
        r.meta.bias.copy_(torch.tensor([5.0, 0.0, 0.0, 0.0]))  # cluster 0 is always chosen
    top = r.rank(torch.randn(6, 8), 5)
    assert top.shape == (6, 5) and int(top.min()) >= 0 and int(top.max()) < 10
    assert all(len(set(row.tolist())) == 5 for row in top)
    assert bool((top[:, 0] == 0).all())  # the one candidate comes first
    Y = sp.csr_matrix(np.eye(10)[[9] * 6])  # every document's one gold label is the LAST label
    assert M.precision_at_k(top.numpy(), Y)[5] <= 0.2  # at most one hit of five, not a hit per padding slot
