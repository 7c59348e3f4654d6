"""Loaders on fixtures in the LightXML/AttentionXML layout; the generated corpus; the tokenizer."""
from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from replicate.data import DataMissing
from replicate.papers.gudn import data as gdata
from replicate.papers.gudn.profiles import PROFILES


def write_fixture(folder, raw_names=True, vocab=True):
    folder.mkdir(parents=True, exist_ok=True)
    t = "raw_texts" if raw_names else "texts"
    (folder / f"train_{t}.txt").write_text("the council adopted the regulation on state aid\n"
                                           "agreement between the community and norway\n"
                                           "fisheries quota for cod\n", encoding="utf-8")
    (folder / "train_labels.txt").write_text("state_aid ec_regulation\nec_agreement norway\nfishery_management\n")
    (folder / f"test_{t}.txt").write_text("state aid to shipbuilding\nnew quota\n")
    (folder / "test_labels.txt").write_text("state_aid shipbuilding\nfishery_management unseen_label\n")
    if vocab:
        (folder / "labels.txt").write_text("ec_agreement\nec_regulation\nfishery_management\nnorway\nshipbuilding\nstate_aid\n")
    return folder


def test_attentionxml_layout(tmp_path):
    d = gdata.load_folder(write_fixture(tmp_path / "Eurlex-4K"))
    assert d.labels[0] == "ec_agreement" and d.n_labels == 6
    assert sp.issparse(d.train.Y) and d.train.Y.format == "csr" and d.train.Y.shape == (3, 6)
    assert d.train.Y[0, d.labels.index("state_aid")] == 1 and d.train.Y[0].nnz == 2
    assert d.test.label_names[1] == ["fishery_management"]  # a name outside the vocabulary is dropped
    assert d.train.label_texts()[1] == "ec_agreement norway"
    s = d.stats()
    assert (s["TRN"], s["TST"], s["LBL"]) == (3, 2, 6) and s["LPS"] == pytest.approx(5 / 3)


def test_lightxml_layout_without_vocabulary(tmp_path):
    d = gdata.load_folder(write_fixture(tmp_path / "x", raw_names=False, vocab=False))
    assert d.labels == sorted(d.labels) and "unseen_label" in d.labels and "shipbuilding" in d.labels
    assert d.test.Y.sum() == 4


def test_mismatched_lines(tmp_path):
    f = write_fixture(tmp_path / "bad")
    (f / "test_labels.txt").write_text("state_aid\n")
    with pytest.raises(ValueError, match="lines"):
        gdata.load_folder(f)


def test_missing_real_data_is_one_line(tmp_path):
    p = replace(PROFILES["paper"], data_dir=None)
    with pytest.raises(DataMissing) as e:
        gdata.load(p)
    assert "\n" not in str(e.value) and "Eurlex-4K" in str(e.value)


def test_generated_corpus_names_are_words_of_texts(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path))
    p = replace(PROFILES["smoke"], n_train=50, n_test=10)
    d = gdata.load(p)
    assert len(d.train) == 50 and d.n_labels == p.n_labels
    assert (tmp_path / "gudn").is_dir()
    hits = [any(n.split("_")[1] in t.split() for n in names) for t, names in zip(d.train.texts, d.train.label_names)]
    assert np.mean(hits) > 0.8


def test_tokenizer_cuts_to_max_len():
    tok = gdata.train_tokenizer(["alpha beta gamma delta"] * 5, 60)
    enc = gdata.encode(tok, ["alpha beta " * 100, "gamma"], max_len=16)
    assert enc["input_ids"].shape == (2, 16) and enc["attention_mask"][1].sum() < 16
    assert enc["input_ids"][0, 0] == tok.cls_token_id
    assert gdata.encode(tok, ["gamma"], 16, pad_to_max=True)["input_ids"].shape == (1, 16)


def test_trained_tokenizer_is_cached_so_a_restart_gets_the_same_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path))
    from replicate.papers.gudn import data as gdata

    corpus = [f"label{i % 7} text about topic {i % 5} and word{i % 11}" for i in range(60)]
    a = gdata.cached_tokenizer(corpus, 80)
    b = gdata.cached_tokenizer(corpus, 80)
    assert a.get_vocab() == b.get_vocab()
    assert len(list((tmp_path / "gudn").glob("tokenizer-*"))) == 1
    gdata.cached_tokenizer(corpus[:-1], 80)
    assert len(list((tmp_path / "gudn").glob("tokenizer-*"))) == 2, "another corpus gets its own tokenizer"
