"""The chapter's scoreboard hook: Table 3 only from a fine-tuning run on the real XSum with t5-small and the report's
20-token cap, as fractions; generated-data runs (the committed gpu records included) measure nothing."""
import json

import pytest

from replicate import chapters, reported, scoreboard
from replicate.config import as_dict
from replicate.papers.t5_xsum import report
from replicate.papers.t5_xsum.scoreboard import TABLE3, measured
from replicate.results import committed_records

REP = reported.load("t5_xsum")
PARTS = ("precision", "recall", "fmeasure")


def _config(profile, **overrides):
    return as_dict(chapters.get("t5_xsum").resolve(profile, overrides))


def _rouge(shift=0.0):
    """Flat ROUGE in the record's layout: the reported fractions (+ shift), rougeLsum as rougeL."""
    out = {}
    for t in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        for p in PARTS:
            out[f"{t}/{p}"] = REP[f"table3/{'rougeL' if t == 'rougeLsum' else t}/{p}"]["value"] + shift
    return out


def _finetune(profile, config, capped, long=None, created="2026-01-01T00:00:00+00:00", key="k0"):
    return {"schema": 1, "chapter": "t5_xsum", "profile": profile, "experiment": "finetune", "key": key,
            "config": config, "metrics": {"capped": capped, "long": long or _rouge(0.05),
                                          "mean_gen_tokens": {"capped": 18.8, "long": 30.0}},
            "meta": {"created": created, "device": {"device": "cuda", "gpu": "NVIDIA H100 80GB HBM3"}}}


def test_table3_keys_are_the_reports_and_in_reported_yaml():
    assert TABLE3 == report.TABLE3
    assert set(TABLE3) <= set(REP)


def test_paper_run_maps_table3_from_the_capped_metrics_as_fractions():
    rec = _finetune("paper", _config("paper"), _rouge())
    got = measured([rec])
    assert set(got) == set(TABLE3)  # sec5.1 (the unspecified "longer run") is never mapped
    assert set(got) <= set(REP)
    for key, (value, src) in got.items():
        assert src is rec
        assert value == pytest.approx(REP[key]["value"])  # the capped numbers, not the 64-token ones
        assert 0.0 <= value <= 1.0  # fractions, as the report prints them (0.283, not 28.3)


def test_newest_paper_setting_run_wins():
    old = _finetune("paper", _config("paper"), _rouge(), created="2026-01-01T00:00:00+00:00", key="a")
    new = _finetune("paper", _config("paper"), _rouge(0.01), created="2026-02-01T00:00:00+00:00", key="b")
    got = measured([new, old])
    assert got["table3/rouge1/fmeasure"][1] is new
    assert got["table3/rouge1/fmeasure"][0] == pytest.approx(0.293)


@pytest.mark.parametrize("overrides", [
    {"data": "synthetic"},                      # generated data
    {"checkpoint": None},                       # a T5 built from a config, trained from scratch
    {"checkpoint": "t5-base"},                  # another model
    {"gen_max_new_tokens": 64},                 # not the report's 20-token cap
    {"num_beams": 4},                           # not greedy
])
def test_runs_outside_the_reports_setting_map_nothing(overrides):
    assert measured([_finetune("paper", _config("paper", **overrides), _rouge())]) == {}


def test_generated_profiles_and_other_experiments_map_nothing():
    for profile in ("smoke", "gpu"):
        assert measured([_finetune(profile, _config(profile), _rouge())]) == {}
    base = _finetune("paper", _config("paper"), _rouge())
    assert measured([{**base, "experiment": "baselines"}]) == {}
    committed = committed_records("t5_xsum", "gpu")
    assert committed, "the committed gpu records of t5_xsum are missing"
    assert measured(committed) == {}


def _write(root, rec, name):
    p = root / rec["chapter"] / rec["profile"] / f"{name}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(rec))


def _rows(root):
    df = scoreboard.table(roots=[root]).query("chapter == 't5_xsum'")
    what = {r["what"]: k for k, r in REP.items()}
    return {what[row["number"]]: row for _, row in df.iterrows()}


def test_scoreboard_verdicts(tmp_path):
    # a generated-data gpu run: nothing measured, every number "not run"
    _write(tmp_path, _finetune("gpu", _config("gpu"), _rouge(), key="g"), "finetune-gpu")
    rows = _rows(tmp_path)
    assert set(rows) == set(REP)
    assert {r["verdict"] for r in rows.values()} == {"not run"}
    # a paper run on XSum: judged; ROUGE-1 F1 off by 0.05 (tolerance 0.01) is not reproduced
    capped = _rouge()
    capped["rouge1/fmeasure"] += 0.05
    _write(tmp_path, _finetune("paper", _config("paper"), capped, key="p"), "finetune-paper")
    rows = _rows(tmp_path)
    for key in TABLE3:
        assert rows[key]["profile"] == "paper"
        assert rows[key]["ours"] == pytest.approx(capped[key.split("/", 1)[1]])
        want = "not reproduced" if key == "table3/rouge1/fmeasure" else "reproduced"
        assert rows[key]["verdict"] == want, key
    assert rows["sec5.1/rouge1/fmeasure_longer_run"]["verdict"] == "not run"
