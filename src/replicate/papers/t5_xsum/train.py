"""Fine-tuning (section 2.3.2 of the report) and generation.

AdamW (weight decay 0.01 on all weights but biases and layer norms, as the Hugging Face Trainer does), a linear
learning-rate decay to zero, gradient clipping at 1.0, 1 epoch by default; validation ROUGE after each epoch and the
best epoch's weights kept; a checkpoint after every epoch and every few hundred steps so an interrupted run resumes.
On a GPU: bf16 autocast, fused AdamW, SDPA attention and length-bucketed batches.
"""
from __future__ import annotations

import math
import random
import time

import torch

from replicate.train import Checkpointer, autocast, progress, resume, snapshot

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


class _Linear:
    """lr(t) / lr0: a linear warm-up over ``warmup`` steps, then a linear decay to zero at ``total`` (the Trainer's
    "linear" schedule; ``warmup = 0`` is its default). A class, not a lambda, so a scheduler's state pickles."""

    def __init__(self, total: int, warmup: int = 0):
        self.total, self.warmup = max(1, total), warmup

    def __call__(self, t: int) -> float:
        if t < self.warmup:
            return (t + 1) / self.warmup
        return max(0.0, (self.total - t) / max(1, self.total - self.warmup))


def linear_schedule(optimizer, total_steps: int, warmup_steps: int = 0):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _Linear(total_steps, warmup_steps))


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def compiled(model, mode: str = "default"):
    """``torch.compile`` with dynamic shapes: one compilation serves every batch shape (length buckets), where a
    static compile would recompile at each new source length. The wrapper shares the model's parameters; the model
    itself stays eager (generation, evaluation). On an H100 the first step compiles for minutes, then a t5-small
    step takes about half its eager time (scripts/probe_compile.py, results/t5_xsum/bench/).

    ``mode="reduce-overhead"`` adds CUDA graphs: the forward and backward of each batch shape are captured once and
    replayed, so the host launches one graph instead of hundreds of kernels (the eager step is launch-bound)."""
    return torch.compile(model, dynamic=True, mode=None if mode == "default" else mode)


def _graphed(model) -> bool:
    return getattr(model, "_t5_compile_mode", None) == "reduce-overhead"


def compiled_step_model(model, mode: str = "default"):
    m = compiled(model, mode)
    m._t5_compile_mode = mode
    return m


def train_step(model, batch, optimizer, scheduler, device, precision: str, max_grad_norm: float,
               label_smoothing: float = 0.0) -> torch.Tensor:
    """One optimisation step on one batch; returns the (detached) mean token cross-entropy.

    Through CUDA graphs (``compiled_step_model(..., "reduce-overhead")``) a step is marked as a new graph
    iteration and the loss copied out, since the graph's outputs are overwritten by its next replay."""
    model.train()
    graphed = _graphed(model)
    if graphed:
        torch.compiler.cudagraph_mark_step_begin()
    with autocast(device, precision):
        if label_smoothing:
            labels = batch["labels"]
            out = model(**{k: v for k, v in batch.items() if k != "labels"},
                        decoder_input_ids=_shift_right(labels))
            loss = torch.nn.functional.cross_entropy(out.logits.float().flatten(0, 1), labels.flatten(),
                                                     ignore_index=-100, label_smoothing=label_smoothing)
        else:
            loss = model(**batch).loss
    if graphed:
        loss = loss.clone()
    loss.backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def _shift_right(labels: torch.Tensor, start: int = 0, pad: int = 0) -> torch.Tensor:
    """T5's decoder inputs: the labels shifted right behind the start token (<pad> = 0), -100 read as <pad>."""
    dec = torch.full_like(labels, pad)
    dec[:, 1:] = labels[:, :-1]
    dec[:, 0] = start
    return dec.masked_fill(dec == -100, pad)


def generation_kwargs(max_new_tokens: int, num_beams: int = 1, min_new_tokens: int = 0) -> dict:
    """The lengths of a generation as ``max_length``/``min_length`` (T5 is an encoder-decoder: the decoder's sequence
    is one start token and the new tokens, so ``max_length = 1 + max_new_tokens``), greedy unless ``num_beams > 1``.

    Lengths are given one way only. ``generate`` warns ("Both `max_new_tokens` and `max_length` seem to have been
    set") once per batch when a call passes ``max_new_tokens`` and the model's generation config holds a
    ``max_length``, which ``Seq2SeqTrainer.predict`` writes into it after its first batch; a user's log then
    filled with hundreds of such lines."""
    return {"max_length": 1 + max_new_tokens, "min_length": 1 + min_new_tokens, "num_beams": num_beams,
            "do_sample": False}


@torch.no_grad()
def generate_ids(model, encoded: list[list[int]], pad_id: int, max_new_tokens: int, batch_size: int, device,
                 precision: str = "auto", num_beams: int = 1, desc: str = "generate",
                 min_new_tokens: int = 0) -> list[list[int]]:
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
            y = model.generate(input_ids=x, attention_mask=(x != pad_id).long(),
                               **generation_kwargs(max_new_tokens, num_beams, min_new_tokens))
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


def distinct_share(predictions: list[str]) -> float:
    """Distinct generated summaries / summaries: 1.0 when every document gets its own, 1/n when a model that has
    collapsed gives one sentence to every document (whose ROUGE is then what that sentence shares with the
    references)."""
    return len(set(predictions)) / max(1, len(predictions))


def evaluate(model, tokenizer, records, params, device, precision, max_new_tokens: int | None = None,
             desc: str = "evaluate") -> dict:
    """ROUGE P/R/F of generated summaries against the references, and the generated lengths."""
    cap = max_new_tokens or params.max_new_tokens
    enc = tokenizer([params.source_prefix + r["document"] for r in records], truncation=True,
                    max_length=params.max_source_length)["input_ids"]
    ys = generate_ids(model, enc, tokenizer.pad_token_id, cap, params.per_device_eval_batch_size, device, precision,
                      params.num_beams, desc)
    preds = [t.strip() for t in tokenizer.batch_decode(ys, skip_special_tokens=True)]
    scores = rouge(preds, [r["summary"] for r in records])
    special = {tokenizer.pad_token_id, tokenizer.eos_token_id}
    lens = [sum(1 for t in y[1:] if t not in special) for y in ys]  # new tokens, without the start and </s>
    return {"rouge": scores, "flat": flat(scores), "predictions": preds, "distinct_share": distinct_share(preds),
            "mean_gen_tokens": sum(lens) / max(1, len(lens)), "mean_gen_words": sum(len(p.split()) for p in preds) / max(1, len(preds))}


def _steps(params, n_examples: int, epochs: int, batch_size: int) -> int:
    return epochs * -(-n_examples // batch_size)


def finetune(model, tokenizer, splits: dict, params, device, precision: str, checkpoint: Checkpointer | None = None,
             validate: bool = True, desc: str = "fine-tune") -> dict:
    """Train ``model`` in place on ``splits["train"]``; return the history (losses, validation ROUGE per epoch).

    The weights of the epoch with the best validation ROUGE-L F1 are loaded back at the end (section 2.3.2:
    "selected the model with the best ROUGE score"). With a ``checkpoint``, the state is saved after every epoch
    and every ``save_steps`` steps, and a run that finds one resumes from it (``replicate.train.resume``: loaded
    to the CPU, the state dicts into the objects on their device, then the RNG states)."""
    lr, batch_size, epochs = params.learning_rate, params.per_device_train_batch_size, params.num_train_epochs
    train = splits["train"]
    examples = D.encode(train, tokenizer, params.source_prefix, params.max_source_length, params.max_target_length)
    plan = [D.batches(examples, batch_size, params.seed * 1000 + e, params.group_by_length) for e in range(epochs)]
    total = sum(len(p) for p in plan)
    model.to(device)
    optimizer = optimizer_for(model, lr, params.weight_decay, device)
    scheduler = linear_schedule(optimizer, total, int(params.warmup_ratio * total))
    step_model = compiled_step_model(model, params.torch_compile_mode) \
        if params.torch_compile and device.type == "cuda" else model
    hist = {"step": [], "loss": [], "epoch_val": [], "tokens": 0, "pad_fraction": None, "seconds": 0.0,
            "real": 0, "padded": 0}
    best, best_state, start_epoch, start_batch = -math.inf, None, 0, 0
    ck = checkpoint or Checkpointer(None)
    state = resume(ck, model=model, optimizer=optimizer, scheduler=scheduler)
    if state is not None:
        hist, best, best_state = state["hist"], state["best"], state["best_state"]
        start_epoch, start_batch = state["epoch"], state["batch"]
        print(f"resuming from {ck.path.name}: epoch {start_epoch + 1}, batch {start_batch}")

    def save(epoch, batch):
        ck.save(snapshot(model=model, optimizer=optimizer, scheduler=scheduler, hist=hist, best=best,
                         best_state=best_state, epoch=epoch, batch=batch), force=True)

    t0 = time.perf_counter()
    seconds0 = hist["seconds"]
    step = sum(len(p) for p in plan[:start_epoch]) + start_batch
    bar = progress(total=total, initial=step, desc=desc, leave=False)
    for epoch in range(start_epoch, epochs):
        losses = []
        first = start_batch if epoch == start_epoch else 0
        batches = D.loader(examples, plan[epoch][first:], tokenizer.pad_token_id, params.pad_to_multiple_of,
                           workers=2 if device.type == "cuda" else 0)
        for b, batch in enumerate(batches, start=first):
            hist["real"] += int(batch["attention_mask"].sum())
            hist["padded"] += batch["attention_mask"].numel()
            loss = train_step(step_model, to_device(batch, device), optimizer, scheduler, device, precision,
                              params.max_grad_norm, params.label_smoothing_factor)
            losses.append(loss)
            step += 1
            bar.update(1)
            if step % 10 == 0 or b == len(plan[epoch]) - 1:  # one host sync per 10 steps
                hist["step"].append(step)
                hist["loss"].append(float(torch.stack(losses).float().mean()))
                losses = []
            if ck.enabled and step % params.save_steps == 0 and b + 1 < len(plan[epoch]):
                hist["seconds"] = seconds0 + time.perf_counter() - t0
                save(epoch, b + 1)
        row = {"epoch": epoch + 1, "step": step}
        if validate and splits.get("validation"):
            ev = evaluate(model, tokenizer, splits["validation"], params, device, precision, desc="validation ROUGE")
            row.update(ev["flat"])
            row["distinct_share"] = ev["distinct_share"]
            score = ev["rouge"]["rougeL"]["fmeasure"]
            if score > best:
                best, best_state = score, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        hist["epoch_val"].append(row)
        hist["seconds"] = seconds0 + time.perf_counter() - t0
        if ck.enabled:
            save(epoch + 1, 0)
    bar.close()
    hist["seconds"] = seconds0 + time.perf_counter() - t0
    hist["tokens"] = hist["real"]
    hist["pad_fraction"] = 1 - hist["real"] / max(1, hist["padded"])
    if best_state is not None and len(hist["epoch_val"]) > 1:
        model.load_state_dict(best_state)
        hist["best_epoch"] = max(hist["epoch_val"], key=lambda r: r.get("rougeL/fmeasure", -1))["epoch"]
    return hist


def pretrain(model, tokenizer, documents: list[str], params, device, precision: str,
             checkpoint: Checkpointer | None = None, desc: str = "span-corruption pre-training") -> dict:
    """T5's self-supervised objective on ``documents`` (never their summaries): ``pretrain_steps`` steps of span
    corruption (``data.span_corrupt``: ``noise_density`` of the tokens in spans of mean ``mean_noise_span_length``,
    each span replaced by a sentinel in the input and spelled out after it in the target), batches of
    ``per_device_train_batch_size`` documents drawn with replacement, AdamW at ``pretrain_learning_rate`` with 10%
    linear warm-up and linear decay. Checkpointed and resumed as ``finetune``; returns the loss history."""
    enc = tokenizer(documents, truncation=True,
                    max_length=params.max_source_length, add_special_tokens=False)["input_ids"]
    enc = [e for e in enc if len(e) >= 4]
    sentinels = D.sentinel_ids(tokenizer)
    total = params.pretrain_steps
    model.to(device)
    optimizer = optimizer_for(model, params.pretrain_learning_rate, params.weight_decay, device)
    scheduler = linear_schedule(optimizer, total, max(1, total // 10))
    step_model = compiled_step_model(model, params.torch_compile_mode) \
        if params.torch_compile and device.type == "cuda" else model
    hist = {"step": [], "loss": [], "seconds": 0.0}
    ck = checkpoint or Checkpointer(None)
    start = 0
    state = resume(ck, model=model, optimizer=optimizer, scheduler=scheduler)
    if state is not None:
        hist, start = state["hist"], state["step"]
        print(f"resuming pre-training from {ck.path.name}: step {start}")
    t0, seconds0 = time.perf_counter(), hist["seconds"]
    losses = []
    bar = progress(total=total, initial=start, desc=desc, leave=False)
    for step in range(start, total):
        rng = random.Random(f"{params.seed}-pretrain-{step}")  # the batch of a step does not depend on a resume
        ids = [rng.randrange(len(enc)) for _ in range(params.per_device_train_batch_size)]
        pairs = [D.span_corrupt(enc[i], rng, params.noise_density, params.mean_noise_span_length, sentinels,
                                tokenizer.eos_token_id) for i in ids]
        batch = D.collate([{"input_ids": a, "labels": b} for a, b in pairs], list(range(len(pairs))),
                          tokenizer.pad_token_id, params.pad_to_multiple_of)
        losses.append(train_step(step_model, to_device(batch, device), optimizer, scheduler, device, precision,
                                 params.max_grad_norm))
        bar.update(1)
        if (step + 1) % 10 == 0 or step == total - 1:
            hist["step"].append(step + 1)
            hist["loss"].append(float(torch.stack(losses).float().mean()))
            losses = []
        if ck.enabled and (step + 1) % params.save_steps == 0 and step + 1 < total:
            hist["seconds"] = seconds0 + time.perf_counter() - t0
            ck.save(snapshot(model=model, optimizer=optimizer, scheduler=scheduler, hist=hist, step=step + 1),
                    force=True)
    bar.close()
    hist["seconds"] = seconds0 + time.perf_counter() - t0
    return hist
