"""The chapter's entry points: one training run of one variant and one seed is one record
(``run_train``); ``run_all`` makes every (variant, seed) of a profile. Tables and figures are in ``report``.

A record is made by ``replicate.results.record``: its key holds the full parameters of the run (with ``variants``,
``seeds`` and ``seed`` narrowed to the one variant and seed it trained: the parameters that computation used), the
variant, the world size and the chapter's code fingerprint. Checkpoints live in the data cache
(``replicate.paths.checkpoint_path``) and are removed once the record is stored.

For torchrun (or plain python)::

    torchrun --nproc_per_node 4 -m replicate.papers.gudn.experiment --profile paper --variant gudn
"""
from __future__ import annotations

import argparse
import os
from dataclasses import replace

from replicate import distributed, paths
from replicate.results import config_key, record
from replicate.train import Checkpointer, set_threads

from . import data as gdata
from .train import fit

CHAPTER = "gudn"
_cache: dict = {}


def prepare(params):
    """(data, tokenizer) for a profile, made once per process."""
    key = (params.dataset_name, params.data_dir, params.model_name_or_path, params.vocab_size,
           params.max_train_samples, params.max_eval_samples, *gdata.generated_key(params).values())
    if key not in _cache:
        set_threads()
        data = gdata.load(params)
        _cache[key] = (data, gdata.tokenizer_for(params, data))
    return _cache[key]


def run_params(params, variant: str, seed: int):
    """The parameters one training run uses: the profile's, narrowed to one variant and one seed."""
    return replace(params, variants=(variant,), seeds=(seed,), seed=seed)


@distributed.entry(CHAPTER)
def run_train(params, profile: str, variant: str = "gudn", seed: int | None = None) -> dict:
    """Train and evaluate one variant with one seed (default: ``params.seed``), or re-use its record. With
    REPLICATE_NPROC=N (``replicate run --nproc N``) it runs on N processes under torchrun.

    The world size is part of the key (``extra``): the batch is per process, so N processes train with a global
    batch N times larger, another experiment."""
    log = print
    p = run_params(params, variant, params.seed if seed is None else seed)
    distributed.setup(p.device)  # joins the process group first, so that record() takes one branch on every rank
    # the processes this record is made with: torchrun's WORLD_SIZE in a worker, else the REPLICATE_NPROC that
    # distributed.entry launched them with (the kernel's own call then finds rank 0's record by this key)
    world = int(os.environ.get("WORLD_SIZE") or distributed.nproc())
    extra = {"variant": variant, "world_size": world}

    def compute() -> dict:
        data, tok = prepare(p)
        name = config_key(f"train-{variant}", {"params": p, "extra": extra})[:16]
        ck = Checkpointer(paths.checkpoint_path(CHAPTER, profile, f"train-{variant}-{name}"))
        result = fit(p, data, tok, variant, ck, log=log)
        ck.clear()
        result["data"] = {"name": data.name, "train": len(data.train), "test": len(data.test),
                          "labels": data.n_labels, **({"build": data.build} if data.build else {})}
        if p.model_name_or_path:  # where the pretrained weights came from (a staged copy says how it was made)
            result["model"] = gdata.model_source(p.model_name_or_path)
        return result

    rec = record(CHAPTER, profile, f"train-{variant}", p, compute, extra=extra, seed=p.seed)
    return rec


def run_all(params, profile: str, variants=None, seeds=None) -> dict[str, list[dict]]:
    """Every variant x seed of the profile: {variant: [record per seed]}. Seed by seed (every variant of the first
    seed, then of the next), so a run cut off by a time limit leaves complete sets of variants to compare; a
    second call re-uses the records made and goes on."""
    out: dict[str, list[dict]] = {v: [] for v in variants or params.variants}
    for s in seeds or params.seeds:
        for v in out:
            out[v].append(run_train(params, profile, variant=v, seed=s))
    return out


def main(argv=None) -> int:
    """Entry point for torchrun (or plain python): train the variants x seeds of a profile; rank 0 stores."""
    from replicate import chapters
    from replicate.config import parse_overrides

    ap = argparse.ArgumentParser(prog="python -m replicate.papers.gudn.experiment")
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--variant", action="append", help="a variant (repeatable); default: the profile's list")
    ap.add_argument("-p", "--param", action="append", metavar="KEY=VALUE")
    ap.add_argument("--force", action="store_true", help="recompute records that exist (REPLICATE_FORCE=1)")
    a = ap.parse_args(argv)
    if a.force:
        os.environ["REPLICATE_FORCE"] = "1"
    params = chapters.get(CHAPTER).resolve(a.profile, parse_overrides(a.param))
    if a.variant:
        params = replace(params, variants=tuple(a.variant))
        params.validate()
    try:
        run_all(params, a.profile)
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
