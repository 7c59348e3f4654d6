"""Extreme multi-label data in the LightXML / AttentionXML layout, a generated corpus in the same layout, and the
offline WordPiece tokenizer.

A data-set folder holds (AttentionXML names; LightXML's ``*_texts.txt`` are accepted too)::

    train_raw_texts.txt   one document per line
    train_labels.txt      the document's label NAMES, space-separated (e.g. ``ec_agreement state_aid``)
    test_raw_texts.txt
    test_labels.txt
    labels.txt            (optional) the label vocabulary, one name per line; else the union of the label files

Labels become a ``scipy.sparse.csr_matrix`` (N x L) through scikit-learn's ``MultiLabelBinarizer``; nothing dense
of size N x L is ever built on the CPU. Texts are cut to their first ``max_len`` tokens by the tokenizer.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from replicate import data as shared_data
from replicate import paths

#: chapter data-set name -> manifest name in data/manifests/gudn.yaml
MANIFEST = {"eurlex4k": "eurlex4k", "wiki10_31k": "wiki10_31k", "amazoncat13k": "amazoncat13k",
            "wiki500k": "wiki500k"}
SPLITS = ("train", "test")


@dataclass
class XMLSplit:
    """One split: raw texts, the gold label names per text, and the sparse label matrix Y (N x L)."""

    texts: list[str]
    label_names: list[list[str]]
    Y: sp.csr_matrix

    def __len__(self) -> int:
        return len(self.texts)

    def label_texts(self) -> list[str]:
        """The gold label names of each document joined into one text (the label side of GUDN, Sec. 4.2)."""
        return [" ".join(names) for names in self.label_names]


@dataclass
class XMLData:
    name: str
    labels: list[str]  # the label vocabulary: column j of Y is labels[j]
    train: XMLSplit
    test: XMLSplit
    folder: Path | None = None

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def stats(self) -> dict:
        """Table 1's columns: TRN, TST, LBL, SPL (samples per label), LPS (labels per sample), on the train split."""
        Y = self.train.Y
        n_pos = Y.sum()
        used = int((np.asarray(Y.sum(0)).ravel() > 0).sum())
        return {"TRN": len(self.train), "TST": len(self.test), "LBL": self.n_labels,
                "SPL": float(n_pos / max(used, 1)), "LPS": float(n_pos / max(len(self.train), 1))}


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def _texts_file(folder: Path, split: str) -> Path:
    for name in (f"{split}_raw_texts.txt", f"{split}_texts.txt"):
        if (folder / name).is_file():
            return folder / name
    raise shared_data.DataMissing(f"{folder} has no {split}_raw_texts.txt (or {split}_texts.txt)")


def load_folder(folder: str | Path, name: str | None = None) -> XMLData:
    """Read a data set in the LightXML/AttentionXML layout; labels as a sparse CSR matrix."""
    from sklearn.preprocessing import MultiLabelBinarizer

    folder = Path(folder)
    raw = {}
    for split in SPLITS:
        texts = _texts_file(folder, split)
        lab = folder / f"{split}_labels.txt"
        if not lab.is_file():
            raise shared_data.DataMissing(f"{folder} has no {split}_labels.txt")
        t, names = _read_lines(texts), [line.split() for line in _read_lines(lab)]
        if len(t) != len(names):
            raise ValueError(f"{texts.name} has {len(t)} lines but {lab.name} has {len(names)}")
        raw[split] = (t, names)
    if (folder / "labels.txt").is_file():
        vocab = [v.strip() for v in _read_lines(folder / "labels.txt") if v.strip()]
    else:
        vocab = sorted({n for split in SPLITS for names in raw[split][1] for n in names})
    mlb = MultiLabelBinarizer(classes=vocab, sparse_output=True)
    mlb.fit([])
    out = {}
    for split in SPLITS:
        texts, names = raw[split]
        known = set(vocab)
        names = [[n for n in ns if n in known] for ns in names]  # names outside the vocabulary are dropped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Y = mlb.transform(names).tocsr().astype(np.float32)
        out[split] = XMLSplit(texts, names, Y)
    return XMLData(name or folder.name, vocab, out["train"], out["test"], folder)


def load(params) -> XMLData:
    """The data set a profile asks for: generated (written to the cache, then read back) or a real one."""
    if params.dataset == "generated":
        folder = write_generated(params)
        return load_folder(folder, "generated")
    folder = shared_data.require(MANIFEST[params.dataset], params.data_dir)
    return load_folder(folder, params.dataset)


# ---------------------------------------------------------------------------------------------------------------
# The generated corpus: label names are words of the texts, so raw names carry meaning (the paper's premise).
# ---------------------------------------------------------------------------------------------------------------
_CONS = list("bdfgklmnprstvz")
_VOW = list("aeiou")


def _pseudo_words(rng: np.random.Generator, n: int) -> list[str]:
    out, seen = [], set()
    while len(out) < n:
        k = int(rng.integers(2, 4))
        w = "".join(str(rng.choice(_CONS)) + str(rng.choice(_VOW)) for _ in range(k)) + str(rng.choice(_CONS))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def generate(n_train: int, n_test: int, n_labels: int, n_topics: int, doc_words: int, seed: int = 0):
    """A multi-label corpus: topics -> labels named ``<topic word>_<label word>``; a document mixes words of its
    labels (their names and a few more keywords), of their topics, and background words.

    Returns (labels, {split: (texts, label name lists)})."""
    rng = np.random.default_rng(seed)
    per_label_kw = 3
    words = _pseudo_words(rng, n_topics * 5 + n_labels * (1 + per_label_kw) + 400)
    it = iter(words)
    topic_word = [next(it) for _ in range(n_topics)]
    topic_ctx = [[next(it) for _ in range(4)] for _ in range(n_topics)]
    label_word = [next(it) for _ in range(n_labels)]
    keywords = [[next(it) for _ in range(per_label_kw)] for _ in range(n_labels)]
    background = list(it)
    topic_of = np.arange(n_labels) % n_topics
    labels = [f"{topic_word[topic_of[j]]}_{label_word[j]}" for j in range(n_labels)]
    by_topic = [np.flatnonzero(topic_of == t) for t in range(n_topics)]
    pop = 1.0 / (1.0 + rng.permutation(n_labels)) ** 0.6  # a long tail of label frequencies
    all_kw = [w for ks in keywords for w in ks]
    bg, kw_all, lw = np.array(background), np.array(all_kw), np.array(label_word)
    kw, ctx = np.array(keywords), np.array(topic_ctx)

    def doc():
        t = int(rng.integers(n_topics))
        k = int(min(1 + rng.poisson(2.0), 6))
        pool = by_topic[t] if rng.random() < 0.85 else np.arange(n_labels)
        p = pop[pool] / pop[pool].sum()
        gold = rng.choice(pool, size=min(k, len(pool)), replace=False, p=p)
        n = int(doc_words * rng.uniform(0.6, 1.4))
        # each token: background (45%), a keyword of any label (10%: noise a bag of words would confuse), a context
        # word of a gold label's topic (10%), or a gold label's own word (30% of the rest) or keyword (drawn at once)
        r = rng.random(n)
        toks = np.empty(n, dtype=object)
        m = r < 0.45
        toks[m] = bg[rng.integers(len(bg), size=m.sum())]
        m = (r >= 0.45) & (r < 0.55)
        toks[m] = kw_all[rng.integers(len(kw_all), size=m.sum())]
        m = (r >= 0.55) & (r < 0.65)
        g = gold[rng.integers(len(gold), size=m.sum())]
        toks[m] = ctx[topic_of[g], rng.integers(ctx.shape[1], size=m.sum())]
        m = r >= 0.65
        g = gold[rng.integers(len(gold), size=m.sum())]
        toks[m] = np.where(rng.random(m.sum()) < 0.3, lw[g], kw[g, rng.integers(per_label_kw, size=m.sum())])
        return " ".join(toks), [labels[j] for j in sorted(gold)]

    splits = {}
    for split, n in (("train", n_train), ("test", n_test)):
        docs = [doc() for _ in range(n)]
        splits[split] = ([d[0] for d in docs], [d[1] for d in docs])
    return labels, splits


def write_layout(folder: Path, labels: list[str], splits: dict) -> Path:
    """Write a corpus in the AttentionXML/LightXML layout (atomically: a temporary folder, then a rename)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    for split, (texts, names) in splits.items():
        (tmp / f"{split}_raw_texts.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        (tmp / f"{split}_labels.txt").write_text("".join(" ".join(n) + "\n" for n in names), encoding="utf-8")
    (tmp / "labels.txt").write_text("".join(v + "\n" for v in labels), encoding="utf-8")
    try:
        os.replace(tmp, folder)
    except OSError:  # another process wrote it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def generated_key(params) -> dict:
    return {k: getattr(params, k) for k in ("n_train", "n_test", "n_labels", "n_topics", "doc_words", "seed")}


def write_generated(params) -> Path:
    """The generated corpus of ``params`` in the data cache (made once per size and seed)."""
    key = generated_key(params)
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    folder = paths.data_dir() / "gudn" / f"generated-{h}"
    if not (folder / "labels.txt").is_file():
        labels, splits = generate(**key)
        write_layout(folder, labels, splits)
    return folder


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------------------------
def train_tokenizer(texts: list[str], vocab_size: int, folder: Path | None = None):
    """A WordPiece tokenizer trained offline with ``tokenizers``, wrapped as a transformers BertTokenizerFast."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=1, show_progress=False)
    tok = BertTokenizerFast(tokenizer_object=wp._tokenizer, unk_token="[UNK]", sep_token="[SEP]",
                            pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
    if folder is not None:
        tok.save_pretrained(str(folder))
    return tok


def tokenizer_for(params, data: XMLData):
    """``AutoTokenizer.from_pretrained(params.bert)`` for a checkpoint; else WordPiece trained on the train split."""
    if params.bert:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(params.bert)
    corpus = data.train.texts + [" ".join(data.labels)]
    return cached_tokenizer(corpus, params.vocab_size)


def cached_tokenizer(corpus: list[str], vocab_size: int):
    """``train_tokenizer`` once per corpus, kept in the data cache: WordPiece training is not deterministic in its
    token ids from one process to the next, so a resumed run (whose checkpoint holds the embedding) and every rank
    of a distributed run must load the same trained tokenizer rather than train their own."""
    from transformers import BertTokenizerFast

    h = hashlib.sha256(f"{vocab_size}\n".encode())
    for t in corpus:
        h.update(t.encode())
        h.update(b"\0")
    folder = paths.data_dir() / "gudn" / f"tokenizer-{h.hexdigest()[:16]}"
    if (folder / "tokenizer.json").is_file():
        return BertTokenizerFast.from_pretrained(str(folder))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tokenizer-", dir=folder.parent))
    tok = train_tokenizer(corpus, vocab_size, tmp)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process saved it first: use that one
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        return BertTokenizerFast.from_pretrained(str(folder))
    return tok


def encode(tok, texts: list[str], max_len: int, pad_to_max: bool = False):
    """Token ids and attention mask, cut to the first ``max_len`` tokens ([CLS] ... [SEP])."""
    return tok(texts, max_length=max_len, truncation=True, padding="max_length" if pad_to_max else "longest",
               return_tensors="pt", return_token_type_ids=False)


def label_rows(Y: sp.csr_matrix, idx) -> list[np.ndarray]:
    """The gold label indices of rows ``idx`` of a CSR matrix."""
    return [Y.indices[Y.indptr[i]:Y.indptr[i + 1]] for i in idx]
