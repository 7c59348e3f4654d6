"""Training and evaluation of GUDN (Sec. 3.5, 4.2): AdamW, a linear schedule without warm-up, bf16 autocast on a
GPU, a checkpoint per epoch (an interrupted run resumes), and torch DistributedDataParallel when launched with
torchrun (one process is the default)::

    torchrun --nproc_per_node 4 -m replicate.papers.gudn.train --profile paper --variant gudn

Evaluation uses the text alone (``GUDN.rank``); the label side exists only in training.
"""
from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import replace

import numpy as np
import torch
import torch.distributed as dist

from replicate.config import as_dict
from replicate.train import (Checkpointer, autocast, pick_device, progress, resolve_precision, rng_state,
                             seed_everything, set_rng_state)

from . import data as gdata
from . import metrics
from .model import GUDN, ClusterRanker, label_clusters, make_encoder, variant_flags


# ---------------------------------------------------------------------------------------------------------------
# distributed helpers (no-ops in one process)
# ---------------------------------------------------------------------------------------------------------------
def dist_setup(device_pref: str = "auto") -> tuple[torch.device, int, int]:
    """(device, rank, world size). Under torchrun (WORLD_SIZE > 1) joins the process group: NCCL on GPUs, gloo
    on CPUs; each process takes the GPU of its LOCAL_RANK."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = pick_device(device_pref)
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        return device, dist.get_rank(), dist.get_world_size()
    return device, 0, 1


def _is_dist() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _rank0_tokenizer(tok):
    """Every rank takes rank 0's tokenizer: WordPiece training on the same texts gives the same tokens but not the
    same ids in two processes, so each rank's own tokenizer would feed the shared embedding different ids."""
    if not _is_dist():
        return tok
    box = [tok if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _allreduce_mean(x: torch.Tensor) -> torch.Tensor:
    if _is_dist():
        dist.all_reduce(x)
        x /= dist.get_world_size()
    return x


# ---------------------------------------------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------------------------------------------
class Batcher:
    """Turns document indices into a training batch: tokenised texts (first ``max_len`` tokens), tokenised joined
    label names, the batch's dense label rows and the gold index lists.

    ``fast``: pad texts to the batch's longest and label texts to their own short length (``label_max_len``);
    otherwise (the authors' code) every text and label text is padded to ``max_len``."""

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
            lt = gdata.encode(self.tok, [self.label_texts[i] for i in idx], n, pad_to_max=not self.fast)
            b["label_ids"] = lt["input_ids"].to(device, non_blocking=True)
            b["label_mask"] = lt["attention_mask"].to(device, non_blocking=True)
        return b


def build_model(params, data: gdata.XMLData, tok, variant: str) -> GUDN:
    f = variant_flags(variant)
    pooler = params.feature_mse == "pooler" and f["use_feature"]
    enc = make_encoder(params, len(tok), pooler=pooler, fast=params.fused)
    ranker = None
    if params.ranker == "clusters":
        C = params.n_clusters or max(2, int(math.sqrt(data.n_labels)))
        cl = label_clusters(data.train.texts, data.train.Y, C, seed=params.seed)
        ranker = ClusterRanker(params.feature_layers * enc.config.hidden_size, cl, params.top_b)
    return GUDN(enc, data.n_labels, params.feature_layers, params.dropout, f["label_input"], ranker)


def make_optimizer(model: torch.nn.Module, lr: float, fused: bool, device: torch.device):
    """AdamW (the authors': lr 5e-5); fused kernels on a GPU when ``fused``."""
    kw = {"fused": True} if fused and device.type == "cuda" else {}
    return torch.optim.AdamW(model.parameters(), lr=lr, **kw)


@torch.no_grad()
def evaluate(model: GUDN, tok, split: gdata.XMLSplit, params, device, w=None, k: int = 5) -> dict:
    """Rank the test texts (text only) and compute P@k, nDCG@k, PSP@k."""
    was = model.training
    model.eval()
    b = Batcher(tok, split, params.max_len, params.label_max_len, fast=True, label_side=False)
    tops = []
    for s in range(0, len(split), params.eval_batch_size):
        batch = b(range(s, min(s + params.eval_batch_size, len(split))), device)
        with autocast(device, params.precision):
            tops.append(model.rank(batch["ids"], batch["mask"], k).cpu())
    model.train(was)
    topk = torch.cat(tops).numpy()
    return metrics.all_metrics(topk, split.Y, w)


def fit(params, data: gdata.XMLData, tok, variant: str, ckpt: Checkpointer | None = None, log=print) -> dict:
    """Train one variant; return {"metrics": final test metrics, "curves": per-epoch losses and P@k}."""
    device, rank, world = dist_setup(params.device)
    tok = _rank0_tokenizer(tok)
    precision = resolve_precision(params.precision, device)
    seed_everything(params.seed)
    flags = variant_flags(variant)
    model = build_model(params, data, tok, variant).to(device)
    model.one_pass = params.fused and device.type == "cuda"
    model.train()
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = make_optimizer(model, params.lr, params.fused, device)
    n = len(data.train)
    steps_per_epoch = math.ceil(n / (params.batch_size * world))
    total = steps_per_epoch * params.n_epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / max(total, 1)))  # linear, no warm-up
    batcher = Batcher(tok, data.train, params.max_len, params.label_max_len, fast=params.fused,
                      label_side=flags["label_input"] == "raw" and (flags["use_feature"] or flags["use_link"]))
    w = metrics.inverse_propensity(data.train.Y)
    curves = {"epoch": [], "loss_class": [], "loss_feature": [], "loss_link": [], "P@1": [], "P@3": [], "P@5": [],
              "seconds": []}
    start = 0
    ckpt = ckpt or Checkpointer(None)
    state = ckpt.load(map_location=device)
    if state is not None and state.get("variant") == variant:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        curves, start = state["curves"], state["epoch"]
        set_rng_state(state["rng"])
        if rank == 0:
            log(f"[{variant}] resumed after epoch {start}")
    g = torch.Generator().manual_seed(params.seed)
    for _ in range(start):  # the same shuffles as an uninterrupted run
        torch.randperm(n, generator=g)
    for epoch in range(start, params.n_epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=g).numpy()
        # DistributedSampler-style shard: pad by wrapping around so that every rank takes the same number of steps
        # (an uneven count leaves one rank waiting in DDP's all-reduce for ever)
        perm = np.resize(perm, math.ceil(n / world) * world)[rank::world]
        sums = torch.zeros(3, dtype=torch.float64)
        steps = 0
        bar = progress(range(0, len(perm), params.batch_size), desc=f"{variant} epoch {epoch + 1}/{params.n_epochs}",
                       leave=False, disable=rank != 0 or os.environ.get("REPLICATE_PROGRESS", "1") == "0")
        for s in bar:
            batch = batcher(perm[s:s + params.batch_size], device)
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
        means = _allreduce_mean((sums / max(steps, 1)).to(device)).cpu()
        curves["epoch"].append(epoch + 1)
        for k, v in zip(("loss_class", "loss_feature", "loss_link"), means.tolist()):
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
            ckpt.save({"variant": variant, "model": model.state_dict(), "opt": opt.state_dict(),
                       "sched": sched.state_dict(), "epoch": epoch + 1, "curves": curves, "rng": rng_state()},
                      force=True)
        if _is_dist():
            dist.barrier()
    final = evaluate(model, tok, data.test, params, device, w) if rank == 0 else {}
    n_params = sum(p.numel() for p in model.parameters())
    return {"metrics": final, "curves": curves,
            "info": {"variant": variant, "precision": precision, "world_size": world, "parameters": n_params,
                     "device": str(device)}}


def experiment_config(params, variant: str) -> dict:
    """The record key of a training run: every parameter except the list of variants and the device choice."""
    cfg = {k: v for k, v in as_dict(params).items() if k not in ("variants", "device")}
    cfg["variant"] = variant
    cfg["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    return cfg


def main(argv=None) -> int:
    """Entry point for torchrun (or plain python): train the variants of a profile, store the records on rank 0."""
    from replicate import chapters
    from replicate.config import parse_overrides

    ap = argparse.ArgumentParser(prog="python -m replicate.papers.gudn.train")
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--variant", action="append", help="a variant (repeatable); default: the profile's list")
    ap.add_argument("-p", "--param", action="append", metavar="KEY=VALUE")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    params = chapters.get("gudn").resolve(a.profile, parse_overrides(a.param))
    if a.variant:
        params = replace(params, variants=tuple(a.variant))
        params.validate()
    from .experiment import run_variant

    for v in params.variants:
        run_variant(params, a.profile, v, force=a.force)
    if _is_dist():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
