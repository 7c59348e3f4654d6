import pytest
import torch

from replicate import chapters
from replicate.config import UsageError


def test_profiles_resolve():
    ch = chapters.get("neural_mechanics")
    assert set(ch.profiles) >= {"smoke", "gpu", "paper"}
    for name in ch.profiles:
        p = ch.resolve(name)
        assert p.seed >= 0 and p.device == "auto"
    p = ch.resolve("smoke", {"weight_decays": "0.1,0.2", "max_steps": "10"})
    assert p.weight_decays == (0.1, 0.2) and p.max_steps == 10
    paper = ch.resolve("paper")
    # the talk's sweep, lambda = 0 included (reference-facts.md)
    assert paper.dataset_name == "tiny-imagenet" and paper.weight_decays == (0.0, 1e-4, 5e-4, 1e-3)
    assert paper.momenta == (0.8, 0.9, 0.99) and paper.momentum_batch_size == 128
    assert not paper.allow_tf32 and paper.precision == "fp32"


@pytest.mark.parametrize("bad", [{"dataset_name": "cifar"}, {"momenta": "1.5"}, {"learning_rate": "-1"},
                                 {"nope": 1}, {"max_steps": "many"}, {"weight_decays": "-0.1"}])
def test_bad_parameters_raise_usage_error(bad):
    with pytest.raises(UsageError):
        chapters.get("neural_mechanics").resolve("smoke", bad)


def test_bench_quick_runs():
    from replicate.bench import measure
    from replicate.papers.neural_mechanics import bench

    b = bench.routes(quick=True)
    assert b.reference == "plain" and set(b.routes) == {"plain", "tracked"}
    r = measure(b)
    assert r["throughput"]["plain"] > 0 and r["throughput"]["tracked"] > 0
    # both routes train the same net from the same start on the same batch: identical trajectories
    assert r["check"]["plain_loss"] == pytest.approx(r["check"]["tracked_loss"], rel=1e-5)


def test_preflight_names_the_missing_data_and_generated_data_needs_none(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "empty"))
    ch = chapters.get("neural_mechanics")
    missing = ch.missing(ch.resolve("paper"))
    assert len(missing) == 1 and "Tiny ImageNet" in missing[0] and "replicate data fetch tiny-imagenet" in missing[0]
    assert "Fashion-MNIST" in ch.missing(ch.resolve("gpu"))[0]
    assert ch.missing(ch.resolve("paper", {"dataset_name": "tiny-imagenet-shaped"})) == []
    assert ch.missing(ch.resolve("smoke")) == []


def test_tiny_imagenet_shaped_has_the_shapes():
    from replicate.papers.neural_mechanics import data

    d = data.tiny_imagenet_shaped(64, seed=1)
    assert d.X.shape == (64, 3, 64, 64) and d.num_classes == 200 and int(d.y.max()) < 200
    assert data.shape_of(d) == ((3, 64, 64), 200)
    assert torch.equal(d.X, data.tiny_imagenet_shaped(64, seed=1).X)


def test_paper_slice_times_the_routes_and_projects_the_sweep(tmp_path, monkeypatch):
    """The slice's machinery on a CPU-sized stand-in: every route timed, tracked laws checked, projection =
    runs x steps / rate."""
    from replicate.papers.neural_mechanics import experiment, report

    monkeypatch.setenv("REPLICATE_RESULTS", str(tmp_path))
    params = chapters.get("neural_mechanics").resolve("smoke", {"device": "cpu", "max_steps": "1000"})
    rec = experiment.run_paper_slice(params, "smoke", steps=6, warmup=2)
    m = rec["metrics"]
    assert set(rec["runs"]) == {"bn_tracked", "bn_untracked", "plain_tracked", "bn_momentum_tracked"}
    assert all(m[f"{k}/steps_per_s"] > 0 for k in rec["runs"])
    assert m["paper_slice_steps_per_s"] == m["bn_tracked/steps_per_s"]
    wd = (m["bn_tracked/steps_per_s"] + m["plain_tracked/steps_per_s"]) / 2
    n_wd = 2 * len(params.weight_decays)
    n_mom = 2 * len(params.momenta)
    want = (n_wd * 1000 / wd + n_mom * 1000 / m["bn_momentum_tracked/steps_per_s"]) / 3600
    assert m["sgd_runs"] == n_wd + n_mom and m["projected_sgd_hours"] == pytest.approx(want)
    assert len(report.slice_table(rec)) == 4 and len(report.slice_projection(rec)) == 1
