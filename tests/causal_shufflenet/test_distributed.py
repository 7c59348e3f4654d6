"""The chapter under torch.distributed (issue 17): ``run_train`` on 2 gloo processes (``REPLICATE_NPROC=2``, the
``distributed.entry`` route that ``replicate run causal_shufflenet --nproc 2`` takes) against one process at the
same global batch (2 x 2 clips against 1 x 4), the sharded evaluation against one process's, and the sharding of an
epoch's clips (the ranks' step s together is one process's step s, with the same crops).

Exact (to float rounding): the batches, the crops, the evaluation, and training itself with BatchNorm taken out of
the model (``fit`` under torchrun directly, the model's BatchNorm3d and Dropout layers replaced by identities:
dropout masks are drawn per rank). Not exact on the
CPU: training the real model, because torch's SyncBatchNorm is GPU-only, so under gloo each rank's BatchNorm
normalises by its own 2 clips' statistics where one process uses all 4 (on GPUs ``fit`` converts to SyncBatchNorm);
that end-to-end comparison has a stated tolerance of 5 %."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from replicate import paths
from replicate.papers.causal_shufflenet import train as T

TINY = dict(num_classes=2, videos_per_class=6, video_size=40, size=40, num_train_epochs=2,
            per_device_eval_batch_size=3, write_videos=False, device="cpu", validate_every=1, learning_rate=0.01)

CALL = """
import json
from replicate import chapters
from replicate.papers.causal_shufflenet import experiment as E
p = chapters.get("causal_shufflenet").resolve("smoke", {over!r})
r = E.run_train(p, "smoke", kind="causal")
print(json.dumps({{"loss": r["curves"]["train_loss"], "val_loss": r["curves"]["val_loss"],
                  "top1": r["metrics"]["top1"], "procs": r["meta"]["processes"], "sizes": r["sizes"]}}))
"""

EVAL = """
import json, sys
import torch
from replicate import chapters, distributed
from replicate.papers.causal_shufflenet import data as D, train as T
p = chapters.get("causal_shufflenet").resolve("smoke", {over!r})
device, rank, world = distributed.setup("cpu")
vs = D.prepare(p)
torch.manual_seed(0)
model = T.make_model("causal", p, len(vs.split.classes))
probs, labels = T.predict("causal", model, vs, vs.test, p, device)
if rank == 0:
    print(json.dumps({{"probs": probs.tolist(), "labels": labels.tolist(), "world": world}}))
distributed.teardown()
"""


FIT_NO_BN = """
import json
import torch
from replicate import chapters, distributed
from replicate.papers.causal_shufflenet import data as D, train as T
make = T.make_model


def make_without_bn(kind, p, n):
    m = make(kind, p, n)
    for mod in list(m.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, (torch.nn.BatchNorm3d, torch.nn.Dropout)):
                setattr(mod, name, torch.nn.Identity())
    return m


T.make_model = make_without_bn
p = chapters.get("causal_shufflenet").resolve("smoke", {over!r})
out = T.fit("causal", p, D.prepare(p))
if distributed.rank() == 0:
    print(json.dumps({{"loss": out["curves"]["train_loss"], "val_loss": out["curves"]["val_loss"],
                      "top1": out["metrics"]["top1"], "confusion": out["confusion"], "world": distributed.world_size()}}))
distributed.teardown()
"""


def _env(tmp_path, n):
    return {**os.environ, "REPLICATE_NPROC": str(n), "REPLICATE_RESULTS": str(tmp_path / f"results{n}"),
            "REPLICATE_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1", "REPLICATE_PROGRESS": "0",
            "PYTHONPATH": os.pathsep.join([str(paths.project_root()), os.environ.get("PYTHONPATH", "")])}


def _last_json(cmd, env):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=paths.project_root())
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-4000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_two_gloo_processes_train_like_one_at_the_same_global_batch(tmp_path):
    one = _last_json([sys.executable, "-c", CALL.format(over={**TINY, "per_device_train_batch_size": 4})],
                     _env(tmp_path, 1))
    two = _last_json([sys.executable, "-c", CALL.format(over={**TINY, "per_device_train_batch_size": 2})],
                     _env(tmp_path, 2))
    assert one["procs"] == 1 and two["procs"] == 2 and one["sizes"] == two["sizes"]
    assert len(two["loss"]) == len(one["loss"]) == 2
    # per-rank BatchNorm statistics (2 clips against 4) on the CPU: losses agree to 5 %, not bit for bit
    assert two["loss"] == pytest.approx(one["loss"], rel=0.05)
    assert two["val_loss"] == pytest.approx(one["val_loss"], rel=0.05)


def test_sharded_evaluation_gives_the_numbers_of_one_process(tmp_path):
    over = {**TINY, "per_device_train_batch_size": 2}
    script = tmp_path / "eval.py"
    script.write_text(EVAL.format(over=over))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    env = _env(tmp_path, 1)
    two = _last_json(cmd, env)
    one = _last_json([sys.executable, str(script)], env)
    assert two["world"] == 2 and one["world"] == 1 and two["labels"] == one["labels"]
    np.testing.assert_allclose(two["probs"], one["probs"], rtol=1e-5, atol=1e-6)


def test_without_batchnorm_and_dropout_two_gloo_processes_train_exactly_like_one(tmp_path):
    """DDP's gradient averaging, the sharded clips and crops, the baseline-free causal loss and the sharded
    validation that drives the schedule: with no BatchNorm (the one per-rank statistic) and no dropout (per-rank
    masks) 2 x 2 clips train as 1 x 4."""
    def script(per_rank):
        f = tmp_path / f"fit{per_rank}.py"
        f.write_text(FIT_NO_BN.format(over={**TINY, "videos_per_class": 12, "learning_rate": 0.1,
                                            "per_device_train_batch_size": per_rank}))
        return str(f)

    env = _env(tmp_path, 1)
    one = _last_json([sys.executable, script(4)], env)
    two = _last_json([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                      script(2)], env)
    assert one["world"] == 1 and two["world"] == 2
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert two["val_loss"] == pytest.approx(one["val_loss"], rel=1e-4)
    assert two["top1"] == one["top1"] and two["confusion"] == one["confusion"]


@pytest.mark.parametrize("n", [7, 16, 3])
def test_the_ranks_steps_together_are_one_process_steps_with_the_same_crops(n):
    one = T.epoch_items(n, 4, torch.Generator().manual_seed(1), 0, 1)
    ranks = [T.epoch_items(n, 2, torch.Generator().manual_seed(1), r, 2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1])  # every rank takes the same number of steps
    for s in range(max(1, len(one) // 4)):
        joint = sorted(ranks[0][2 * s:2 * s + 2] + ranks[1][2 * s:2 * s + 2])
        assert sorted(set(joint)) == sorted(set(one[4 * s:4 * s + 4]))  # (index, crop seed): same clips, crops
