"""The model side: tokenizer and BERT masked LM (generated or pretrained m-BERT), language means R_L^l (Sec. 2),
the shift h^l + v applied at layer l inside the model (Eq. 1, Eq. 2, Sec. 3.1), MLM decoding and mean-pooled
sentence embeddings (Sec. 4.1).

Layer numbering follows ``output_hidden_states``: layer 0 is the embedding output, layer l >= 1 the output of the
l-th transformer layer (m-BERT: 0..12).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable, Sequence

import torch


# ------------------------------------------------------------------------------------------------ tokenizer/model
def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """A cased WordPiece tokenizer trained offline with ``tokenizers`` (m-BERT's kind: BERT pre-tokenizer, which
    splits CJK characters), wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True,
                                                handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    from tokenizers import decoders
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def small_bert(vocab_size: int, hidden_size: int, num_layers: int, num_heads: int, max_len: int):
    """A BertForMaskedLM from a BertConfig (random init), the generated profiles' stand-in for m-BERT."""
    from transformers import BertConfig, BertForMaskedLM

    cfg = BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                     num_attention_heads=num_heads, intermediate_size=4 * hidden_size,
                     max_position_embeddings=max(64, max_len + 2), attn_implementation="sdpa")
    return BertForMaskedLM(cfg)


def load_pretrained(name_or_path: str):
    """m-BERT (or any BERT-like masked LM) by Hugging Face id or local folder: (tokenizer, model)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path), AutoModelForMaskedLM.from_pretrained(name_or_path)


def with_new_mlm_head(name_or_path: str):
    """(tokenizer, BertForMaskedLM) for an encoder that has no MLM head (multilingual-e5-small): the encoder's
    weights, a freshly initialised BERT head (dense, GELU, LayerNorm, a bias) whose decoder is tied to the input
    word embeddings; the encoder and the tied decoder are frozen (requires_grad False), the head is trainable."""
    import transformers
    from transformers import AutoTokenizer, BertForMaskedLM

    level = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()  # "newly initialised: cls.predictions.*" is the point here
    try:
        model = BertForMaskedLM.from_pretrained(name_or_path, tie_word_embeddings=True)
    finally:
        transformers.utils.logging.set_verbosity(level)
    model.tie_weights()
    for p in model.bert.parameters():
        p.requires_grad_(False)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    return AutoTokenizer.from_pretrained(name_or_path), model


def mlm_head_parameters(model) -> list:
    """The trainable parameters of the MLM head (the tied decoder weight excluded: it is the frozen embeddings)."""
    return [p for p in model.cls.parameters() if p.requires_grad]


def encoder_of(model):
    """The BertModel inside a BertForMaskedLM / BertForTokenClassification (or the model itself)."""
    return getattr(model, "bert", model)


def num_layers(model) -> int:
    return encoder_of(model).config.num_hidden_layers


# ------------------------------------------------------------------------------------------------ batching
def batches(tokenizer, texts: Sequence[str], batch_size: int, max_len: int, sort: bool = True):
    """Yield (indices, encoding) over ``texts``; length-sorted batches waste little on padding."""
    order = list(range(len(texts)))
    if sort:
        lengths = [len(t) for t in texts]
        order.sort(key=lambda i: lengths[i])
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len,
                        return_tensors="pt")
        yield idx, enc


# ------------------------------------------------------------------------------------------------ language means
def token_budget_batches(lengths: Sequence[int], token_budget: int, max_batch: int = 1024) -> list[list[int]]:
    """Index batches over length-sorted sequences, each as large as fits ``token_budget`` padded tokens
    (count x longest): short sentences travel in big batches, long ones in small, and padding is small."""
    out, cur, longest = [], [], 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        n = lengths[i]
        if cur and ((len(cur) + 1) * max(longest, n) > token_budget or len(cur) >= max_batch):
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        out.append(cur)
    return out


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, device, multiple: int = 8):
    """(ids, mask) on ``device`` for token-id lists, padded to the longest (rounded up to ``multiple``)."""
    n = -(-max(len(s) for s in seqs) // multiple) * multiple
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[r, :len(s)] = 1
    return ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)


def hidden_sums(enc_model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over the non-pad tokens of every layer's hidden states: (layers + 1, hidden), float32, on the device."""
    out = enc_model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    m = mask.unsqueeze(-1).to(out.hidden_states[0].dtype)
    return torch.stack([(h * m).sum(dim=(0, 1), dtype=torch.float32) for h in out.hidden_states])


@torch.no_grad()
def means_of_ids(enc_model, seqs: Sequence[Sequence[int]], pad_id: int, device, token_budget: int = 8192,
                 autocast=None) -> torch.Tensor:
    """Mean hidden state per layer over all tokens of ``seqs`` (token-id lists): length-sorted token-budget
    batches, sums accumulated on the device with no host synchronisation until the end."""
    total = None
    for idx in token_budget_batches([len(s) for s in seqs], token_budget):
        ids, mask = pad_batch([seqs[i] for i in idx], pad_id, device)
        with autocast or contextlib.nullcontext():
            s = hidden_sums(enc_model, ids, mask)
        total = s if total is None else total + s
    return total / sum(len(s) for s in seqs)


@torch.no_grad()
def language_means(model, tokenizer, texts: Sequence[str], device, max_tokens: int, batch_size: int = 64,
                   max_len: int = 128, autocast=None, token_budget: int | None = None) -> torch.Tensor:
    """R_L^l = E_{x_i in C}[h^l_{x_i}] (Sec. 2) for every layer l: (layers + 1, hidden), float32.

    The mean is over all non-pad tokens ([CLS] and [SEP] included) of the corpus's first sentences up to
    ``max_tokens`` tokens, in one pass: the sentences are tokenised, then run in length-sorted batches of about
    ``token_budget`` padded tokens (default ``batch_size`` x ``max_len``), sums accumulated on the device."""
    model.eval()
    seqs, count = [], 0
    for s in range(0, len(texts), 1024):
        for ids in tokenizer(list(texts[s:s + 1024]), truncation=True, max_length=max_len)["input_ids"]:
            if count >= max_tokens:
                break
            seqs.append(ids)
            count += len(ids)
        if count >= max_tokens:
            break
    budget = token_budget or batch_size * max_len
    return means_of_ids(encoder_of(model), seqs, tokenizer.pad_token_id, device, budget, autocast).cpu()


# ------------------------------------------------------------------------------------------------ the shift
def _layer_module(model, layer: int):
    enc = encoder_of(model)
    if layer == 0:
        return enc.embeddings
    return enc.encoder.layer[layer - 1]


@contextlib.contextmanager
def shift(model, layer: int, vector: torch.Tensor | None):
    """Add ``vector`` to the hidden state of every position at ``layer`` while the remaining layers run.

    MDS (Eq. 2, Sec. 3.1): vector = alpha (R_{L2}^l - R_{L1}^l); Zero-mean (Eq. 1): vector = -R_L^l. ``vector`` may
    also be (batch, hidden) for one shift per sentence. ``None`` changes nothing."""
    if vector is None:
        yield
        return

    def hook(_module, _inputs, output):
        h = output[0] if isinstance(output, tuple) else output
        v = vector.to(h.device, h.dtype)
        h = h + (v.unsqueeze(1) if v.dim() == 2 else v)
        return (h, *output[1:]) if isinstance(output, tuple) else h

    handle = _layer_module(model, layer).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


# ------------------------------------------------------------------------------------------------ decoding
@torch.no_grad()
def decode(model, tokenizer, texts: Sequence[str], device, layer: int, vector: torch.Tensor | None,
           batch_size: int = 64, max_len: int = 128, autocast=None) -> list[list[str]]:
    """Feed ``texts`` (no masking), shift layer ``layer`` by ``vector``, and read the MLM head's argmax at every
    non-special position (Sec. 3.1). Returns the output tokens per sentence."""
    model.eval()
    out: list[list[str] | None] = [None] * len(texts)
    special = set(tokenizer.all_special_ids)
    for idx, enc in batches(tokenizer, texts, batch_size, max_len):
        ids = enc["input_ids"].to(device)
        mask = enc["attention_mask"].to(device)
        keep = mask.bool() & ~torch.isin(ids, torch.tensor(sorted(special), device=ids.device))
        with shift(model, layer, vector), (autocast or contextlib.nullcontext()):
            if hasattr(model, "cls") and hasattr(model, "bert"):  # BERT MLM: the head only where it is read
                h = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
                flat = model.cls(h[keep]).argmax(-1).cpu()
            else:
                flat = model(input_ids=ids, attention_mask=mask).logits[keep].argmax(-1).cpu()
        counts = keep.sum(1).tolist()
        for row, (i, piece) in enumerate(zip(idx, flat.split(counts))):
            out[i] = tokenizer.convert_ids_to_tokens(piece.tolist())
    return out  # type: ignore[return-value]


def tokens(tokenizer, texts: Sequence[str], max_len: int = 128) -> list[list[str]]:
    """The non-special tokens of each text (the reference side of BLEU-1 and the token sets V_L)."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_len, add_special_tokens=False)
    return [tokenizer.convert_ids_to_tokens(ids) for ids in enc["input_ids"]]


# ------------------------------------------------------------------------------------------------ embeddings
@torch.no_grad()
def sentence_embeddings(model, tokenizer, texts: Sequence[str], device, layer: int, batch_size: int = 64,
                        max_len: int = 128, autocast=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean pooling of layer ``layer`` over all non-pad tokens (XTREME's convention; Sec. 4.1).

    Returns (embeddings (n, hidden) float32 on CPU, token counts (n,)); the token-weighted mean of the embeddings
    is then the layer's language mean over this data set, which the retrieval shifts use."""
    model.eval()
    enc_model = encoder_of(model)
    embs = torch.empty(len(texts), enc_model.config.hidden_size)
    counts = torch.empty(len(texts))
    for idx, enc in batches(tokenizer, texts, batch_size, max_len):
        enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        with autocast or contextlib.nullcontext():
            h = enc_model(**enc, output_hidden_states=True).hidden_states[layer].float()
        m = enc["attention_mask"].unsqueeze(-1).float()
        n = m.sum(1)
        embs[idx] = ((h * m).sum(1) / n).cpu()
        counts[idx] = n.squeeze(-1).cpu()
    return embs, counts


@torch.no_grad()
def sentence_embeddings_all(model, tokenizer, texts: Sequence[str], device, batch_size: int = 128,
                            max_len: int = 128, autocast=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``sentence_embeddings`` at every layer at once: (n, layers + 1, hidden) float32 on CPU, token counts (n,)."""
    model.eval()
    enc_model = encoder_of(model)
    L, H = enc_model.config.num_hidden_layers + 1, enc_model.config.hidden_size
    embs = torch.empty(len(texts), L, H)
    counts = torch.empty(len(texts))
    for idx, enc in batches(tokenizer, texts, batch_size, max_len):
        enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        with autocast or contextlib.nullcontext():
            hs = enc_model(**enc, output_hidden_states=True).hidden_states
        m = enc["attention_mask"].unsqueeze(-1).float()
        n = m.sum(1)
        embs[idx] = torch.stack([(h.float() * m).sum(1) / n for h in hs], 1).cpu()
        counts[idx] = n.squeeze(-1).cpu()
    return embs, counts


def save(model, tokenizer, folder: Path) -> None:
    """save_pretrained both into ``folder`` (via a temporary sibling, then a rename)."""
    import os
    import shutil
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
