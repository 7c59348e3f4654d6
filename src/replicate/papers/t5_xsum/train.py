"""Fine-tuning (section 2.3.2 of the report) and generation.

AdamW (weight decay 0.01 on all weights but biases and layer norms, as the Hugging Face Trainer does), a linear
learning-rate decay to zero, gradient clipping at 1.0, 1 epoch by default; validation ROUGE after each epoch and the
best epoch's weights kept; a checkpoint after every epoch and every few hundred steps so an interrupted run resumes.
On a GPU: bf16 autocast, fused AdamW, SDPA attention and length-bucketed batches.
"""
from __future__ import annotations

import math
import time

import torch

from replicate.train import Checkpointer, autocast, progress, rng_state, set_rng_state

from . import data as D
from .metrics import flat, rouge


def optimizer_for(model, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "layer_norm" in name or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, fused=device.type == "cuda")


def linear_schedule(optimizer, total_steps: int):
    """lr(t) = lr0 * (1 - t / T): the Trainer's default "linear" schedule without warm-up."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: max(0.0, 1.0 - t / max(1, total_steps)))


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def compiled(model):
    """``torch.compile`` with dynamic shapes: one compilation serves every batch shape (length buckets), where a
    static compile would recompile at each new source length. The wrapper shares the model's parameters; the model
    itself stays eager (generation, evaluation). On an H100 the first step compiles for minutes, then a t5-small
    step takes about half its eager time (scripts/probe_compile.py, results/t5_xsum/bench/)."""
    return torch.compile(model, dynamic=True)


def train_step(model, batch, optimizer, scheduler, device, precision: str, max_grad_norm: float) -> torch.Tensor:
    """One optimisation step on one batch; returns the (detached) mean token cross-entropy."""
    model.train()
    with autocast(device, precision):
        loss = model(**batch).loss
    loss.backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


@torch.no_grad()
def generate_ids(model, encoded: list[list[int]], pad_id: int, max_new_tokens: int, batch_size: int, device,
                 precision: str = "auto", num_beams: int = 1, desc: str = "generate") -> list[list[int]]:
    """Greedy (or beam) generation for tokenised sources; batches are formed by source length (less padding) and
    the outputs come back in the input order."""
    model.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out: list[list[int]] = [[] for _ in encoded]
    for b in progress(range(0, len(order), batch_size), desc=desc, leave=False):
        ids = order[b:b + batch_size]
        n = max(len(encoded[i]) for i in ids)
        x = torch.tensor([encoded[i] + [pad_id] * (n - len(encoded[i])) for i in ids], device=device)
        with autocast(device, precision):
            y = model.generate(input_ids=x, attention_mask=(x != pad_id).long(), max_new_tokens=max_new_tokens,
                               num_beams=num_beams, do_sample=False)
        for i, row in zip(ids, y.tolist()):
            out[i] = row
    return out


def generate(model, tokenizer, documents: list[str], prefix: str, max_source: int, max_new_tokens: int,
             batch_size: int, device, precision: str = "auto", num_beams: int = 1, desc: str = "generate") -> list[str]:
    """Summaries of ``documents`` ("summarize: " + document, truncated to ``max_source`` tokens)."""
    enc = tokenizer([prefix + d for d in documents], truncation=True, max_length=max_source)["input_ids"]
    ys = generate_ids(model, enc, tokenizer.pad_token_id, max_new_tokens, batch_size, device, precision, num_beams,
                      desc)
    return [t.strip() for t in tokenizer.batch_decode(ys, skip_special_tokens=True)]


def evaluate(model, tokenizer, records, params, device, precision, max_new_tokens: int | None = None,
             desc: str = "evaluate") -> dict:
    """ROUGE P/R/F of generated summaries against the references, and the generated lengths."""
    cap = max_new_tokens or params.gen_max_new_tokens
    enc = tokenizer([params.prefix + r["document"] for r in records], truncation=True,
                    max_length=params.max_source_length)["input_ids"]
    ys = generate_ids(model, enc, tokenizer.pad_token_id, cap, params.eval_batch_size, device, precision,
                      params.num_beams, desc)
    preds = [t.strip() for t in tokenizer.batch_decode(ys, skip_special_tokens=True)]
    scores = rouge(preds, [r["summary"] for r in records])
    special = {tokenizer.pad_token_id, tokenizer.eos_token_id}
    lens = [sum(1 for t in y[1:] if t not in special) for y in ys]  # new tokens, without the start and </s>
    return {"rouge": scores, "flat": flat(scores), "predictions": preds,
            "mean_gen_tokens": sum(lens) / max(1, len(lens)), "mean_gen_words": sum(len(p.split()) for p in preds) / max(1, len(preds))}


def finetune(model, tokenizer, splits: dict, params, device, precision: str, checkpoint: Checkpointer | None = None,
             lr: float | None = None, batch_size: int | None = None, epochs: int | None = None,
             n_train: int | None = None, validate: bool = True, desc: str = "fine-tune") -> dict:
    """Train ``model`` in place on ``splits["train"]``; return the history (losses, validation ROUGE per epoch).

    The weights of the epoch with the best validation ROUGE-L F1 are loaded back at the end (section 2.3.2:
    "selected the model with the best ROUGE score"). With a ``checkpoint``, the state is saved after every epoch
    and every 200 steps, and a run that finds one resumes from it."""
    lr = lr or params.lr
    batch_size = batch_size or params.batch_size
    epochs = epochs or params.epochs
    train = splits["train"][: n_train] if n_train else splits["train"]
    examples = D.encode(train, tokenizer, params.prefix, params.max_source_length, params.max_target_length)
    plan = [D.batches(examples, batch_size, params.seed * 1000 + e, params.bucket) for e in range(epochs)]
    total = sum(len(p) for p in plan)
    model.to(device)
    optimizer = optimizer_for(model, lr, params.weight_decay, device)
    scheduler = linear_schedule(optimizer, total)
    step_model = compiled(model) if params.compile and device.type == "cuda" else model
    hist = {"step": [], "loss": [], "epoch_val": [], "tokens": 0, "pad_fraction": None, "seconds": 0.0}
    best, best_state, start_epoch, start_batch = -math.inf, None, 0, 0
    ck = checkpoint or Checkpointer(None)
    state = ck.load()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        hist, best, best_state = state["hist"], state["best"], state["best_state"]
        start_epoch, start_batch = state["epoch"], state["batch"]
        print(f"resuming from {ck.path.name}: epoch {start_epoch + 1}, batch {start_batch}")

    def save(epoch, batch):
        ck.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "rng": rng_state(), "hist": hist, "best": best, "best_state": best_state,
                 "epoch": epoch, "batch": batch}, force=True)

    real = padded = 0
    t0 = time.perf_counter()
    step = sum(len(p) for p in plan[:start_epoch]) + start_batch
    bar = progress(total=total, initial=step, desc=desc, leave=False)
    for epoch in range(start_epoch, epochs):
        losses = []
        first = start_batch if epoch == start_epoch else 0
        batches = D.loader(examples, plan[epoch][first:], tokenizer.pad_token_id, params.pad_multiple,
                           workers=2 if device.type == "cuda" else 0)
        for b, batch in enumerate(batches, start=first):
            real += int(batch["attention_mask"].sum())
            padded += batch["attention_mask"].numel()
            loss = train_step(step_model, to_device(batch, device), optimizer, scheduler, device, precision,
                              params.max_grad_norm)
            losses.append(loss)
            step += 1
            bar.update(1)
            if len(losses) == 10 or b == len(plan[epoch]) - 1:  # one host sync per 10 steps
                hist["step"].append(step)
                hist["loss"].append(float(torch.stack(losses).float().mean()))
                losses = []
            if ck.enabled and step % 200 == 0:
                save(epoch, b + 1)
        row = {"epoch": epoch + 1, "step": step}
        if validate and splits.get("validation"):
            ev = evaluate(model, tokenizer, splits["validation"], params, device, precision, desc="validation ROUGE")
            row.update(ev["flat"])
            score = ev["rouge"]["rougeL"]["fmeasure"]
            if score > best:
                best, best_state = score, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        hist["epoch_val"].append(row)
        save(epoch + 1, 0)
    bar.close()
    hist["seconds"] += time.perf_counter() - t0
    hist["tokens"] += real
    hist["pad_fraction"] = 1 - real / max(1, padded)
    if best_state is not None and len(hist["epoch_val"]) > 1:
        model.load_state_dict(best_state)
        hist["best_epoch"] = max(hist["epoch_val"], key=lambda r: r.get("rougeL/fmeasure", -1))["epoch"]
    return hist
