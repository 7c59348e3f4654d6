import pytest

from replicate import chapters
from replicate.config import UsageError


def test_profiles_resolve():
    ch = chapters.get("neural_mechanics")
    assert set(ch.profiles) >= {"smoke", "gpu", "paper"}
    for name in ch.profiles:
        p = ch.resolve(name)
        assert p.seed >= 0 and p.device == "auto"
    p = ch.resolve("smoke", {"lambdas": "0.1,0.2", "steps": "10"})
    assert p.lambdas == (0.1, 0.2) and p.steps == 10
    assert ch.resolve("paper").dataset == "tiny-imagenet" and ch.resolve("paper").lambdas == (1e-4, 5e-4, 1e-3)
    assert ch.resolve("paper").betas == (0.8, 0.9, 0.99) and ch.resolve("paper").momentum_batch_size == 128


@pytest.mark.parametrize("bad", [{"dataset": "cifar"}, {"betas": "1.5"}, {"eta": "-1"}, {"nope": 1},
                                 {"steps": "many"}])
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
