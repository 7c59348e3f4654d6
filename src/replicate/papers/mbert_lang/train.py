"""Training: the small masked LM on the generated languages (the stand-in for m-BERT's pre-training) and the POS
tagger fine-tuned on English (Sec. 5.1), with Zero-mean applied during fine-tuning when asked."""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Sequence

import torch

from replicate.train import Checkpointer, progress, rng_state, set_rng_state

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
    state = ck.load()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        g.set_state(state["gen"])
        set_rng_state(state["rng"])
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
        if ck.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "gen": g.get_state(), "rng": rng_state(), "losses": losses, "step": step + 1}, step + 1):
            pass
    ck.clear()
    model.eval()
    return losses


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


def finetune_pos(tagger, tokenizer, sents, device, epochs: int, lr: float, batch_size: int, max_len: int,
                 seed: int, layer: int, vector: torch.Tensor | None = None, autocast=None) -> list[float]:
    """Fine-tune a BertForTokenClassification on English UD (Sec. 5.1). ``vector`` (Zero-mean: -R_en^l of the
    pre-trained model) is added at ``layer`` during training. Returns the loss per step."""
    ids, labels = encode_tagged(tokenizer, sents, max_len)
    tagger.to(device).train()
    opt = torch.optim.AdamW(tagger.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    steps = epochs * math.ceil(len(ids) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    losses = []
    bar = progress(total=steps, desc="POS fine-tuning")
    for _ in range(epochs):
        perm = torch.randperm(len(ids), generator=g).tolist()
        for s in range(0, len(perm), batch_size):
            idx = perm[s:s + batch_size]
            x = _pad([ids[i] for i in idx], tokenizer.pad_token_id).to(device)
            y = _pad([labels[i] for i in idx], -100).to(device)
            with M.shift(tagger, layer, vector), (autocast or contextlib.nullcontext()):
                loss = tagger(input_ids=x, attention_mask=(x != tokenizer.pad_token_id).long(), labels=y).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.update()
    bar.close()
    tagger.eval()
    return losses


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
