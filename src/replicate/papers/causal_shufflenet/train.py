"""Training and evaluation (paper Sections 4.5 and 5): SGD (batch 16, lr 0.1, momentum 0.9), ReduceLROnPlateau
dividing the learning rate by 10 after ``plateau_patience`` epochs without improvement of the validation loss,
a checkpoint every epoch (an interrupted run resumes through ``replicate.train.resume``); top-1 / top-5 accuracy,
the confusion matrix, per-class accuracy and the most-confused pairs on the test split.

The causal model trains on clips of ``train_subclips`` x T frames, run subclip by subclip with the buffer carried
(gradients flow through it); its loss is the mean cross-entropy of the predictions after every subclip. At test time
a whole video is streamed and the prediction after the last subclip is the video's (Section 4.4).

The baseline (3D-ShuffleNetV1) trains on random T-frame windows. It is scored two ways, both kept in the record:
``centre`` (the Efficient-3DCNNs test protocol: the centre T frames of the video, of its first K*T frames here)
and ``mean`` (the softmax averaged over the video's non-overlapping T-frame clips); ``baseline_eval`` picks the
headline ``top1`` / ``top5``.

Under torch.distributed (``replicate run causal_shufflenet --nproc N``): the training forward is wrapped in DDP
(``TrainForward``; SyncBatchNorm on GPUs, per-rank BatchNorm statistics on the CPU, where torch has no
SyncBatchNorm), each epoch's clips are sharded (``epoch_items``: ``per_device_train_batch_size`` per rank, the global
batch N times it, every rank the same number of steps), evaluation is sharded and summed (``predict``) and rank 0
writes the checkpoints.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F

from replicate import distributed
from replicate.train import Checkpointer, autocast, progress, resolve_precision, resume, seed_everything, \
    set_threads, snapshot

from . import data as D
from .data import MIRRORED_PAIRS
from .model import CausalShuffleNet, build, count_params

KINDS = ("causal", "baseline")


# ------------------------------------------------------------------------------------------------ metrics
def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true label is among the k highest scores (Section 5.1, top-1 / top-5)."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion(labels: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """Confusion matrix C[true, predicted] (counts), as scikit-learn's convention (rows: true labels)."""
    return np.bincount(labels * n + pred, minlength=n * n).reshape(n, n)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    tot = cm.sum(axis=1)
    return np.where(tot > 0, np.diag(cm) / np.maximum(tot, 1), np.nan)


def confused_pairs(cm: np.ndarray, classes, top: int = 10) -> list[dict]:
    """Off-diagonal cells by count: true class, predicted class, count, share of the true class's videos."""
    n = cm.shape[0]
    tot = cm.sum(axis=1)
    cells = [(cm[i, j], i, j) for i in range(n) for j in range(n) if i != j and cm[i, j] > 0]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [{"true": classes[i], "predicted": classes[j], "count": int(c), "share_of_true": float(c / tot[i])}
            for c, i, j in cells[:top]]


def mirrored_confusion(cm: np.ndarray, classes) -> list[dict]:
    """For each pair of classes that are the same motion played backwards: the share of the pair's videos that
    were predicted as the other member of the pair."""
    out = []
    for a, b in MIRRORED_PAIRS:
        if b < cm.shape[0]:
            n = cm[a].sum() + cm[b].sum()
            out.append({"pair": f"{classes[a]} / {classes[b]}",
                        "confused_with_mirror": float((cm[a, b] + cm[b, a]) / max(n, 1))})
    return out


def evaluate(probs: np.ndarray, labels: np.ndarray, classes) -> dict:
    pred = probs.argmax(1)
    cm = confusion(labels, pred, len(classes))
    pc = per_class_accuracy(cm)
    return {
        "metrics": {"top1": 100 * topk_accuracy(probs, labels, 1), "top5": 100 * topk_accuracy(probs, labels, 5)},
        "confusion": cm.tolist(),
        "per_class_accuracy": {c: (None if math.isnan(a) else float(a)) for c, a in zip(classes, pc)},
        "confused_pairs": confused_pairs(cm, list(classes)),
        "mirrored": mirrored_confusion(cm, list(classes)),
    }


# ------------------------------------------------------------------------------------------------ models
def make_model(kind: str, p, num_classes: int) -> torch.nn.Module:
    if kind == "causal":
        return CausalShuffleNet(num_classes, buffer_mode=p.buffer_mode, width_mult=p.width_mult, b=p.b,
                                blocks=p.blocks)
    if p.baseline.startswith("shufflenet_"):
        return build(p.baseline, num_classes, blocks=p.blocks)
    return build(p.baseline, num_classes)


class TrainForward(torch.nn.Module):
    """The training forward pass as a module's ``forward`` (what DDP and torch.compile wrap): the causal model's
    ``forward_clip`` (the logits after every subclip, the buffer carried) or the baseline on a T-frame window."""

    def __init__(self, kind: str, model: torch.nn.Module, T: int):
        super().__init__()
        self.kind, self.model, self.T = kind, model, T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "causal":
            return self.model.forward_clip(x, self.T)  # (K, N, C)
        return self.model(x)


def train_loss(kind: str, forward, x, y, T: int, start: int = 0) -> torch.Tensor:
    """The mean cross-entropy of ``forward`` (a ``TrainForward``) on a batch; the baseline sees the T-frame window
    from frame ``start`` (drawn by the caller, the same on every rank)."""
    if kind == "causal":
        logits = forward(x)  # (K, N, C): the prediction after every subclip
        return F.cross_entropy(logits.flatten(0, 1).float(), y.repeat(logits.shape[0]))
    return F.cross_entropy(forward(x[:, :, start:start + T]).float(), y)


def speed_settings(p, device: torch.device) -> None:
    """cuDNN's autotuner on a GPU (``cudnn_benchmark``); nothing on the CPU."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(p.cudnn_benchmark)


def to_memory_format(x: torch.Tensor, p, device: torch.device) -> torch.Tensor:
    if p.channels_last and device.type == "cuda":
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x


@torch.no_grad()
def predict(kind: str, model, vs: D.VideoSet, entries, p, device, how: str = "stream"):
    """Video-level class probabilities (N, C) and labels for ``entries``; videos are batched by their number of
    subclips. Causal (``how`` ignored): streamed, the prediction after the last subclip. Baseline: ``how`` =
    "centre" (the centre T frames) or "mean" (mean softmax over the non-overlapping T-frame clips); "both" returns
    {"centre": probs, "mean": probs}. Under torch.distributed every rank scores every world-th video and the rows
    are summed over the ranks (each row is non-zero on one rank only), so every rank returns all of them, the
    numbers of one process (in eval mode a video's output does not depend on its batch-mates)."""
    model.eval()
    T = p.T
    rank, world = distributed.rank(), distributed.world_size()
    groups = defaultdict(list)
    for i, (rel, label) in enumerate(entries):
        if i % world != rank:
            continue
        v = D.test_video(vs.cache, rel, p.size, T)
        groups[v.shape[1] // T].append((i, v, label))
    hows = ("centre", "mean") if how == "both" else (how,)
    probs = {h: np.zeros((len(entries), len(vs.split.classes)), dtype=np.float32) for h in hows}
    labels = np.array([l for _, l in entries], dtype=np.int64)
    batch = p.per_device_eval_batch_size
    for k, items in groups.items():
        for s in range(0, len(items), batch):
            chunk = items[s:s + batch]
            x = D.normalise(torch.stack([v for _, v, _ in chunk]).to(device), vs.mean, vs.std)
            x = to_memory_format(x, p, device)
            outs = {}
            with autocast(device, p.precision):
                if kind == "causal":
                    outs = {h: model.forward_clip(x, T)[-1].float().softmax(-1) for h in hows}
                else:
                    if "centre" in hows:
                        c = (k * T - T) // 2
                        outs["centre"] = model(x[:, :, c:c + T]).float().softmax(-1)
                    if "mean" in hows:
                        outs["mean"] = torch.stack([model(x[:, :, j:j + T]).float().softmax(-1)
                                                    for j in range(0, k * T, T)]).mean(0)
            for h, out in outs.items():
                for (i, _, _), pr in zip(chunk, out.cpu().numpy()):
                    probs[h][i] = pr
    if world > 1:
        import torch.distributed as dist

        for h in hows:
            t = torch.from_numpy(probs[h]).to(device)
            dist.all_reduce(t)
            probs[h] = t.cpu().numpy()
    return (probs if how == "both" else probs[how]), labels


# ------------------------------------------------------------------------------------------------ training
class EpochSampler(torch.utils.data.Sampler):
    """The loader's sampler: the (index, crop seed) pairs of this rank in this epoch, set by ``fit`` before each
    epoch (kept by persistent loader workers, since sampling happens in the main process)."""

    def __init__(self):
        self.items: list[tuple[int, int]] = []

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


def epoch_items(n: int, per_rank: int, g: torch.Generator, rank: int | None = None,
                world: int | None = None) -> list[tuple[int, int]]:
    """This rank's (clip index, crop seed) pairs for one epoch: a permutation of the n training clips drawn from
    ``g`` (the same on every rank) cut to whole global batches (per_rank x world; one padded batch when there are
    fewer clips), sharded with ``distributed.shard`` so every rank takes the same number of steps. Step s of the
    ranks together holds the clips of step s of one process at the same global batch; a clip's random crop is
    drawn from its own seed (``TrainClips``), so it does not depend on which rank loads it."""
    world = distributed.world_size() if world is None else world
    rank = distributed.rank() if rank is None else rank
    perm = torch.randperm(n, generator=g).numpy()
    seed = int(torch.randint(0, 2**62, (), generator=g).item())
    G = per_rank * world
    steps = max(1, n // G) if n > per_rank else 1
    mine = distributed.shard(perm[:steps * G], rank, world)
    return [(int(i), seed) for i in mine[:steps * per_rank]]


def fit(kind: str, p, vs: D.VideoSet, ck: Checkpointer | None = None, stop_after: int | None = None) -> dict | None:
    """Train ``kind`` ('causal' or 'baseline') with the paper's optimiser and schedule; return the record body.

    After every epoch a checkpoint (``replicate.train.snapshot``: model, optimiser, schedule, RNG states, the
    loader's shuffling generator, curves, timing) is written; a run that finds one resumes after its epoch
    (``replicate.train.resume``). ``stop_after`` returns None once that many epochs are done, leaving the
    checkpoint, as an interruption would."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    ck = ck or Checkpointer(None)
    device, rank, world = distributed.setup(p.device)
    if world > 1 and kind == "causal" and p.train_subclips < 2:
        from replicate.config import UsageError

        raise UsageError("under --nproc N > 1 the causal model trains on train_subclips >= 2: with one subclip the "
                         "buffer's conv gets no gradient, which DDP does not allow; set train_subclips=2 (the default)")
    if device.type == "cpu":
        set_threads(p.cpu_threads)
    speed_settings(p, device)
    g = seed_everything(p.seed)
    C = len(vs.split.classes)
    model = make_model(kind, p, C).to(device)
    if world > 1 and device.type == "cuda":
        # BatchNorm's statistics over the global batch (all ranks), as one process at that batch computes them;
        # torch's SyncBatchNorm is GPU-only, so on the CPU (gloo) each rank normalises by its own clips' statistics
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if p.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)
    opt = torch.optim.SGD(model.parameters(), lr=p.learning_rate, momentum=p.momentum, weight_decay=p.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=p.plateau_patience)
    bs = p.per_device_train_batch_size  # per process: the global batch is bs x world
    ds = D.TrainClips(vs.cache, vs.train, p.train_subclips * p.T, p.size, p.seed)  # baseline: a T-window of it
    sampler = EpochSampler()
    dl = torch.utils.data.DataLoader(ds, batch_size=bs, sampler=sampler, num_workers=p.dataloader_num_workers,
                                     pin_memory=device.type == "cuda",
                                     persistent_workers=p.dataloader_num_workers > 0)
    curves = {"epoch": [], "train_loss": [], "val_loss": [], "val_acc": [], "lr": []}
    timing = {"data_wait_s": 0.0, "step_s": 0.0, "eval_s": 0.0}
    start = 0
    state = resume(ck, model=model, optimizer=opt, scheduler=sched)
    if state is not None:
        curves, timing, start = state["curves"], state["timing"], state["epoch"]
        g.set_state(state["loader_rng"])
        print(f"resumed {kind} from epoch {start}")
    if world > 1:  # dropout: each rank its own masks (the same seed on every rank would give clip j of every
        # rank's batch the same mask); crops and the baseline's window come from ``g``, the same on every rank
        torch.manual_seed(p.seed + 1_000_003 * (rank + 1) + start)
    forward = distributed.wrap(TrainForward(kind, model, p.T), device)
    step_forward = torch.compile(forward) if p.torch_compile else forward
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    bar = progress(range(start, p.num_train_epochs), desc=f"train {kind}", **({"disable": True} if rank else {}))
    for epoch in bar:
        model.train()
        sampler.items = epoch_items(len(ds), bs, g)
        losses = []
        t = time.perf_counter()
        for x, y in dl:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            x = to_memory_format(D.normalise(x, vs.mean, vs.std), p, device)
            window = int(torch.randint(0, x.shape[2] - p.T + 1, (), generator=g).item())  # baseline's window
            sync()
            t1 = time.perf_counter()
            timing["data_wait_s"] += t1 - t
            with autocast(device, p.precision):
                loss = train_loss(kind, step_forward, x, y, p.T, window)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            sync()
            t = time.perf_counter()
            timing["step_s"] += t - t1
        val_loss = val_acc = None  # epochs without validation keep a gap in the curves
        if (epoch + 1) % p.validate_every == 0 or epoch + 1 == p.num_train_epochs:
            t0 = time.perf_counter()
            probs, labels = predict(kind, model, vs, vs.val, p, device,
                                    how="stream" if kind == "causal" else p.baseline_eval)
            timing["eval_s"] += time.perf_counter() - t0
            val_loss = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-8, None)).mean())
            val_acc = 100 * topk_accuracy(probs, labels, 1)
            sched.step(val_loss)
        curves["epoch"].append(epoch + 1)
        curves["train_loss"].append(distributed.mean(float(torch.stack(losses).mean()), device))
        curves["val_loss"].append(val_loss)
        curves["val_acc"].append(val_acc)
        curves["lr"].append(opt.param_groups[0]["lr"])
        bar.set_postfix(loss=curves["train_loss"][-1], val_acc=val_acc)
        if rank == 0:  # one checkpoint (every rank holds the same model); the others wait until it is written
            ck.save(snapshot(model=model, optimizer=opt, scheduler=sched, epoch=epoch + 1, curves=curves,
                             timing=timing, loader_rng=g.get_state()), force=True)
        distributed.barrier()
        if stop_after is not None and epoch + 1 >= stop_after and epoch + 1 < p.num_train_epochs:
            return None
    if kind == "causal":
        probs, labels = predict(kind, model, vs, vs.test, p, device)
        out = evaluate(probs, labels, vs.split.classes)
    else:
        both, labels = predict(kind, model, vs, vs.test, p, device, how="both")
        out = evaluate(both[p.baseline_eval], labels, vs.split.classes)
        for h, pr in both.items():  # both protocols, whichever is the headline
            out["metrics"][f"top1_{h}"] = 100 * topk_accuracy(pr, labels, 1)
            out["metrics"][f"top5_{h}"] = 100 * topk_accuracy(pr, labels, 5)
        out["scoring"] = p.baseline_eval
    wait, step = timing["data_wait_s"], timing["step_s"]
    out["metrics"].update({"params": count_params(model), "final_val_acc": curves["val_acc"][-1],
                           "data_wait_fraction": wait / max(wait + step, 1e-9)})
    out.update({"curves": curves, "timing": timing, "classes": list(vs.split.classes),
                "sizes": {"train": len(vs.train), "val": len(vs.val), "test": len(vs.test)},
                "decode": vs.decode, "precision": resolve_precision(p.precision, device),
                "model": kind if kind == "causal" else p.baseline})
    return out
