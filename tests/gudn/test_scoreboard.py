"""The chapter's scoreboard hook: only training runs on the paper's data sets map, in percent (P@k) and points (gains)."""
import json
from dataclasses import replace

import pandas as pd
import pytest

from replicate import chapters, reported, scoreboard
from replicate.config import as_dict
from replicate.papers.gudn.scoreboard import claims, measured
from replicate.results import config_key

REP = reported.load("gudn")
KS = (1, 3, 5)
# P@1, P@3, P@5 in percent, as metrics.py stores them; gudn is near the paper's Eurlex-4K row (88.13/77.06/65.49)
P = {"bert": (86.5, 75.0, 63.0), "gud_f": (87.9, 76.6, 65.1), "gud_l": (87.2, 75.1, 63.9),
     "gudn": (88.0, 76.8, 65.2), "gudn_onehot": (86.6, 75.4, 63.1)}


def record(profile, variant, metrics=None, created="2025-01-01T00:00:00+00:00", seed=0, curves=None, **overrides):
    """A record as experiment.run_train stores it (the parameters narrowed to one variant and seed)."""
    params = chapters.get("gudn").resolve(profile, overrides)
    p = replace(params, variants=(variant,), seeds=(seed,), seed=seed)
    cfg = {"params": as_dict(p), "extra": {"variant": variant, "world_size": 1}}
    m = metrics if metrics is not None else {f"P@{k}": v for k, v in zip(KS, P[variant])}
    return {"schema": 2, "chapter": "gudn", "profile": profile, "experiment": f"train-{variant}",
            "key": config_key(f"train-{variant}", cfg), "config": json.loads(json.dumps(cfg)),
            "metrics": {**m, "nDCG@1": 1.0}, "curves": curves or {"epoch": [1]},
            "meta": {"created": created, "device": {"device": "cuda", "gpu": "NVIDIA H100"}, "seed": seed}}


def paper_run(**kw):
    return [record("paper", v, **kw) for v in P]


def test_paper_run_on_eurlex_maps_tables_2_3_4_in_the_papers_units():
    recs = paper_run()
    out = measured(recs)
    assert set(out) <= set(REP)
    by_variant = {r["experiment"]: r for r in recs}
    for i, k in enumerate(KS):
        v, rec = out[f"table2/eurlex4k/GUDN/P@{k}"]
        assert v == P["gudn"][i] and rec is by_variant["train-gudn"]
        assert REP[f"table2/eurlex4k/GUDN/P@{k}"]["unit"] == "%" and abs(v - REP[f"table2/eurlex4k/GUDN/P@{k}"]["value"]) < 1
        assert out[f"table3/eurlex4k/BERT/P@{k}"][0] == P["bert"][i]
        assert out[f"table3/eurlex4k/BERT+GUD-F/P@{k}"][0] == P["gud_f"][i]
        assert out[f"table3/eurlex4k/BERT+GUD-L/P@{k}"][0] == P["gud_l"][i]
        raw, rec = out[f"table4/eurlex4k/raw/P@{k}"]
        assert raw == pytest.approx(P["gudn"][i] - P["bert"][i]) and rec is by_variant["train-gudn"]
        onehot, rec = out[f"table4/eurlex4k/onehot/P@{k}"]
        assert onehot == pytest.approx(P["gudn_onehot"][i] - P["bert"][i]) and rec is by_variant["train-gudn_onehot"]
        assert REP[f"table4/eurlex4k/raw/P@{k}"]["unit"] == "points"
    assert len(out) == 3 * 4 + 3 * 2
    assert not any("wiki" in k or "amazon" in k or k.startswith("table1/") for k in out)


def test_generated_data_measures_nothing_whatever_the_profile():
    assert measured([record("smoke", v) for v in P]) == {}
    assert measured([record("gpu", v) for v in P]) == {}
    assert measured([record("paper", v, dataset_name="generated") for v in P]) == {}


def test_other_data_sets_map_their_own_keys():
    out = measured([record("paper", v, dataset_name="wiki500k") for v in P])
    assert set(out) <= set(REP)
    assert out["table2/wiki500k/GUDN/P@1"][0] == P["gudn"][0]
    assert "table3/wiki500k/BERT/P@5" in out
    assert not any(k.startswith("table4/") for k in out)  # Table 4 has Eurlex-4K and Wiki10-31K only
    out = measured([record("paper", v, dataset_name="wiki10_31k") for v in P])
    assert "table4/wiki10_31k/onehot/P@3" in out and not any("eurlex" in k for k in out)


def test_table4_needs_bert_and_the_variant_in_the_same_setting():
    recs = [record("paper", "gudn"), record("paper", "gudn_onehot"), record("paper", "bert", learning_rate=1e-4, created="2024-01-01T00:00:00+00:00")]
    out = measured(recs)
    assert not any(k.startswith("table4/") for k in out)
    assert "table2/eurlex4k/GUDN/P@1" in out and "table3/eurlex4k/BERT/P@1" in out


def test_newest_record_per_seed_wins_seeds_are_averaged_and_runs_without_metrics_are_skipped():
    old = record("paper", "gudn", created="2025-01-01T00:00:00+00:00")
    new = record("paper", "gudn", metrics={"P@1": 70.0, "P@3": 60.0, "P@5": 50.0},
                 created="2025-02-01T00:00:00+00:00")
    assert measured([new, old])["table2/eurlex4k/GUDN/P@1"] == (70.0, new)
    seed1 = record("paper", "gudn", metrics={"P@1": 80.0, "P@3": 60.0, "P@5": 50.0},
                   created="2025-02-02T00:00:00+00:00", seed=1)
    assert measured([new, old, seed1])["table2/eurlex4k/GUDN/P@1"][0] == pytest.approx(75.0)
    rank1 = record("paper", "gudn", metrics={}, created="2025-03-01T00:00:00+00:00", seed=2)
    assert measured([old, rank1])["table2/eurlex4k/GUDN/P@1"] == (P["gudn"][0], old)


def _write(root, rec):
    p = root / rec["chapter"] / rec["profile"] / f"{rec['experiment']}-{rec['key'][:12]}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(rec))


def test_scoreboard_judges_paper_runs_and_shows_others_as_not_run(tmp_path):
    far = {"P@1": 80.0, "P@3": 77.0, "P@5": 65.5}  # P@1 8 points below the paper's 88.13
    for rec in [record("paper", v) for v in ("bert", "gud_f", "gud_l", "gudn_onehot")] + \
               [record("paper", "gudn", metrics=far)]:
        _write(tmp_path, rec)
    for v in P:  # generated data (measures nothing) and a smoke-sized run on Wiki10-31K (shown, not judged)
        _write(tmp_path, record("smoke", v))
        _write(tmp_path, record("smoke", v, dataset_name="wiki10_31k"))
    df = scoreboard.table(roots=[tmp_path]).query("chapter == 'gudn'").set_index("number")
    what = lambda key: REP[key]["what"]  # noqa: E731
    assert df.loc[what("table2/eurlex4k/GUDN/P@1"), "verdict"] == "not reproduced"
    assert df.loc[what("table2/eurlex4k/GUDN/P@1"), "ours"] == 80.0
    assert df.loc[what("table2/eurlex4k/GUDN/P@3"), "verdict"] == "reproduced"
    assert df.loc[what("table3/eurlex4k/BERT+GUD-F/P@5"), "verdict"] == "reproduced"
    assert df.loc[what("table4/eurlex4k/raw/P@1"), "verdict"] == "not reproduced"  # 80.0 - 86.5 vs +1.25
    assert df.loc[what("table4/eurlex4k/onehot/P@1"), "verdict"] == "reproduced"  # 86.6 - 86.5 vs +0.03
    assert df.loc[what("table2/eurlex4k/GUDN/P@1"), "profile"] == "paper"
    for key in ("table2/wiki10_31k/GUDN/P@1", "table3/wiki10_31k/BERT/P@3", "table4/wiki10_31k/raw/P@5"):
        assert df.loc[what(key), "verdict"] == "not run (closest: smoke, not comparable)"
    for key in ("table2/amazoncat13k/GUDN/P@1", "table1/eurlex4k/TRN"):
        assert df.loc[what(key), "verdict"] == "not run" and pd.isna(df.loc[what(key), "ours"])


def _seeded(variant, p1_by_seed, **kw):
    return [record("smoke", variant, metrics={"P@1": a, "P@3": a - 10, "P@5": a - 20}, seed=s, **kw)
            for s, a in enumerate(p1_by_seed)]


def test_claims_follow_the_paired_differences():
    assert all(v[0] == "cannot speak" for v in claims([]).values())
    bert = _seeded("bert", [50.0, 52.0, 51.0])
    up = _seeded("gudn", [53.0, 55.0, 54.5])  # +3 or more in every seed
    down = _seeded("gud_f", [45.0, 47.0, 46.0])  # -5 in every seed
    noisy = _seeded("gud_l", [52.0, 50.0, 51.5])  # +2, -2, +0.5: inside the spread
    out = claims(bert + up + down + noisy)
    assert out["guide_raises_p_at_k"][0] == "supported" and "3 seeds" in out["guide_raises_p_at_k"][1]
    assert out["feature_guide_helps"][0] == "contradicted"
    assert out["link_guide_helps"][0] == "cannot speak" and "spread" in out["link_guide_helps"][1]
    assert out["raw_names_beat_onehot"][0] == "cannot speak"  # no one-hot records
    assert out["gudn_beats_lightxml"][0] == "cannot speak"  # not on a paper data set


def test_feature_loss_claim_compares_the_last_epoch_by_seed():
    raw = [record("smoke", "gudn", seed=s, curves={"epoch": [1, 2], "loss_feature": [0.5, 0.1]}) for s in (0, 1)]
    hot = [record("smoke", "gudn_onehot", seed=s, curves={"epoch": [1, 2], "loss_feature": [0.5, 0.3 + s / 10]})
           for s in (0, 1)]
    assert claims(raw + hot)["raw_names_lower_feature_loss"][0] == "supported"
    assert claims(hot + [record("smoke", "gudn", seed=s, curves={"epoch": [1, 2], "loss_feature": [0.5, 0.9]})
                         for s in (0, 1)])["raw_names_lower_feature_loss"][0] == "contradicted"
