"""The shared distributed engine: an ``@distributed.entry`` experiment run from a kernel-like process with
REPLICATE_NPROC=2 trains on 2 gloo processes under torchrun, rank 0 stores the record, the caller gets it back;
the same global batch on 1 and 2 processes gives the same weights; the record says how many processes made it."""
import os
import subprocess
import sys

import numpy as np

from replicate import distributed, paths

CALL = ("import json; from replicate import chapters; from tests.dist_toy import run_toy; "
        "p = chapters.get('neural_mechanics').resolve('smoke'); r = run_toy(p, 'smoke'); "
        "print(json.dumps({'w': r['metrics']['weight'], 'world': r['metrics']['world'], "
        "'procs': r['meta']['processes'], 'key': r['key']}))")


def _call(tmp_path, n):
    env = {**os.environ, "REPLICATE_NPROC": str(n), "REPLICATE_RESULTS": str(tmp_path / f"results{n}"),
           "PYTHONPATH": os.pathsep.join([str(paths.project_root()), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", CALL], env=env, capture_output=True, text=True, timeout=300,
                       cwd=paths.project_root())
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    return json.loads(r.stdout.strip().splitlines()[-1])


def test_two_gloo_processes_match_one(tmp_path):
    one, two = _call(tmp_path, 1), _call(tmp_path, 2)
    assert one["world"] == 1 and one["procs"] == 1
    assert two["world"] == 2 and two["procs"] == 2
    assert one["key"] == two["key"], "the number of processes is not part of the key"
    np.testing.assert_allclose(two["w"], one["w"], rtol=1e-5, atol=1e-6)


def test_shard_gives_every_rank_the_same_number_of_steps():
    parts = [distributed.shard(np.arange(10), r, 4) for r in range(4)]
    assert {len(p) for p in parts} == {3}
    assert set(np.concatenate(parts).tolist()) == set(range(10))


def test_nproc_must_be_positive(monkeypatch):
    import pytest

    from replicate.config import UsageError

    monkeypatch.setenv("REPLICATE_NPROC", "0")
    with pytest.raises(UsageError):
        distributed.nproc()
