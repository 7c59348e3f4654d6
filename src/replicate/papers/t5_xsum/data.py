"""XSum, its real stand-in and its generated one: loading (``datasets``), the Debian package descriptions as
document/summary pairs, the real XSum test sample, a generator of article/summary pairs in XSum's schema, an
offline tokenizer, tokenisation with the "summarize: " prefix (section 2.3.1), T5's span corruption and
length-bucketed batches.

XSum (Narayan et al., 2018) has three splits of (document, summary, id): 204,045 / 11,332 / 11,334.
"""
from __future__ import annotations

import json
import lzma
import random
import re
from pathlib import Path

from replicate.data import DataMissing, require, sha256_of

SPLITS = ("train", "validation", "test")
XSUM_SIZES = {"train": 204_045, "validation": 11_332, "test": 11_334}
FIELDS = ("document", "summary", "id")
_EXT = {".json": "json", ".jsonl": "json", ".jsonl.xz": "json", ".json.xz": "json", ".parquet": "parquet",
        ".csv": "csv"}


def _kind(p: Path) -> str | None:
    """The datasets builder of a data file, by its (possibly compound) suffix: train.jsonl.xz -> json."""
    suffix = "".join(p.suffixes[-2:]) if len(p.suffixes) > 1 and p.suffix == ".xz" else p.suffix
    return _EXT.get(suffix)

# --------------------------------------------------------------------------------------------------- real XSum


def _split_files(folder: Path, split: str) -> list[Path]:
    """Files of one split in a local copy: ``<split>.<ext>``, ``<split>-*.<ext>`` or ``<split>/*.<ext>``
    (the hub's parquet layout ``data/<split>-00000-of-00001.parquet`` is found too)."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and _kind(p):
            rel = p.relative_to(folder).as_posix()
            stem = p.name.split(".")[0]
            if stem == split or stem.startswith(f"{split}-") or f"/{split}/" in f"/{rel}" or rel.startswith(f"{split}/"):
                out.append(p)
    return out


def load_xsum(data_dir: str | None = None, splits=SPLITS):
    """XSum as a ``datasets.DatasetDict`` with columns document, summary, id.

    ``data_dir``: a local copy, one file (or several shards) per split in json/jsonl, parquet or csv, loaded with
    datasets' own builders; None: ``load_dataset("EdinburghNLP/xsum")`` (needs the hub or its cache)."""
    import datasets

    if data_dir is None:
        try:
            return datasets.load_dataset("EdinburghNLP/xsum")
        except Exception as e:  # no network, no cache
            raise DataMissing("XSum is not available from the hub here (" + type(e).__name__ + "); pass a local copy "
                              "with -p data_dir=/path/to/xsum (files train/validation/test .jsonl, .json, .parquet "
                              "or .csv with document, summary, id)") from None
    folder = Path(data_dir).expanduser()
    files = {s: _split_files(folder, s) for s in splits} if folder.is_dir() else {}
    missing = [s for s in splits if not files.get(s)]
    if missing:
        raise DataMissing(f"XSum copy in {folder} lacks the split(s) {', '.join(missing)} "
                          f"(expected files named <split>.jsonl/.json/.parquet/.csv with document, summary, id)")
    kinds = {_kind(p) for s in splits for p in files[s]}
    if len(kinds) != 1:
        raise DataMissing(f"XSum copy in {folder} mixes file formats ({', '.join(sorted(kinds))}); use one")
    ds = datasets.load_dataset(kinds.pop(), data_files={s: [str(p) for p in files[s]] for s in splits})
    for s in splits:
        lacking = [f for f in FIELDS if f not in ds[s].column_names]
        if lacking:
            raise DataMissing(f"XSum copy in {folder}: split {s!r} lacks the column(s) {', '.join(lacking)}")
        ds[s] = ds[s].cast_column("id", datasets.Value("string")) if ds[s].features["id"].dtype != "string" else ds[s]
    return ds


# ---------------------------------------------------------------------------------------- the real XSum sample

XSUM_SAMPLE_FILE = "xsum-1000.jsonl"
XSUM_SPLIT_FILE = "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json"
#: where the project's shared data keeps the sample (copied into the data cache by ``build_xsum_sample``)
SHARED_XSUM_SAMPLE = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "xsum-sample"


def load_xsum_sample(folder: str | Path | None = None) -> dict:
    """The real XSum test documents of ``xsum-sample`` (1,000 BBC articles with their reference summaries, read with
    ``datasets``' json builder, the same builder as a local XSum copy), checked against the official split file:
    every id must be in its ``test`` list. Returns {"test": records, "split_sizes": sizes of the official split,
    "sha256": {file: digest}}."""
    import datasets

    folder = Path(folder) if folder else require("xsum-sample")
    files = {n: folder / n for n in (XSUM_SAMPLE_FILE, XSUM_SPLIT_FILE)}
    lacking = [n for n, f in files.items() if not f.is_file()]
    if lacking:
        raise DataMissing(f"the XSum sample in {folder} lacks {', '.join(lacking)}")
    ds = datasets.load_dataset("json", data_files={"test": str(files[XSUM_SAMPLE_FILE])})["test"]
    bad = [f for f in FIELDS if f not in ds.column_names]
    if bad:
        raise DataMissing(f"{files[XSUM_SAMPLE_FILE]} lacks the column(s) {', '.join(bad)}")
    official = json.loads(files[XSUM_SPLIT_FILE].read_text())
    test_ids = set(official["test"])
    recs = [{"document": r["document"], "summary": r["summary"], "id": str(r["id"])} for r in ds]
    outside = [r["id"] for r in recs if r["id"] not in test_ids]
    if outside:
        raise ValueError(f"{len(outside)} ids of {XSUM_SAMPLE_FILE} are not in the official XSum test split "
                         f"(e.g. {outside[0]})")
    return {"test": recs, "split_sizes": {k: len(v) for k, v in official.items()},
            "sha256": {n: sha256_of(f) for n, f in files.items()}}


def build_xsum_sample(src, folder: Path) -> None:
    """Builder of the ``xsum-sample`` source: copies the sample from the project's shared data (``src.options``
    may name another ``from`` folder), verifying each file's sha256 against the manifest."""
    import shutil

    origin = Path(src.options.get("from") or SHARED_XSUM_SAMPLE)
    for name, digest in dict(src.options.get("sha256", {})).items():
        f = origin / name
        if not f.is_file():
            raise DataMissing(f"{f} is missing: the XSum sample comes from the project's shared data "
                              f"(shared/data/xsum-sample); copy it by hand into {folder}")
        got = sha256_of(f)
        if got != digest:
            raise ValueError(f"{f}: sha256 {got} is not the manifest's {digest}")
        shutil.copyfile(f, folder / name)


# -------------------------------------------------------------------------- Debian package descriptions (real)

#: deterministic split shares, as XSum's 90 / 5 / 5
DEBIAN_SHARES = (90, 5, 5)
MIN_DOCUMENT_WORDS = 8


def debian_pairs(records) -> tuple[dict[str, list[dict]], dict]:
    """Document/summary pairs from the Debian package records of ``replicate.debian`` ({package, summary,
    description, tags, section}): the long description is the document, the one-line summary (the short
    description) its summary, the package name its id.

    - Dropped: records without a long description or with fewer than ``MIN_DOCUMENT_WORDS`` words in it.
    - De-duplicated by document (``debian.dedupe``: case and white space folded, the first package by name kept).
      Many packages of one source repeat a long description under different summaries ("... (development files)",
      "... (documentation)"): the summary of such a document cannot be told from it, so one pair is kept.
    - Split by group, deterministically (``debian.split_of``, 90 / 5 / 5 as XSum): pairs whose documents open with the
      same first paragraph (a library's -dev, -doc and runtime packages usually do) share a group, and a group goes
      whole to train, validation or test by the sha256 of that paragraph, so no test document has a near copy in
      training.

    Returns (splits, counts): counts of what was read, dropped, kept and how many groups."""
    from replicate import debian

    records = list(records)
    counts = {"records": len(records), "no_long_description": 0, "too_short": 0}
    usable = []
    for r in records:
        doc = (r.get("description") or "").strip()
        if not doc or not (r.get("summary") or "").strip():
            counts["no_long_description"] += 1
        elif len(doc.split()) < MIN_DOCUMENT_WORDS:
            counts["too_short"] += 1
        else:
            usable.append(r)
    kept = debian.dedupe(usable)
    counts["duplicates"] = len(usable) - len(kept)
    shares = {s: v / sum(DEBIAN_SHARES) for s, v in zip(SPLITS, DEBIAN_SHARES)}
    splits: dict[str, list[dict]] = {s: [] for s in SPLITS}
    groups = set()
    for r in kept:  # in package-name order (dedupe sorts)
        group = debian.first_paragraph(r)
        groups.add(group)
        splits[debian.split_of(group, shares, salt="t5_xsum:")].append(
            {"document": r["description"].strip(), "summary": r["summary"].strip(), "id": r["package"]})
    counts.update(kept=len(kept), groups=len(groups), **{s: len(v) for s, v in splits.items()})
    return splits, counts


def build_debian_summaries(src, folder: Path) -> None:
    """Builder of the ``debian-summaries`` source: ``debian_pairs`` of the ``debian-packages`` records (their
    ``packages.jsonl.xz`` in the data cache, ``replicate data fetch debian-packages``) written as
    ``{train,validation,test}.jsonl.xz`` (document, summary, id), which ``load_xsum(data_dir)`` reads like a local
    XSum copy, and ``counts.json``: the counts and each file's sha256."""
    from replicate import debian

    folder_in = Path(src.options["packages"]).parent if src.options.get("packages") else require("debian-packages")
    packages = folder_in / debian.SNAPSHOT
    splits, counts = debian_pairs(debian.load(folder_in, verify=not src.options.get("packages")))
    digests = {}
    for split, recs in splits.items():
        path = folder / f"{split}.jsonl.xz"
        with lzma.open(path, "wt", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        digests[path.name] = sha256_of(path)
    meta = {"counts": counts, "sha256": digests, "packages": {"file": packages.name, "sha256": sha256_of(packages)}}
    (folder / "counts.json").write_text(json.dumps(meta, indent=1))


def dataset_sha256(data_dir: str | Path | None, name: str) -> dict:
    """sha256 of every split file of a local copy (what the record says it read)."""
    folder = Path(data_dir) if data_dir else require(name)
    return {p.relative_to(folder).as_posix(): sha256_of(p) for s in SPLITS for p in _split_files(folder, s)}


# ------------------------------------------------------------------------------------------- generated stand-in

_TOWNS = ["Cardiff", "Leeds", "Bristol", "Derby", "Swansea", "Perth", "Inverness", "Belfast", "Norwich", "Exeter",
          "Dundee", "Bangor", "Carlisle", "Wrexham", "Truro", "Oban", "Preston", "Lincoln", "Bath", "Durham"]
_ORGS = ["City Council", "Rovers", "Health Board", "Police", "University", "Building Society", "Rail", "Water",
         "Housing Trust", "Museum", "Airport", "Fire Service"]
_OBJECTS = ["its main library", "a new stadium", "two primary schools", "the old bus station", "a cycle lane",
            "the harbour wall", "a children's ward", "the night bus service", "a wind farm", "the town hall",
            "a food bank", "the swimming pool", "a rail bridge", "the market square"]
# (what the article says, how the summary says it): XSum's summaries paraphrase rather than copy
_EVENTS = [("announced that it will close", "is to close"), ("confirmed that it has sold", "has sold"),
           ("said it plans to rebuild", "is to rebuild"), ("has agreed to pay for", "will fund"),
           ("voted against plans to expand", "has rejected plans to expand"), ("has decided to reopen", "will reopen"),
           ("revealed a plan to replace", "is set to replace"), ("said it can no longer afford", "cannot afford")]
_NAMES = ["Sarah Jones", "David Evans", "Aisha Khan", "Tom Walsh", "Megan Price", "Liam Hughes", "Ruth Okafor",
          "Owen Morgan", "Nadia Ali", "Ian Campbell"]
_ROLES = ["a spokesperson", "the chief executive", "a local councillor", "the head teacher", "a union official",
          "the club chairman", "a resident"]
_ADJ = ["difficult", "welcome", "long overdue", "disappointing", "necessary", "surprising", "costly"]
_FILLER = [
    "{name}, {role}, said the decision was {adj}.",
    "{name} told BBC News: \"It is a {adj} day for {town2}.\"",
    "The move follows {n} years of debate about {object2}.",
    "Campaigners in {town2} said they would continue to fight for {object2}.",
    "A consultation on {object2} will run until the end of the month.",
    "Figures show that {n} thousand people used the service last year.",
    "The {org2} in {town2} said it had not been consulted.",
    "{name} said the plan had cost about {n} million pounds so far.",
    "Opposition members described the process as {adj}.",
    "It is the {nth} time in {n} years that {object2} has been discussed.",
]


def synthetic_pairs(n: int, seed: int = 0, sentences: int = 6, split: str = "train") -> list[dict]:
    """``n`` generated (document, summary, id) records in XSum's schema.

    Each article has one key sentence (organisation, event, object, town), placed among the first three sentences,
    and ``sentences - 1`` distractor sentences about other towns and objects; its summary states the key fact in
    other words (e.g. "announced that it will close" -> "is to close"), one sentence, as XSum's summaries do."""
    rng = random.Random(f"{seed}-{split}")
    out = []
    for i in range(n):
        town, org, obj = rng.choice(_TOWNS), rng.choice(_ORGS), rng.choice(_OBJECTS)
        said, summ = rng.choice(_EVENTS)
        key = f"The {town} {org} {said} {obj}."
        fill = []
        for _ in range(max(0, sentences - 1)):
            fill.append(rng.choice(_FILLER).format(
                name=rng.choice(_NAMES), role=rng.choice(_ROLES), adj=rng.choice(_ADJ),
                town2=rng.choice([t for t in _TOWNS if t != town]), object2=rng.choice([o for o in _OBJECTS if o != obj]),
                org2=rng.choice(_ORGS), n=rng.randint(2, 40), nth=rng.choice(["second", "third", "fourth"])))
        pos = rng.randint(0, min(2, len(fill)))
        doc = " ".join(fill[:pos] + [key] + fill[pos:])
        summary = f"The {town} {org} {summ} {obj}."
        out.append({"document": doc, "summary": summary, "id": f"{split}-{seed}-{i:06d}"})
    return out


def synthetic_blind_loss(mean_target_tokens: float) -> float:
    """The token cross-entropy (nats) of the best model that ignores the document on generated pairs: a summary is
    one of |towns| x |organisations| x |events| x |objects| equally likely sentences, so such a model pays
    ln(that number) per summary, spread over its ``mean_target_tokens`` label tokens. A training loss that
    levels off here means the decoder has learnt the summaries' template and not to read the document (the
    collapse of the committed gpu run)."""
    import math

    return math.log(len(_TOWNS) * len(_ORGS) * len(_EVENTS) * len(_OBJECTS)) / mean_target_tokens


def load_splits(params) -> dict[str, list[dict]]:
    """The train/validation/test records the profile asks for (the first ``max_*_samples`` of a seeded shuffle;
    0 = all): generated, the Debian pairs (the ``debian-summaries`` folder or ``data_dir``) or XSum."""
    sizes = {"train": params.max_train_samples, "validation": params.max_eval_samples,
             "test": params.max_predict_samples}
    if params.dataset_name == "synthetic":
        default = {"train": 800, "validation": 64, "test": 128}
        return {s: synthetic_pairs(sizes[s] or default[s], params.seed, params.synth_sentences, s) for s in SPLITS}
    if params.dataset_name == "debian":
        ds = load_xsum(params.data_dir or str(require("debian-summaries")))
    else:
        ds = load_xsum(params.data_dir)
    out = {}
    for s in SPLITS:
        d = ds[s]
        if sizes[s]:
            d = d.shuffle(seed=params.seed).select(range(min(sizes[s], len(d))))
        out[s] = [{"document": r["document"], "summary": r["summary"], "id": str(r["id"])} for r in d]
    return out


def describe_splits(splits: dict[str, list[dict]]):
    """A table of split sizes and mean lengths in words (XSum: documents ~431 words, summaries ~23)."""
    import pandas as pd

    rows = []
    for s, recs in splits.items():
        rows.append({"split": s, "examples": len(recs), "XSum examples": XSUM_SIZES[s],
                     "document words (mean)": sum(len(r["document"].split()) for r in recs) / max(1, len(recs)),
                     "summary words (mean)": sum(len(r["summary"].split()) for r in recs) / max(1, len(recs))})
    return pd.DataFrame(rows)


# -------------------------------------------------------------------------------------------------- tokenizer


#: sentinel tokens of span corruption in the offline tokenizer (T5's own has 100: <extra_id_0> ... <extra_id_99>)
N_SENTINELS = 32


def train_tokenizer(texts, vocab_size: int = 1000):
    """A SentencePiece-style tokenizer (Metaspace "▁" word marks, BPE pieces) trained offline with ``tokenizers``
    and wrapped for ``transformers``. Special tokens as in T5: <pad> = 0 (also the decoder start), </s> = 1
    (appended to every sequence), <unk> = 2.

    BPE rather than T5's Unigram: on the small generated corpus the Unigram trainer stops at ~440 pieces and
    cuts words into ~3 pieces each, BPE reaches the asked size and keeps words whole (shorter sequences)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    sentinels = [f"<extra_id_{i}>" for i in range(N_SENTINELS)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>", *sentinels],
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=100_000)


def sentinel_ids(tokenizer) -> list[int]:
    """Ids of <extra_id_0>, <extra_id_1>, ... (the offline tokenizer's and T5's own)."""
    out = []
    for i in range(100):
        t = tokenizer.convert_tokens_to_ids(f"<extra_id_{i}>")
        if t is None or t == tokenizer.unk_token_id:
            break
        out.append(t)
    if not out:
        raise ValueError("the tokenizer has no <extra_id_N> sentinel tokens: span corruption needs them")
    return out


def span_corrupt(ids: list[int], rng: random.Random, noise_density: float, mean_span: float,
                 sentinels: list[int], eos: int) -> tuple[list[int], list[int]]:
    """T5's span corruption of one token sequence (Raffel et al. 2020, sec. 3.1.4; ``random_spans_noise_mask``):
    ``round(len * noise_density)`` tokens in ``round(noise / mean_span)`` spans are masked; the noise and the kept
    tokens are each cut into that many random positive lengths and interleaved, kept first. The input keeps the
    kept tokens with one sentinel in place of each span, the target is each sentinel followed by its span; both
    end in </s>."""
    n = len(ids)
    num_noise = max(1, min(n - 1, round(n * noise_density)))
    num_spans = max(1, min(round(num_noise / mean_span), len(sentinels), num_noise, n - num_noise))

    def partition(total: int, k: int) -> list[int]:
        cuts = sorted(rng.sample(range(1, total), k - 1)) if k > 1 else []
        edges = [0, *cuts, total]
        return [b - a for a, b in zip(edges, edges[1:])]

    noise, keep = partition(num_noise, num_spans), partition(n - num_noise, num_spans)
    inp, tgt, pos = [], [], 0
    for i in range(num_spans):
        inp += ids[pos:pos + keep[i]]
        pos += keep[i]
        inp.append(sentinels[i])
        tgt.append(sentinels[i])
        tgt += ids[pos:pos + noise[i]]
        pos += noise[i]
    return inp + [eos], tgt + [eos]


def sentences(text: str) -> list[str]:
    """Sentence split without network data: a regex at ., ! or ? (optionally closed by a quote) followed by space.

    (nltk's punkt model, which the Hugging Face example uses for ROUGE-Lsum, is not installed offline.)"""
    out, start = [], 0
    for m in re.finditer(r'[.!?]["\')\]]?(?=\s+["\'(\[]?[A-Z0-9])', text):
        out.append(text[start:m.end()].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


# ---------------------------------------------------------------------------------------------- tokenisation


def encode(records, tokenizer, prefix: str, max_source: int, max_target: int) -> list[dict]:
    """input_ids = tok(prefix + document)[:max_source], labels = tok(summary)[:max_target] (both end in </s>)."""
    src = tokenizer([prefix + r["document"] for r in records], truncation=True, max_length=max_source)["input_ids"]
    tgt = tokenizer([r["summary"] for r in records], truncation=True, max_length=max_target)["input_ids"]
    return [{"input_ids": s, "labels": t} for s, t in zip(src, tgt)]


def batches(examples: list[dict], batch_size: int, seed: int, bucket: bool = True, chunk: int = 64) -> list[list[int]]:
    """Index batches for one epoch. ``bucket``: shuffle, cut into chunks of ``chunk`` batches, sort each chunk by
    source length, batch, then shuffle the batches (the padding waste of random batches mostly goes away while the
    order stays random at the scale of an epoch). Otherwise: plain random batches, as the Trainer does."""
    rng = random.Random(seed)
    idx = list(range(len(examples)))
    rng.shuffle(idx)
    if not bucket:
        return [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    out = []
    span = batch_size * chunk
    for c in range(0, len(idx), span):
        part = sorted(idx[c:c + span], key=lambda i: len(examples[i]["input_ids"]))
        out += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def collate(examples: list[dict], ids: list[int], pad_id: int = 0, multiple: int = 8, label_multiple: int | None = None):
    """Pad a batch to its longest member, the sources rounded up to ``multiple`` and the labels to
    ``label_multiple`` (default ``min(multiple, 16)``); label padding is -100 (ignored by the loss).

    A coarse ``multiple`` (64 on a GPU) keeps the number of distinct batch shapes small: PyTorch's cuDNN attention
    builds a plan for every new shape (on an H100, a bf16 T5-small step took 260 ms with a new source length at
    every step against 83 ms at a repeated one; scripts/profile_steps.py)."""
    import torch

    def pad(seqs, value, m):
        n = max(len(s) for s in seqs)
        n = -(-n // m) * m
        return torch.tensor([list(s) + [value] * (n - len(s)) for s in seqs], dtype=torch.long)

    src = [examples[i]["input_ids"] for i in ids]
    input_ids = pad(src, pad_id, multiple)
    return {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long(),
            "labels": pad([examples[i]["labels"] for i in ids], -100, label_multiple or min(multiple, 16))}


class Collator:
    """``collate`` for a ``DataLoader`` (a top-level class, so worker processes can take it)."""

    def __init__(self, pad_id: int = 0, multiple: int = 8, label_multiple: int | None = None):
        self.pad_id, self.multiple, self.label_multiple = pad_id, multiple, label_multiple

    def __call__(self, features: list[dict]) -> dict:
        return collate(features, list(range(len(features))), self.pad_id, self.multiple, self.label_multiple)


def loader(examples: list[dict], plan, pad_id: int = 0, multiple: int = 8, workers: int = 0,
           label_multiple: int | None = None):
    """A ``DataLoader`` that walks ``plan`` (lists of example indices, e.g. from ``batches``; any iterable of them,
    endless too) and pads each batch with ``collate``. With ``workers`` the padding runs in worker processes and the
    batches arrive in pinned memory, so the training loop's thread only launches kernels. On the H100 bench this did
    not measurably change the step (1.27 s per 20 compiled steps with workers, 1.21 s padding in the loop, within
    the host's noise); the gap to the ~41 ms per step of pre-padded batches (scripts/probe_compile.py) is unexplained."""
    import torch
    from torch.utils.data import DataLoader

    # its own generator: a DataLoader iterator draws a seed when it starts, and from the global RNG that draw would
    # shift the dropout masks of a resumed run (its iterator starts mid-epoch, after the RNG states are restored)
    return DataLoader(examples, batch_sampler=plan, collate_fn=Collator(pad_id, multiple, label_multiple),
                      num_workers=workers, generator=torch.Generator().manual_seed(0),
                      pin_memory=workers > 0 and torch.cuda.is_available(), prefetch_factor=4 if workers else None)
