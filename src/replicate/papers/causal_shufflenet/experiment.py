"""The chapter's entry points, one record each, made by ``replicate.results.record`` (key: the experiment, the full
parameters, ``extra`` and the chapter's code fingerprint):

* ``run_train(params, profile, kind)``: train and test the causal model or the baseline (``train-causal`` /
  ``train-baseline``); ``run_all`` both. Checkpoints live in the data cache and are removed once the record is
  stored.
* ``run_counts(params, profile)``: Table 2's parameters, multiply-adds and FLOPs under the Efficient-3DCNNs counter
  (both its 2019 and its corrected 2021 version) at the reference configuration ``report.COUNTS_CONFIG``.
* ``run_streaming(params, profile)``: causality, memory against the stream's length, per-subclip latency.
* ``run_resume(params, profile)``: an interrupted training run resumed on this device ends as a straight one.

``run_train`` is marked ``distributed.entry``: with ``replicate run causal_shufflenet --nproc N`` it trains on N
processes under torchrun (DDP; ``per_device_train_batch_size`` clips per process, so the global batch is N times
it; the frame cache decoded in N shares; evaluation sharded and summed; rank 0 writes checkpoints and the record;
on GPUs BatchNorm is SyncBatchNorm, statistics over the global batch). The other entry points run on one process.
"""
from __future__ import annotations

from replicate import distributed, paths
from replicate.results import config_key, record
from replicate.train import Checkpointer

from . import data as D
from .train import KINDS, fit

CHAPTER = "causal_shufflenet"

__all__ = ["KINDS", "run_train", "run_all", "run_counts", "run_streaming", "run_resume"]


@distributed.entry(CHAPTER)
def run_train(params, profile: str, kind: str = "causal") -> dict:
    """The record of training ``kind`` ('causal' or 'baseline') under ``params`` (re-used when its key exists).
    An interrupted run resumes from its checkpoint (``replicate.paths.checkpoint_path``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    extra = {"kind": kind}

    def compute() -> dict:
        name = config_key(f"train-{kind}", {"params": params, "extra": extra})[:16]
        ck = Checkpointer(paths.checkpoint_path(CHAPTER, profile, f"train-{kind}-{name}"))
        out = fit(kind, params, D.prepare(params), ck)
        if distributed.rank() == 0:
            ck.clear()
        return out

    return record(CHAPTER, profile, f"train-{kind}", params, compute, extra=extra, seed=params.seed)


def run_all(params, profile: str) -> dict[str, dict]:
    """{kind: record} for the causal model and the baseline."""
    return {k: run_train(params, profile, kind=k) for k in KINDS}


def run_counts(params, profile: str) -> dict:
    """Table 2's counts at the reference configuration (``report.COUNTS_CONFIG``: 600-class baselines as the
    Efficient-3DCNNs table, the 101-class causal model, one 16x112x112 clip), whatever the profile's model size
    (built on the meta device at full size: nothing is computed); plus every model at 101 classes (like for like)."""
    from .report import COUNTS_CONFIG, reference_counts

    return record(CHAPTER, profile, "counts", params, lambda: {"metrics": reference_counts(COUNTS_CONFIG)},
                  extra=COUNTS_CONFIG)


def run_streaming(params, profile: str) -> dict:
    """The streaming record: causality gaps, memory against video lengths ``params.stream_lengths`` (subclips),
    per-subclip latency at batch 1 (eager, and replayed as one CUDA graph on a GPU). On a GPU the model is the
    paper's size at 112x112; on the CPU the profile's model and crop size."""
    from .streaming import measure

    return record(CHAPTER, profile, "streaming", params, lambda: measure(params), seed=params.seed)


def resume_params(params):
    """The small run the resume check trains: the profile's model and data, at most 12 videos per class, 3
    epochs, validated every epoch, cuDNN's autotuner off (so that both runs pick the same kernels)."""
    from dataclasses import replace

    return replace(params, videos_per_class=min(params.videos_per_class, 12), num_train_epochs=3, validate_every=1,
                   cudnn_benchmark=False, torch_compile=False)


def run_resume(params, profile: str) -> dict:
    """The resume check on this device: train the baseline straight through; train it again, stopped after its
    first epoch (the checkpoint left as an interruption leaves it); resume that run from the checkpoint in a fresh
    model and optimiser (``replicate.train.resume``: load to the CPU, restore the CPU and CUDA RNG states); record
    both runs' curves and final numbers and their largest difference. (The SIGKILL version is a test on the CPU.)"""
    from .train import fit

    p = resume_params(params)

    def compute() -> dict:
        vs = D.prepare(p)
        straight = fit("baseline", p, vs, None)
        ck = Checkpointer(paths.checkpoint_path(CHAPTER, profile, "resume-check"))
        ck.clear()
        if fit("baseline", p, vs, ck, stop_after=1) is not None:
            raise RuntimeError("the interrupted run did not stop after its first epoch")
        resumed = fit("baseline", p, vs, ck)
        ck.clear()
        diff = max(abs(a - b) for a, b in zip(straight["curves"]["train_loss"], resumed["curves"]["train_loss"]))
        return {"metrics": {"max_train_loss_diff": diff, "top1_straight": straight["metrics"]["top1"],
                            "top1_resumed": resumed["metrics"]["top1"],
                            "same_confusion": straight["confusion"] == resumed["confusion"]},
                "curves": {"straight": straight["curves"], "resumed": resumed["curves"]}}

    return record(CHAPTER, profile, "resume", p, compute, seed=p.seed)
