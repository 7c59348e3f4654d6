"""The debtags corpus: Debian package records (the shape replicate.debian.load returns) -> the LightXML layout,
deterministically; duplicates dropped; shared long descriptions kept in one split; the label vocabulary from the
training split; readable label texts; BUILD.json with the files' sha256. And a pretrained BERT loaded from a local
Hugging Face folder (model_name_or_path), as the real profile loads all-MiniLM-L6-v2."""
import hashlib
import json
from dataclasses import replace

import pytest

from replicate import chapters
from replicate.papers.gudn import data as gdata


def rec(pkg, summary, long, tags):
    return {"package": pkg, "summary": summary, "description": long, "tags": tags, "section": "misc"}


def records():
    out = []
    for i in range(60):
        kind = ["game", "editor", "mail"][i % 3]
        tags = {"game": ["game::strategy", "use::gameplaying", "role::program"],
                "editor": ["use::editing", "works-with::text", "implemented-in::c"],
                "mail": ["works-with::mail", "network::client", "interface::x11"]}[kind]
        out.append(rec(f"pkg{i:03d}", f"a {kind} number {i}", f"This {kind} package does thing {i}.", tags))
    out.append(rec("dup-a", "the same", "Shared text.", ["use::editing"]))
    out.append(rec("dup-b", "the same", "Shared text.", ["use::editing"]))  # an exact duplicate: dropped
    out.append(rec("lib-dev", "development files", "Boilerplate shared by a family.", ["use::editing"]))
    out.append(rec("lib-doc", "documentation", "Boilerplate shared by a family.", ["works-with::text"]))
    out.append(rec("untagged", "no tags", "Nothing.", []))
    out.append(rec("rare", "a rare one", "Rare.", ["field::astronomy", "use::editing"]))
    out.append(rec("form-only", "packaging tags only", "Role.", ["role::program", "implemented-in::c"]))
    return out


def test_corpus_is_deterministic_deduplicated_and_split_by_long_description():
    a = gdata.debtags_corpus(records(), min_label_freq=3, test_fraction=0.3)
    b = gdata.debtags_corpus(list(reversed(records())), min_label_freq=3, test_fraction=0.3)
    assert a == b
    labels, readable, splits, counts = a
    assert counts["duplicate_texts_dropped"] == 1
    texts = {s: splits[s][0] for s in splits}
    assert sum(t.startswith("the same.") for s in texts for t in texts[s]) == 1
    both = [s for s in texts for t in texts[s] if "Boilerplate" in t]
    assert len(both) == 2 and len(set(both)) == 1, "packages sharing a long description share a split"
    assert not any(t.split("::")[0] in ("role", "implemented-in", "interface") for t in labels)
    assert "field::astronomy" not in labels  # one training document < min_label_freq
    assert readable["works-with::text"] == "works with text" and readable["game::strategy"] == "game strategy"
    assert counts["train"] + counts["test"] == len(splits["train"][0]) + len(splits["test"][0]) > 50
    assert 0 < counts["test"] < counts["train"]
    assert all(names for s in splits for names in splits[s][1])


def test_readable_tag():
    assert gdata.readable_tag("works-with::image:raster") == "works with image raster"
    assert gdata.readable_tag("devel::lang:c++") == "devel lang c++"


def test_build_writes_the_layout_with_sha256_and_the_loader_reads_label_texts(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "cache"))
    from replicate import debian

    monkeypatch.setattr(gdata.shared_data, "require", lambda name, path=None: tmp_path / "snap")
    monkeypatch.setattr(debian, "load", lambda folder: records())

    class Src:
        options = {"facets": list(gdata.DEBTAGS_FACETS), "min_label_freq": 3, "test_fraction": 0.3}

    out = tmp_path / "built"
    build = gdata.build_debtags(Src(), out)
    for name, digest in build["sha256"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert json.loads((out / "BUILD.json").read_text())["options"]["min_label_freq"] == 3
    d = gdata.load_folder(out, "debtags")
    assert d.build["counts"]["labels"] == d.n_labels
    i = next(i for i, n in enumerate(d.train.label_names) if "works-with::mail" in n)
    assert "works with mail" in d.train.label_texts()[i] and "::" not in d.train.label_texts()[i]
    # the xz-compressed copy (as staged for the GPU) reads the same
    import lzma

    xz = tmp_path / "xz"
    xz.mkdir()
    for p in out.iterdir():
        (xz / (p.name + ".xz" if p.suffix == ".txt" else p.name)).write_bytes(
            lzma.compress(p.read_bytes()) if p.suffix == ".txt" else p.read_bytes())
    d2 = gdata.load_folder(xz, "debtags")
    assert d2.train.texts == d.train.texts and (d2.train.Y != d.train.Y).nnz == 0
    assert d2.train.label_texts() == d.train.label_texts()


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    """A tiny BertModel with a WordPiece vocabulary saved as a Hugging Face folder (what from_pretrained reads)."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("bert")
    tok = gdata.train_tokenizer(["game strategy use gameplaying works with text editing mail client"] * 20, 80)
    tok.save_pretrained(str(folder))
    cfg = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32)
    BertModel(cfg).save_pretrained(str(folder))
    return folder


def test_pretrained_folder_loads_and_trains_a_step_on_debtags(tmp_path, bert_folder, monkeypatch):
    """The real profile's path on a CPU slice: a local pretrained folder (model_name_or_path), the debtags layout,
    one epoch; the encoder's weights are the folder's (fp32) at the start."""
    import torch
    from transformers import BertModel

    from replicate.papers.gudn.model import make_encoder
    from replicate.papers.gudn.train import fit

    labels, readable, splits, _ = gdata.debtags_corpus(records(), min_label_freq=3, test_fraction=0.3)
    folder = gdata.write_layout(tmp_path / "debtags", labels, splits, readable)
    p = replace(chapters.get("gudn").resolve("real"), model_name_or_path=str(bert_folder), data_dir=str(folder),
                seeds=(0,), max_train_samples=24, max_eval_samples=8, max_seq_length=16, feature_layers=2,
                num_train_epochs=1, per_device_train_batch_size=8, device="cpu", precision="fp32")
    monkeypatch.setattr(gdata.shared_data, "require", lambda name, path=None: folder)
    d = gdata.load(p)
    assert len(d.train) == 24 and len(d.test) == 8
    enc = make_encoder(p, 0, pooler=True)
    ref = BertModel.from_pretrained(str(bert_folder))
    assert enc.embeddings.word_embeddings.weight.dtype == torch.float32
    assert torch.equal(enc.embeddings.word_embeddings.weight, ref.embeddings.word_embeddings.weight)
    tok = gdata.tokenizer_for(p, d)
    r = fit(p, d, tok, "gudn", log=lambda *a: None)
    assert r["curves"]["epoch"] == [1] and 0 <= r["metrics"]["P@1"] <= 100


def test_real_profile_resolves_and_its_preflight_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "empty"))
    ch = chapters.get("gudn")
    p = ch.resolve("real")
    assert p.dataset_name == "debtags" and p.model_name_or_path == "all-minilm-l6-v2" and len(p.seeds) >= 3
    lines = ch.missing(p)
    assert len(lines) == 2 and any("gudn-debtags" in x for x in lines) and any("all-minilm-l6-v2" in x for x in lines)
    assert ch.resolve("paper", {"dataset_name": "wiki500k"}).ranker_kind == "clusters"
    assert ch.resolve("paper").ranker_kind == "linear"
