"""An interrupted training run resumes from its checkpoint and ends exactly where an uninterrupted run ends."""
import pytest

from replicate import chapters
from replicate.papers.neural_mechanics import experiment


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    params = chapters.get("neural_mechanics").resolve("smoke", {"checkpoint_every": "10", "device": "cpu"})
    ds = experiment.load_data(params)
    kw = dict(eta=0.1, lam=1e-2, beta=0.9, batch_size=32, steps=40, record_every=5)
    ref = experiment.train(params, "bn", ds, **kw)

    ckpt = tmp_path / "run.pt"
    real_progress = experiment.progress

    def stop_at_25(it, **k):
        for i in real_progress(it, **k):
            if i == 25:
                raise Interrupt  # after the checkpoint of step 20
            yield i

    monkeypatch.setattr(experiment, "progress", stop_at_25)
    with pytest.raises(Interrupt):
        experiment.train(params, "bn", ds, checkpoint=ckpt, **kw)
    assert ckpt.is_file()
    monkeypatch.setattr(experiment, "progress", real_progress)
    out = experiment.train(params, "bn", ds, checkpoint=ckpt, **kw)
    assert not ckpt.exists(), "a finished run removes its checkpoint"
    assert out["loss"] == pytest.approx(ref["loss"], rel=1e-6)
    for name, g in ref["groups"].items():
        assert out["groups"][name]["rel_cont"] == pytest.approx(g["rel_cont"], rel=1e-5, abs=1e-12), name
        assert out["groups"][name]["rel_disc"] == pytest.approx(g["rel_disc"], rel=1e-5, abs=1e-12), name
