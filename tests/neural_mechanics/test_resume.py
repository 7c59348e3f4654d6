"""An interrupted training run resumes from its checkpoint and ends exactly where an uninterrupted run ends: in
process (an exception mid-way) and as a process SIGKILLed mid-way (tests/resume.py), the latter through the
chapter's `resume_check` record, the same entry point the GPU record is made with."""
import pytest

from replicate import chapters, paths
from replicate.papers.neural_mechanics import experiment
from replicate.papers.neural_mechanics import train as nmtrain
from tests.resume import kill_and_resume


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    params = chapters.get("neural_mechanics").resolve("smoke", {"checkpoint_every": "10", "device": "cpu"})
    ds = experiment.load_data(params)
    kw = dict(eta=0.1, lam=1e-2, beta=0.9, batch_size=32, steps=40, record_every=5)
    ref = nmtrain.train(params, "bn", ds, **kw)

    ckpt = tmp_path / "run.pt"
    real_progress = nmtrain.progress

    def stop_at_25(it, **k):
        for i in real_progress(it, **k):
            if i == 25:
                raise Interrupt  # after the checkpoint of step 20
            yield i

    monkeypatch.setattr(nmtrain, "progress", stop_at_25)
    with pytest.raises(Interrupt):
        nmtrain.train(params, "bn", ds, checkpoint=ckpt, **kw)
    assert ckpt.is_file()
    monkeypatch.setattr(nmtrain, "progress", real_progress)
    out = nmtrain.train(params, "bn", ds, checkpoint=ckpt, **kw)
    assert not ckpt.exists(), "a finished run removes its checkpoint"
    assert out["steps_run"] == 20
    assert out["loss"] == ref["loss"]
    for name, g in ref["groups"].items():
        assert out["groups"][name]["rel_cont"] == g["rel_cont"], name
        assert out["groups"][name]["rel_disc"] == g["rel_disc"], name
        assert (out["groups"][name]["emp"] == g["emp"]).all(), name


def test_checkpoints_live_in_the_data_cache():
    params = chapters.get("neural_mechanics").resolve("smoke", {"checkpoint_every": "10"})
    p = experiment._checkpoint("smoke", "sgd", params, {"net": "bn"})
    assert paths.data_dir() in p.parents and paths.results_dir() not in p.parents
    assert p != experiment._checkpoint("smoke", "sgd", params, {"net": "plain"})


def test_sigkill_mid_way_and_resume_gives_the_uninterrupted_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_RESULTS", str(tmp_path / "results"))
    overrides = {"device": "cpu", "max_steps": 120, "checkpoint_every": 20, "record_every": 10}
    params = chapters.get("neural_mechanics").resolve("smoke", overrides)
    rec = experiment.run_resume_check(params, "smoke", kill_and_resume, tmp_path / "work", overrides, control=False)
    m = rec["metrics"]
    assert 0 < m["resumed_steps_run"] < 120, "the resumed run continued from a checkpoint, not from the start"
    assert m["resumed_vs_straight"]["lengths_match"] and m["resumed_vs_straight"]["compared_values"] > 30
    assert m["resumed_vs_straight"]["identical"] and m["resumed_vs_straight"]["max_abs_diff"] == 0.0
    assert "straight_vs_straight" not in m
    from replicate.papers.neural_mechanics import report
    assert len(report.resume_table(rec)) == 1
    assert (tmp_path / "results" / "neural_mechanics" / "smoke").glob("resume_check-*.json")
