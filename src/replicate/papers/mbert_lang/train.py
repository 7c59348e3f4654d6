"""Training: the small masked LM on the generated languages (the stand-in for m-BERT's pre-training), and the POS
tagger and the dependency parser fine-tuned on English (Sec. 5.1), with Zero-mean applied during fine-tuning when
asked."""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Sequence

import torch

from replicate.train import Checkpointer, progress, resume, snapshot

from . import model as M


def pretrain_mlm(model, tokenizer, texts: Sequence[str], device, steps: int, batch_size: int, lr: float,
                 max_len: int, seed: int, checkpoint: Path | None = None, autocast=None) -> list[float]:
    """Masked-LM training (15% masking, 80/10/10, transformers' DataCollatorForLanguageModeling), AdamW with linear
    warm-up and decay. Resumes from ``checkpoint``; returns the loss per step."""
    from transformers import DataCollatorForLanguageModeling

    ids = tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm + 1e-9))))
    ck = Checkpointer(checkpoint, every=100)
    g = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    start = 0
    state = resume(ck, model=model, optimizer=opt, scheduler=sched)
    if state is not None:
        g.set_state(state["gen"])
        losses, start = state["losses"], state["step"]
    for step in progress(range(start, steps), desc="MLM pre-training", initial=start, total=steps):
        pick = torch.randint(len(ids), (batch_size,), generator=g).tolist()
        batch = collate([{"input_ids": ids[i]} for i in pick])
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast or contextlib.nullcontext():
            loss = model(**batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        ck.save(snapshot(model=model, optimizer=opt, scheduler=sched, gen=g.get_state(), losses=losses,
                         step=step + 1), step + 1)
    ck.clear()
    model.eval()
    return losses


def _masked_head_loss(model, batch, device, autocast):
    """Cross-entropy and top-1 hits of the MLM head at the masked positions only (the logits of a 250k-piece
    vocabulary at every position would not fit): the frozen encoder runs without gradients."""
    ids, labels = batch["input_ids"].to(device), batch["labels"].to(device)
    mask = batch["attention_mask"].to(device) if "attention_mask" in batch else (ids != -1).long()
    with autocast or contextlib.nullcontext():
        with torch.no_grad():
            h = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        sel = labels != -100
        logits = model.cls(h[sel]).float()
    y = labels[sel]
    return torch.nn.functional.cross_entropy(logits, y), int((logits.argmax(-1) == y).sum()), int(y.numel())


def train_mlm_head(model, tokenizer, texts: Sequence[str], device, steps: int, batch_size: int, lr: float,
                   max_len: int, seed: int, checkpoint: Path | None = None, autocast=None) -> list[float]:
    """Train only the MLM head of ``model`` (``model.with_new_mlm_head``: frozen encoder, decoder tied to the
    frozen input embeddings) with BERT's masking (15 %, 80/10/10; DataCollatorForLanguageModeling), AdamW with
    linear warm-up and decay. Checkpoints every 100 steps and resumes through ``replicate.train.resume``."""
    from transformers import DataCollatorForLanguageModeling

    from . import model as M

    ids = tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    model.to(device)
    model.bert.eval()  # frozen: no dropout in the features the head learns from
    model.cls.train()
    params = M.mlm_head_parameters(model)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm + 1e-9))))
    ck = Checkpointer(checkpoint, every=100)
    g = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    start = 0
    state = resume(ck, model=model, optimizer=opt, scheduler=sched)
    if state is not None:
        g.set_state(state["gen"])
        losses, start = state["losses"], state["step"]
    for step in progress(range(start, steps), desc="MLM head", initial=start, total=steps):
        pick = torch.randint(len(ids), (batch_size,), generator=g).tolist()
        loss, _, _ = _masked_head_loss(model, collate([{"input_ids": ids[i]} for i in pick]), device, autocast)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        ck.save(snapshot(model=model, optimizer=opt, scheduler=sched, gen=g.get_state(), losses=losses,
                         step=step + 1), step + 1)
    model.eval()
    return losses


@torch.no_grad()
def mlm_accuracy(model, tokenizer, texts: Sequence[str], device, max_len: int, seed: int, batch_size: int = 64,
                 autocast=None) -> tuple[float, float]:
    """(top-1 accuracy in percent, mean cross-entropy) of the MLM head at BERT-masked positions of ``texts``
    (15 %, 80/10/10, drawn with ``seed``)."""
    from transformers import DataCollatorForLanguageModeling

    ids = tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    model.eval()
    torch.manual_seed(seed)
    hits = n = 0
    loss_sum = 0.0
    for s in range(0, len(ids), batch_size):
        loss, h, k = _masked_head_loss(model, collate([{"input_ids": x} for x in ids[s:s + batch_size]]), device,
                                       autocast)
        hits, n, loss_sum = hits + h, n + k, loss_sum + float(loss) * k
    return 100.0 * hits / max(n, 1), loss_sum / max(n, 1)


# ------------------------------------------------------------------------------------------------ POS tagging
UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X")


def encode_tagged(tokenizer, sents: Sequence[tuple[list[str], list[str]]], max_len: int):
    """Word-level tags onto sub-word tokens: the first piece of a word carries its UPOS id, the rest -100."""
    tag_id = {t: i for i, t in enumerate(UPOS)}
    enc = tokenizer([w for w, _ in sents], is_split_into_words=True, truncation=True, max_length=max_len)
    labels = []
    for b, (_, tags) in enumerate(sents):
        prev, lab = None, []
        for w in enc.word_ids(b):
            lab.append(-100 if w is None or w == prev else tag_id.get(tags[w], tag_id["X"]))
            prev = w
        labels.append(lab)
    return enc["input_ids"], labels


def _pad(seqs, value):
    n = max(len(s) for s in seqs)
    return torch.tensor([list(s) + [value] * (n - len(s)) for s in seqs])


def _train_loop(model, n: int, epochs: int, lr: float, batch_size: int, seed: int, loss_of, desc: str) -> list[float]:
    """AdamW (weight decay 0.01) with linear decay over ``epochs`` shuffled passes of ``n`` examples;
    ``loss_of(indices)`` returns a batch's loss. Returns the loss per step."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    steps = epochs * math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    losses = []
    bar = progress(total=steps, desc=desc)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g).tolist()
        for s in range(0, len(perm), batch_size):
            loss = loss_of(perm[s:s + batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.update()
    bar.close()
    model.eval()
    return losses


def finetune_pos(tagger, tokenizer, sents, device, epochs: int, lr: float, batch_size: int, max_len: int,
                 seed: int, layer: int, vector: torch.Tensor | None = None, autocast=None) -> list[float]:
    """Fine-tune a BertForTokenClassification on English UD (Sec. 5.1). ``vector`` (Zero-mean: -R_en^l of the
    pre-trained model) is added at ``layer`` during training. Returns the loss per step."""
    ids, labels = encode_tagged(tokenizer, sents, max_len)
    tagger.to(device)

    def loss_of(idx):
        x = _pad([ids[i] for i in idx], tokenizer.pad_token_id).to(device)
        y = _pad([labels[i] for i in idx], -100).to(device)
        with M.shift(tagger, layer, vector), (autocast or contextlib.nullcontext()):
            return tagger(input_ids=x, attention_mask=(x != tokenizer.pad_token_id).long(), labels=y).loss

    return _train_loop(tagger, len(ids), epochs, lr, batch_size, seed, loss_of, "POS fine-tuning")


@torch.no_grad()
def pos_accuracy(tagger, tokenizer, sents, device, layer: int, vector: torch.Tensor | None, max_len: int,
                 batch_size: int = 64, autocast=None) -> float:
    """Word-level UPOS accuracy (percent), predicting each word from its first piece, with ``vector`` added at
    ``layer`` (Zero-mean: -R_L; MDS: R_en - R_L of the fine-tuned model)."""
    ids, labels = encode_tagged(tokenizer, sents, max_len)
    right = total = 0
    for s in range(0, len(ids), batch_size):
        x = _pad(ids[s:s + batch_size], tokenizer.pad_token_id).to(device)
        y = _pad(labels[s:s + batch_size], -100).to(device)
        with M.shift(tagger, layer, vector), (autocast or contextlib.nullcontext()):
            pred = tagger(input_ids=x, attention_mask=(x != tokenizer.pad_token_id).long()).logits.argmax(-1)
        keep = y != -100
        right += int((pred[keep] == y[keep]).sum())
        total += int(keep.sum())
    return 100.0 * right / max(total, 1)


# ------------------------------------------------------------------------------------------------ dependency parsing
#: the 37 universal dependency relations of UD v2 (subtypes are cut off when read: ``nmod:poss`` -> ``nmod``)
UD_RELS = ("acl", "advcl", "advmod", "amod", "appos", "aux", "case", "cc", "ccomp", "clf", "compound", "conj", "cop",
           "csubj", "dep", "det", "discourse", "dislocated", "expl", "fixed", "flat", "goeswith", "iobj", "list",
           "mark", "nmod", "nsubj", "nummod", "obj", "obl", "orphan", "parataxis", "punct", "reparandum", "root",
           "vocative", "xcomp")

class BiaffineParser(torch.nn.Module):
    """A graph-based dependency parser on top of BERT (Table 5): each word is its first piece's vector from the
    last layer, the root is the [CLS] vector; arcs are scored by a biaffine form over MLP projections (Dozat &
    Manning, 2017) and relations by a bilinear form over the (dependent, head) pair. Heads are read greedily
    (the best-scoring head per word), with no tree decoding."""

    def __init__(self, encoder, n_rels: int, arc_dim: int = 256, rel_dim: int = 64, dropout: float = 0.1):
        super().__init__()
        self.bert = encoder  # a BertModel: the shift hook (model.shift) finds it as .bert
        H = encoder.config.hidden_size

        def mlp(d):
            return torch.nn.Sequential(torch.nn.Linear(H, d), torch.nn.GELU(), torch.nn.Dropout(dropout))

        self.arc_dep, self.arc_head, self.rel_dep, self.rel_head = mlp(arc_dim), mlp(arc_dim), mlp(rel_dim), mlp(rel_dim)
        self.arc_W = torch.nn.Parameter(torch.zeros(arc_dim, arc_dim))
        self.arc_u = torch.nn.Linear(arc_dim, 1, bias=False)  # how likely a word is to be a head at all
        self.rel_W = torch.nn.Parameter(torch.zeros(n_rels, rel_dim + 1, rel_dim + 1))

    def forward(self, ids, mask, first, heads=None):
        """Head scores of every word (B, W, W+1; column 0 = the root, impossible heads at -1e4) and relation scores
        (B, W, R) of every word at ``heads`` (B, W: the gold heads in training; None: each word's best head)."""
        h = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        idx = torch.cat([torch.zeros_like(first[:, :1]), first], dim=1)  # root = [CLS] at piece 0
        x = h.gather(1, idx.unsqueeze(-1).expand(-1, -1, h.shape[-1])).float()
        hd = self.arc_head(x)
        arc = torch.einsum("bid,de,bje->bij", self.arc_dep(x[:, 1:]), self.arc_W, hd) + self.arc_u(hd).transpose(1, 2)
        arc = arc.masked_fill(~_arc_mask(first), -1e4)
        heads = arc.argmax(-1) if heads is None else heads.clamp(min=0)
        one = torch.ones_like(x[:, 1:, :1])
        rd = torch.cat([self.rel_dep(x[:, 1:]), one], -1)
        rh = torch.cat([self.rel_head(x).gather(1, heads.unsqueeze(-1).expand(-1, -1, self.rel_W.shape[1] - 1)), one], -1)
        return arc, torch.einsum("bix,rxy,biy->bir", rd, self.rel_W, rh)


def encode_trees(tokenizer, sents, rels: Sequence[str], max_len: int):
    """For each (words, upos, heads, relations) sentence: piece ids, each word's first-piece position (words cut
    off by ``max_len`` get 0 and are not scored), gold heads and relation ids (-100: not scored)."""
    rel_id = {r: i for i, r in enumerate(rels)}
    enc = tokenizer([s[0] for s in sents], is_split_into_words=True, truncation=True, max_length=max_len)
    out = []
    for b, (words, _, heads, deps) in enumerate(sents):
        first = [0] * len(words)
        for pos, w in enumerate(enc.word_ids(b)):
            if w is not None and first[w] == 0:
                first[w] = pos
        kept = [f > 0 and (h == 0 or first[h - 1] > 0) for f, h in zip(first, heads)]
        out.append((enc["input_ids"][b], first, [h if k else -100 for h, k in zip(heads, kept)],
                    [rel_id.get(r, rel_id.get("dep", 0)) if k else -100 for r, k in zip(deps, kept)]))
    return out


def _tree_batch(examples, idx, pad_id, device):
    x = _pad([examples[i][0] for i in idx], pad_id).to(device)
    first = _pad([examples[i][1] for i in idx], 0).to(device)
    heads = _pad([examples[i][2] for i in idx], -100).to(device)
    rels = _pad([examples[i][3] for i in idx], -100).to(device)
    return x, (x != pad_id).long(), first, heads, rels


def _arc_mask(first):
    """(B, W, W+1): which heads each word may take (the root and the sentence's words, not itself)."""
    valid = torch.cat([torch.ones_like(first[:, :1]), first], 1) > 0  # root + words that exist
    W = first.shape[1]
    not_self = ~torch.eye(W + 1, dtype=torch.bool, device=first.device)[1:]
    return valid[:, None, :] & not_self[None]


def finetune_parser(parser, tokenizer, sents, rels, device, epochs: int, lr: float, batch_size: int, max_len: int,
                    seed: int, layer: int, vector: torch.Tensor | None = None, autocast=None) -> list[float]:
    """Train the parser on English trees (arc and relation cross-entropy, relations at the gold head), with
    ``vector`` added at ``layer`` as for POS. Returns the loss per step."""
    ex = encode_trees(tokenizer, sents, rels, max_len)
    parser.to(device)
    F = torch.nn.functional

    def loss_of(idx):
        x, m, first, heads, rel_gold = _tree_batch(ex, idx, tokenizer.pad_token_id, device)
        with M.shift(parser, layer, vector), (autocast or contextlib.nullcontext()):
            arc, rel = parser(x, m, first, heads)  # relations scored at the gold heads
        return (F.cross_entropy(arc.flatten(0, 1), heads.flatten(), ignore_index=-100)
                + F.cross_entropy(rel.flatten(0, 1), rel_gold.flatten(), ignore_index=-100))

    return _train_loop(parser, len(ex), epochs, lr, batch_size, seed, loss_of, "parser fine-tuning")


@torch.no_grad()
def attachment_scores(parser, tokenizer, sents, rels, device, layer: int, vector: torch.Tensor | None,
                      max_len: int, batch_size: int = 64, autocast=None) -> tuple[float, float]:
    """(UAS, LAS) in percent over the scored words, with ``vector`` added at ``layer``; punctuation included
    (as CoNLL 2018's evaluation does), relations compared without subtypes."""
    ex = encode_trees(tokenizer, sents, rels, max_len)
    parser.eval()
    right_h = right_l = total = 0
    for s in range(0, len(ex), batch_size):
        x, m, first, heads, rel_gold = _tree_batch(ex, range(s, min(s + batch_size, len(ex))), tokenizer.pad_token_id,
                                                   device)
        with M.shift(parser, layer, vector), (autocast or contextlib.nullcontext()):
            arc, rel = parser(x, m, first)  # relations scored at the predicted heads
        pred, pred_rel = arc.argmax(-1), rel.argmax(-1)
        keep = heads != -100
        ok = (pred == heads) & keep
        right_h += int(ok.sum())
        right_l += int((ok & (pred_rel == rel_gold)).sum())
        total += int(keep.sum())
    return 100.0 * right_h / max(total, 1), 100.0 * right_l / max(total, 1)
