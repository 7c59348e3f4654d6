"""The chapter's scoreboard hook: accuracies only from the causal model trained on real UCF101, counts only from a
record made at the reference configuration (600-class baselines, 101-class causal model, 16x112x112)."""
import json

import pandas as pd
import pytest

from replicate import chapters, reported, scoreboard
from replicate.config import as_dict
from replicate.papers.causal_shufflenet import experiment, report
from replicate.papers.causal_shufflenet.scoreboard import measured
from replicate.results import ResultStore, config_key

REP = reported.load("causal_shufflenet")


def train_record(profile, kind="causal", top1=70.5, top5=90.9, created="2025-01-01T00:00:00+00:00", **overrides):
    p = chapters.get("causal_shufflenet").resolve(profile, overrides)
    cfg = json.loads(json.dumps(as_dict(p)))
    cfg["kind"] = kind
    return {"schema": 1, "chapter": "causal_shufflenet", "profile": profile, "experiment": f"train-{kind}",
            "key": config_key(f"train-{kind}", cfg), "config": cfg,
            "metrics": {"top1": top1, "top5": top5, "params": 611_837 if kind == "causal" else 305_753,
                        "final_val_acc": 60.0, "data_wait_fraction": 0.1},
            "model": kind if kind == "causal" else p.baseline, "curves": {"epoch": [1]},
            "meta": {"created": created, "device": {"device": "cuda", "gpu": "NVIDIA H100"}, "seed": 0}}


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_RESULTS", str(tmp_path))
    return tmp_path


def _write(root, rec):
    p = root / rec["chapter"] / rec["profile"] / f"{rec['experiment']}-{rec['key'][:12]}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(rec))


def test_causal_run_on_ucf101_maps_top1_top5_in_percent():
    causal, base = train_record("paper"), train_record("paper", "baseline", top1=64.0, top5=88.0)
    out = measured([base, causal])
    assert set(out) == {"top1", "top5", "acc/causal"} and set(out) <= set(REP)
    assert out["top1"] == (70.5, causal) and out["top5"] == (90.9, causal) and out["acc/causal"] == (70.5, causal)
    assert REP["top1"]["unit"] == "%" and abs(out["top1"][0] - REP["top1"]["value"]) < REP["top1"]["tolerance"]
    newer = train_record("paper", top1=50.0, created="2025-02-01T00:00:00+00:00", seed=1)
    assert measured([causal, newer])["top1"] == (50.0, newer)


def test_generated_videos_and_the_baseline_measure_no_accuracy():
    assert measured([train_record("smoke"), train_record("gpu"), train_record("paper", dataset="generated",
                                                                               num_classes=10)]) == {}
    assert measured([train_record("paper", "baseline")]) == {}  # its accuracy is not the paper's top-1


def test_counts_record_is_made_at_the_reference_configuration_and_maps_from_any_profile(results):
    rec = experiment.counts("smoke")
    assert rec["experiment"] == "counts" and rec["config"] == report.COUNTS_CONFIG
    assert rec["config"]["baseline_classes"] == 600 and rec["config"]["shape"] == [1, 3, 16, 112, 112]
    assert experiment.counts("smoke") == rec  # re-used, not recomputed
    assert list(ResultStore("causal_shufflenet", "smoke").dir.glob("counts-*.json"))
    out = measured([rec, train_record("smoke")])
    want = {k for k in REP if k.startswith(("params/", "mflops/"))}
    assert set(out) == want and all(r is rec for _, r in out.values())
    # parameters in millions (the paper's unit), the causal model in the authors' configuration with 101 classes
    assert out["params/shufflenet_0.5x"][0] == pytest.approx(0.545772)
    assert out["params/mobilenet_1.0x"][0] == pytest.approx(3.912984)
    assert out["params/causal"][0] == pytest.approx(0.613661)
    for k in want:
        assert REP[k]["unit"] in ("M", "MFLOPs") and 0.1 < out[k][0] / REP[k]["value"] < 10
    # a count made at any other configuration (fewer classes, smaller frames) maps nothing
    small = {**rec, "config": {**rec["config"], "baseline_classes": 6, "shape": [1, 3, 16, 40, 40]}}
    assert measured([small]) == {}


def test_scoreboard_judges_paper_runs_and_shows_others_as_not_run(results):
    counts = experiment.counts("smoke")  # counted under smoke only: shown, not judged
    for rec in (train_record("paper", top1=70.5, top5=80.0), train_record("paper", "baseline"),
                train_record("gpu", top1=95.0, top5=99.0)):
        _write(results, rec)
    df = scoreboard.table(roots=[results]).query("chapter == 'causal_shufflenet'")
    df = df.set_index(df["number"])
    what = lambda key: REP[key]["what"]  # noqa: E731
    assert df.loc[what("top1"), "verdict"] == "reproduced" and df.loc[what("top1"), "ours"] == 70.5
    assert df.loc[what("top5"), "verdict"] == "not reproduced" and df.loc[what("top5"), "profile"] == "paper"
    assert df.loc[what("acc/causal"), "verdict"] == "shown"  # no tolerance given
    assert df.loc[what("params/causal"), "verdict"] == "not run (closest: smoke, not comparable)"
    assert df.loc[what("params/causal"), "ours"] == pytest.approx(counts["metrics"]["params/causal"])
    for key in ("acc/shufflenet_0.5x", "acc/resnet50"):
        assert df.loc[what(key), "verdict"] == "not run" and pd.isna(df.loc[what(key), "ours"])
    # the same counts under the paper profile are judged: parameters match, our multiply-adds do not
    experiment.counts("paper")
    df = scoreboard.table(roots=[results]).query("chapter == 'causal_shufflenet'")
    df = df.set_index(df["number"])
    for key in ("params/causal", "params/shufflenet_0.5x", "params/shufflenet_1.0x", "params/mobilenet_1.0x"):
        assert df.loc[what(key), "verdict"] == "reproduced" and df.loc[what(key), "profile"] == "paper"
    assert df.loc[what("mflops/shufflenet_0.5x"), "verdict"] == "not reproduced"  # 72 vs 42 (see the chapter)


def test_only_gpu_records_leave_the_accuracies_not_run(tmp_path):
    _write(tmp_path, train_record("gpu"))
    df = scoreboard.table(roots=[tmp_path]).query("chapter == 'causal_shufflenet'")
    assert set(df["verdict"]) == {"not run"}
