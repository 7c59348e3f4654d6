"""XSum and its stand-in: loading (``datasets``), a generator of article/summary pairs in XSum's schema, an offline
tokenizer, tokenisation with the "summarize: " prefix (section 2.3.1) and length-bucketed batches.

XSum (Narayan et al., 2018) has three splits of (document, summary, id): 204,045 / 11,332 / 11,334.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

from replicate.data import DataMissing

SPLITS = ("train", "validation", "test")
XSUM_SIZES = {"train": 204_045, "validation": 11_332, "test": 11_334}
FIELDS = ("document", "summary", "id")
_EXT = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}

# --------------------------------------------------------------------------------------------------- real XSum


def _split_files(folder: Path, split: str) -> list[Path]:
    """Files of one split in a local copy: ``<split>.<ext>``, ``<split>-*.<ext>`` or ``<split>/*.<ext>``
    (the hub's parquet layout ``data/<split>-00000-of-00001.parquet`` is found too)."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in _EXT:
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
    kinds = {_EXT[p.suffix] for s in splits for p in files[s]}
    if len(kinds) != 1:
        raise DataMissing(f"XSum copy in {folder} mixes file formats ({', '.join(sorted(kinds))}); use one")
    ds = datasets.load_dataset(kinds.pop(), data_files={s: [str(p) for p in files[s]] for s in splits})
    for s in splits:
        lacking = [f for f in FIELDS if f not in ds[s].column_names]
        if lacking:
            raise DataMissing(f"XSum copy in {folder}: split {s!r} lacks the column(s) {', '.join(lacking)}")
        ds[s] = ds[s].cast_column("id", datasets.Value("string")) if ds[s].features["id"].dtype != "string" else ds[s]
    return ds


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


def load_splits(params) -> dict[str, list[dict]]:
    """The train/validation/test records the profile asks for (subsets of ``n_train``/``n_val``/``n_test``; 0 = all)."""
    sizes = {"train": params.n_train, "validation": params.n_val, "test": params.n_test}
    if params.data == "synthetic":
        default = {"train": 800, "validation": 64, "test": 128}
        return {s: synthetic_pairs(sizes[s] or default[s], params.seed, params.synth_sentences, s) for s in SPLITS}
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
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"],
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=100_000)


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


def collate(examples: list[dict], ids: list[int], pad_id: int = 0, multiple: int = 8):
    """Pad a batch to its longest member, the sources rounded up to ``multiple`` and the labels to
    ``min(multiple, 16)``; label padding is -100 (ignored by the loss).

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
            "labels": pad([examples[i]["labels"] for i in ids], -100, min(multiple, 16))}


class Collator:
    """``collate`` for a ``DataLoader`` (a top-level class, so worker processes can take it)."""

    def __init__(self, pad_id: int = 0, multiple: int = 8):
        self.pad_id, self.multiple = pad_id, multiple

    def __call__(self, features: list[dict]) -> dict:
        return collate(features, list(range(len(features))), self.pad_id, self.multiple)


def loader(examples: list[dict], plan, pad_id: int = 0, multiple: int = 8, workers: int = 0):
    """A ``DataLoader`` that walks ``plan`` (lists of example indices, e.g. from ``batches``; any iterable of them,
    endless too) and pads each batch with ``collate``. With ``workers`` the padding runs in worker processes and the
    batches arrive in pinned memory, so the training loop's thread only launches kernels. On the H100 bench this did
    not measurably change the step (1.27 s per 20 compiled steps with workers, 1.21 s padding in the loop, within
    the host's noise); the gap to the ~41 ms per step of pre-padded batches (scripts/probe_compile.py) is unexplained."""
    import torch
    from torch.utils.data import DataLoader

    return DataLoader(examples, batch_sampler=plan, collate_fn=Collator(pad_id, multiple), num_workers=workers,
                      pin_memory=workers > 0 and torch.cuda.is_available(), prefetch_factor=4 if workers else None)
