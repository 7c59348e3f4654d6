"""Shared training support: device choice, precision, seeding, checkpoints that survive interruption."""
import random

import numpy as np
import pytest
import torch

from replicate import train
from replicate.config import UsageError


def test_device_and_precision_choices():
    assert train.pick_device("cpu").type == "cpu"
    assert train.pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="valid choices"):
        train.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA GPU"):
            train.pick_device("cuda")
    assert train.resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert train.resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(UsageError):
        train.resolve_precision("fp8", torch.device("cpu"))


def test_seed_and_rng_state_round_trip():
    train.seed_everything(3)
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    train.seed_everything(3)
    state = train.rng_state()
    b = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    assert a == b
    train.set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == b


def test_checkpointer_saves_every_n_and_loads(tmp_path):
    ck = train.Checkpointer(tmp_path / "sub" / "state.pt", every=5)
    assert ck.load() is None
    assert not ck.save({"step": 3}, step=3)
    assert ck.save({"step": 5, "w": torch.ones(2)}, step=5)
    got = ck.load()
    assert got["step"] == 5 and torch.equal(got["w"], torch.ones(2))
    assert ck.save({"step": 7}, step=7, force=True) and ck.load()["step"] == 7
    ck.clear()
    assert ck.load() is None
    assert not train.Checkpointer(None).save({"step": 1}, force=True)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ck = train.Checkpointer(tmp_path / "state.pt")
    ck.save({"step": 1}, force=True)

    def boom(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        ck.save({"step": 2}, force=True)
    monkeypatch.undo()
    assert ck.load()["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"], "no partial file is left behind"


def test_set_threads_follows_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("REPLICATE_THREADS", "1")
        train.set_threads()
        assert torch.get_num_threads() == 1
        train.set_threads(2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
