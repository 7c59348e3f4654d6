"""A check of ``fit`` on N processes against one (issue 17), for a machine with several GPUs: train the causal model
under a profile with overrides and print rank 0's curves and test numbers as one JSON line. Run it once plainly with
``--per-rank B*N`` and once under ``torchrun --nproc_per_node N`` with ``--per-rank B``: the same global batch, so
the numbers should agree up to cuDNN's non-determinism (on GPUs BatchNorm is SyncBatchNorm under DDP)::

    python -m replicate.papers.causal_shufflenet.ddp_check --profile gpu --per-rank 16 -p num_train_epochs=2
    python -m torch.distributed.run --standalone --nproc_per_node 2 \
        -m replicate.papers.causal_shufflenet.ddp_check --profile gpu --per-rank 8 -p num_train_epochs=2
"""
from __future__ import annotations

import argparse
import json
import time

from replicate import distributed


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--kind", default="causal", choices=("causal", "baseline"))
    ap.add_argument("--per-rank", type=int, required=True, help="per_device_train_batch_size")
    ap.add_argument("-p", action="append", default=[], help="override NAME=VALUE (as replicate run -p)")
    a = ap.parse_args(argv)
    from replicate import chapters

    from . import data as D
    from .train import fit

    over = {"per_device_train_batch_size": a.per_rank, "cudnn_benchmark": False}
    for kv in a.p:
        k, v = kv.split("=", 1)
        try:
            over[k] = json.loads(v)  # numbers, true/false, lists
        except json.JSONDecodeError:
            over[k] = v
    p = chapters.get("causal_shufflenet").resolve(a.profile, over)
    t0 = time.perf_counter()
    out = fit(a.kind, p, D.prepare(p))
    if distributed.rank() == 0:
        print(json.dumps({"world": distributed.world_size(), "per_rank": a.per_rank, "kind": a.kind,
                          "profile": a.profile, "overrides": over, "seconds": time.perf_counter() - t0,
                          "train_loss": out["curves"]["train_loss"], "val_loss": out["curves"]["val_loss"],
                          "metrics": out["metrics"], "confusion": out["confusion"]}), flush=True)
    distributed.teardown()


if __name__ == "__main__":
    main()
