"""The chapter's scoreboard hook: Table 3 only from a fine-tuning run on the real XSum with t5-small and the report's
20-token cap, as fractions; generated-data runs (the committed gpu records included) measure nothing; Narayan et
al.'s baselines from an xsum_baselines record (real XSum test documents); the claims judged from records."""
import json

import pytest

from replicate import chapters, reported, scoreboard
from replicate.config import as_dict
from replicate.papers.t5_xsum import report
from replicate.papers.t5_xsum.scoreboard import TABLE3, claims, measured
from replicate.results import committed_records

REP = reported.load("t5_xsum")
PARTS = ("precision", "recall", "fmeasure")


def _config(profile, **overrides):
    return {"params": as_dict(chapters.get("t5_xsum").resolve(profile, overrides))}


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
    # sec5.1 (the unspecified "longer run") is never mapped
    assert set(got) == set(TABLE3) | {"public_run/mean_gen_tokens"}
    assert got.pop("public_run/mean_gen_tokens")[0] == 18.8
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
    {"dataset_name": "synthetic"},              # generated data
    {"dataset_name": "debian"},                 # real summaries, but not XSum
    {"model_name_or_path": None},               # a T5 built from a config, trained from scratch
    {"model_name_or_path": "t5-base"},          # another model
    {"max_new_tokens": 64},                     # not the report's 20-token cap
    {"num_beams": 4},                           # not greedy
])
def test_runs_outside_the_reports_setting_map_nothing(overrides):
    assert measured([_finetune("paper", _config("paper", **overrides), _rouge())]) == {}


def test_generated_profiles_and_other_experiments_map_nothing():
    for profile in ("smoke", "gpu", "real"):
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


def _systems(**f1):
    return {name: {f"{t}/fmeasure": v for t in ("rouge1", "rouge2", "rougeL")} for name, v in f1.items()}


def _rec(experiment, profile, metrics, created="2026-01-01T00:00:00+00:00", **more):
    return {"chapter": "t5_xsum", "profile": profile, "experiment": experiment, "key": experiment + created,
            "config": _config(profile), "metrics": metrics, "meta": {"created": created, "device": {"device": "cpu"}},
            **more}


def test_narayan_baselines_map_from_the_xsum_sample_record_of_any_profile():
    xb = _rec("xsum_baselines", "real", _systems(**{"Lead-1": 0.165, "Random-1": 0.16, "Oracle sentence": 0.30,
                                                     "Lead-3": 0.2}), documents=1000)
    got = measured([xb])
    assert set(got) == {f"narayan2018/{s}/{t}" for s in ("lead", "random", "oracle") for t in ("rouge1", "rouge2", "rougeL")}
    assert got["narayan2018/lead/rouge1"] == (0.165, xb) and got["narayan2018/oracle/rougeL"][0] == 0.30
    assert set(got) <= set(REP)


def test_claims_judged_from_records():
    base = _rec("baselines", "real", {**_systems(**{"Lead-3": 0.20, "Random-3": 0.19, "fine-tuned": 0.25}),
                                      "random init, untrained": _systems(x=0.0)["x"]}, test_documents=100)
    xb = _rec("xsum_baselines", "real", _systems(**{"Lead-1": 0.165, "Random-1": 0.16, "Oracle sentence": 0.30}),
              documents=1000)
    got = claims([base, xb])
    assert got["beats_lead3"][0] == "supported" and got["beats_random3"][0] == "supported"
    assert got["beats_not_finetuned"][0] == "cannot speak"  # random init: not the claim's pre-trained T5
    assert got["xsum_lead_near_random"][0] == "supported" and got["xsum_oracle_far_above_lead"][0] == "supported"
    worse = _rec("baselines", "real", _systems(**{"Lead-3": 0.30, "Random-3": 0.29, "fine-tuned": 0.25}),
                 created="2026-02-01T00:00:00+00:00", test_documents=100)
    assert claims([base, worse])["beats_lead3"][0] == "contradicted"  # the newest record judges
    far = _rec("xsum_baselines", "real", _systems(**{"Lead-1": 0.25, "Random-1": 0.15, "Oracle sentence": 0.30}),
               documents=1000)
    got = claims([far])
    assert got["xsum_lead_near_random"][0] == "contradicted" and got["xsum_oracle_far_above_lead"][0] == "contradicted"
    assert set(claims([])) == set(yaml_claims())


def yaml_claims():
    import yaml

    from replicate import paths

    text = (paths.project_root() / "src/replicate/papers/t5_xsum/reported.yaml").read_text()
    return yaml.safe_load(text)["claims"]
