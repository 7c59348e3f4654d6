"""Training and evaluation of GUDN (Sec. 3.5, 4.2): AdamW, a linear schedule without warm-up, bf16 autocast on a
GPU, a checkpoint per epoch (an interrupted run resumes), and torch DistributedDataParallel when launched with
torchrun (one process is the default)::

    torchrun --nproc_per_node 4 -m replicate.papers.gudn.experiment --profile paper --variant gudn

``per_device_train_batch_size`` is per process: four processes of 8 are a global batch of 32, as the authors'
main_multi_gpu.py (DistributedSampler, 8 per GPU on four GPUs); one process of 8 is their main.py.
Evaluation uses the text alone (``GUDN.rank``); the label side exists only in training.
"""
from __future__ import annotations

import math
import os
import time

import numpy as np
import torch

from replicate import distributed
from replicate.train import Checkpointer, autocast, progress, resolve_precision, resume, seed_everything, snapshot

from . import data as gdata
from . import metrics
from .model import GUDN, ClusterRanker, label_clusters, make_encoder, variant_flags


def _rank0_tokenizer(tok):
    """Every rank takes rank 0's tokenizer: WordPiece training on the same texts gives the same tokens but not the
    same ids in two processes, so each rank's own tokenizer would feed the shared embedding different ids."""
    return distributed.broadcast(tok)


# ---------------------------------------------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------------------------------------------
class Batcher:
    """Turns document indices into a training batch: tokenised texts (first ``max_len`` tokens), tokenised joined
    label names (first ``label_max_len`` tokens), the batch's dense label rows and the gold index lists.

    Texts and label texts are each padded to the batch's longest, as the authors' collate function does.
    ``fast=False`` pads both to ``max_len`` instead (a fixed shape, kept for the bench's comparisons)."""

    def __init__(self, tok, split: gdata.XMLSplit, max_len: int, label_max_len: int, fast: bool = True,
                 label_side: bool = True):
        self.tok, self.split, self.max_len, self.label_max_len = tok, split, max_len, label_max_len
        self.fast, self.label_side = fast, label_side
        self.label_texts = split.label_texts() if label_side else None

    def __call__(self, idx, device) -> dict:
        idx = np.asarray(idx)
        t = gdata.encode(self.tok, [self.split.texts[i] for i in idx], self.max_len, pad_to_max=not self.fast)
        b = {"ids": t["input_ids"].to(device, non_blocking=True), "mask": t["attention_mask"].to(device, non_blocking=True),
             "gold": gdata.label_rows(self.split.Y, idx),
             "y": torch.as_tensor(self.split.Y[idx].toarray(), device=device)}
        if self.label_side:
            n = self.label_max_len if self.fast else self.max_len
            lt = gdata.encode(self.tok, [self.label_texts[i] for i in idx], min(n, 512),
                              pad_to_max=not self.fast)
            b["label_ids"] = lt["input_ids"].to(device, non_blocking=True)
            b["label_mask"] = lt["attention_mask"].to(device, non_blocking=True)
        return b


def build_model(params, data: gdata.XMLData, tok, variant: str) -> GUDN:
    f = variant_flags(variant)
    pooler = params.feature_mse == "pooler" and f["use_feature"]
    enc = make_encoder(params, len(tok), pooler=pooler, fast=params.fused)
    ranker = None
    if params.ranker_kind == "clusters":
        C = params.n_clusters or max(2, int(math.sqrt(data.n_labels)))
        cl = label_clusters(data.train.texts, data.train.Y, C, seed=params.seed)
        ranker = ClusterRanker(params.feature_layers * enc.config.hidden_size, cl, params.top_b)
    return GUDN(enc, data.n_labels, params.feature_layers, params.dropout, f["label_input"], ranker)


def make_optimizer(model: torch.nn.Module, lr: float, fused: bool, device: torch.device, weight_decay: float = 0.0,
                   eps: float = 1e-6):
    """AdamW as the authors': ``transformers.AdamW(parameters, lr)`` with its defaults, weight decay 0 on every
    parameter and eps 1e-6 (torch's AdamW defaults, 0.01 and 1e-8, would differ); fused kernels on a GPU when
    ``fused``."""
    kw = {"fused": True} if fused and device.type == "cuda" else {}
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, eps=eps, **kw)


@torch.no_grad()
def evaluate(model: GUDN, tok, split: gdata.XMLSplit, params, device, w=None, k: int = 5) -> dict:
    """Rank the test texts (text only) and compute P@k, nDCG@k, PSP@k."""
    was = model.training
    model.eval()
    b = Batcher(tok, split, params.max_seq_length, params.max_label_length, fast=True, label_side=False)
    tops = []
    bs = params.per_device_eval_batch_size
    for s in range(0, len(split), bs):
        batch = b(range(s, min(s + bs, len(split))), device)
        with autocast(device, params.precision):
            tops.append(model.rank(batch["ids"], batch["mask"], k).cpu())
    model.train(was)
    topk = torch.cat(tops).numpy()
    return metrics.all_metrics(topk, split.Y, w)


def fit(params, data: gdata.XMLData, tok, variant: str, ckpt: Checkpointer | None = None, log=print) -> dict:
    """Train one variant; return {"metrics": final test metrics, "curves": per-epoch losses and P@k, "info"}.

    A checkpoint is written after every epoch (``ckpt``); a run that finds one resumes after its epoch through
    ``replicate.train.resume`` (loaded to the CPU, the state dicts copied into the objects on their device, then
    the RNG states restored), and the data order of the remaining epochs is the uninterrupted run's."""
    device, rank, world = distributed.setup(params.device)
    tok = _rank0_tokenizer(tok)
    precision = resolve_precision(params.precision, device)
    seed_everything(params.seed)
    flags = variant_flags(variant)
    model = build_model(params, data, tok, variant).to(device)
    model.one_pass = params.fused and device.type == "cuda"
    model.train()
    net = distributed.wrap(model, device)
    opt = make_optimizer(model, params.learning_rate, params.fused, device, params.weight_decay, params.adam_epsilon)
    n = len(data.train)
    bs = params.per_device_train_batch_size
    steps_per_epoch = math.ceil(math.ceil(n / world) / bs)
    total = steps_per_epoch * params.n_epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / max(total, 1)))  # linear, no warm-up
    batcher = Batcher(tok, data.train, params.max_seq_length, params.max_label_length, fast=params.fused,
                      label_side=flags["label_input"] == "raw" and (flags["use_feature"] or flags["use_link"]))
    w = metrics.inverse_propensity(data.train.Y)
    curves = {"epoch": [], "loss_class": [], "loss_feature": [], "loss_link": [], "P@1": [], "P@3": [], "P@5": [],
              "seconds": []}
    start = 0
    ckpt = ckpt or Checkpointer(None)
    state = resume(ckpt, model=model, optimizer=opt, scheduler=sched)
    if state is not None:
        if state.get("variant") != variant:
            raise ValueError(f"{ckpt.path} holds a checkpoint of variant {state.get('variant')!r}, not {variant!r}")
        curves, start = state["curves"], state["epoch"]
        if rank == 0:
            log(f"[{variant}] resumed after epoch {start}")
    g = torch.Generator().manual_seed(params.seed)
    for _ in range(start):  # the same shuffles as an uninterrupted run
        torch.randperm(n, generator=g)
    for epoch in range(start, params.n_epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=g).numpy()
        perm = distributed.shard(perm, rank, world)  # every rank the same number of steps
        sums = torch.zeros(3, dtype=torch.float64)
        steps = 0
        bar = progress(range(0, len(perm), bs), desc=f"{variant} epoch {epoch + 1}/{params.n_epochs}",
                       leave=False, disable=rank != 0 or os.environ.get("REPLICATE_PROGRESS", "1") == "0")
        for s in bar:
            batch = batcher(perm[s:s + bs], device)
            with autocast(device, precision):
                losses = net(batch, use_feature=flags["use_feature"], use_link=flags["use_link"],
                             feature_mse=params.feature_mse)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            sched.step()
            sums += torch.tensor([float(losses[k].detach()) if k in losses else float("nan")
                                  for k in ("class", "feature", "link")], dtype=torch.float64)
            steps += 1
        means = [distributed.mean(v, device) for v in (sums / max(steps, 1)).tolist()]
        curves["epoch"].append(epoch + 1)
        for k, v in zip(("loss_class", "loss_feature", "loss_link"), means):
            curves[k].append(None if math.isnan(v) else v)
        m = evaluate(model, tok, data.test, params, device, w) if rank == 0 else {}
        for k in ("P@1", "P@3", "P@5"):
            curves[k].append(m.get(k))
        curves["seconds"].append(time.perf_counter() - t0)
        if rank == 0:
            log(f"[{variant}] epoch {epoch + 1}/{params.n_epochs}: L_class {curves['loss_class'][-1]:.4f}"
                + (f", L_feature {curves['loss_feature'][-1]:.4f}" if curves["loss_feature"][-1] is not None else "")
                + (f", L_link {curves['loss_link'][-1]:.4f}" if curves["loss_link"][-1] is not None else "")
                + f", P@1 {m['P@1']:.2f} ({curves['seconds'][-1]:.1f} s)")
            ckpt.save(snapshot(model=model, optimizer=opt, scheduler=sched, variant=variant, epoch=epoch + 1,
                               curves=curves), force=True)
        distributed.barrier()
    final = evaluate(model, tok, data.test, params, device, w) if rank == 0 else {}
    n_params = sum(p.numel() for p in model.parameters())
    return {"metrics": final, "curves": curves,
            "info": {"variant": variant, "precision": precision, "world_size": world, "parameters": n_params,
                     "device": str(device)}}
