import json
import os

import pytest

from replicate.results import RecordExists, ResultStore, config_key


def test_record_holds_provenance_and_is_reused(tmp_path):
    store = ResultStore("toy", "smoke", root=tmp_path)
    calls = []

    def fn():
        calls.append(1)
        return {"metrics": {"acc": 0.5}, "curves": {"loss": [3.0, 2.0, 1.0]}}

    cfg = {"lr": 0.1, "wds": (0.0, 1e-4)}
    rec = store.run("exp", cfg, fn, seed=7)
    assert calls == [1]
    assert rec["metrics"] == {"acc": 0.5} and rec["profile"] == "smoke" and rec["config"]["wds"] == [0.0, 1e-4]
    meta = rec["meta"]
    for k in ("git_commit", "device", "versions", "seed", "wall_time_s", "created"):
        assert k in meta
    assert meta["seed"] == 7 and "torch" in meta["versions"]
    again = store.run("exp", cfg, fn)
    assert calls == [1] and again["key"] == rec["key"]
    store.run("exp", {**cfg, "lr": 0.2}, fn)  # another config: computed
    assert calls == [1, 1]
    store.run("exp", cfg, fn, force=True)  # forced: computed again
    assert calls == [1, 1, 1]
    assert len(store.records("exp")) == 2


def test_no_silent_overwrite(tmp_path):
    store = ResultStore("toy", "smoke", root=tmp_path)
    store.put("exp", {"a": 1}, {"metrics": {"x": 1}})
    with pytest.raises(RecordExists):
        store.put("exp", {"a": 1}, {"metrics": {"x": 2}})
    p = store.path_for("exp", {"a": 1})
    assert json.loads(p.read_text())["metrics"] == {"x": 1}


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    store = ResultStore("toy", "smoke", root=tmp_path)

    class Boom:
        def tolist(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.put("exp", {"a": 1}, {"metrics": {"x": Boom()}})
    assert not store.path_for("exp", {"a": 1}).exists()
    assert not store.dir.exists() or os.listdir(store.dir) == []


def test_key_depends_on_experiment_and_config_only():
    assert config_key("e", {"a": 1, "b": 2}) == config_key("e", {"b": 2, "a": 1})
    assert config_key("e", {"a": 1}) != config_key("f", {"a": 1})
    assert config_key("e", {"a": 1}) != config_key("e", {"a": 2})


def test_tests_use_a_fresh_results_dir():
    from replicate import paths

    assert "replicate-test-" in str(paths.results_dir())
