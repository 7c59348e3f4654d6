"""The chapter's scoreboard hook: Tables 1-6 only from records made with the real m-BERT on the real data, at
the layers and set sizes the tables state, in percent as the paper prints them; generated-language runs measure
nothing."""
import json
import math

import pytest

from replicate import chapters, reported, scoreboard
from replicate.config import as_dict
from replicate.papers.mbert_lang.profiles import METHODS
from replicate.papers.mbert_lang.scoreboard import measured

REP = reported.load("mbert_lang")
EXPERIMENT_OF = {"table1": "translation", "table6": "translation", "table2": "tatoeba", "table3": "bucc",
                 "table4": "pos", "table5": "parse"}


def _config(profile, **overrides):
    return {"params": as_dict(chapters.get("mbert_lang").resolve(profile, overrides))}


def _metrics(p, shift=0.0):
    """Every metric the experiments write for parameters ``p`` (keys built as ``experiment.py`` builds them): the
    paper's value (+ shift) where it reports one, else 50."""
    def v(key):
        return REP[key]["value"] + shift if key in REP else 50.0

    langs = sorted({x for d in (*p.directions, p.sweep_direction) for x in d.split("-")} | {"en"})
    out = {"translation": {}, "tatoeba": {}, "bucc": {}, "pos": {}, "parse": {}}
    for d in p.directions:
        for a in p.alphas:
            for kind in ("bleu1", "convert"):
                out["translation"][f"table1/{d}/{kind}/{a:g}"] = v(f"table1/{d}/{kind}/{a:g}")
    for lang in langs:
        for what in ("size", "overlap"):
            out["translation"][f"table6/{lang}/{what}"] = v(f"table6/{lang}/{what}")
    for m in METHODS:
        for lang in p.tatoeba_languages:
            out["tatoeba"][f"table2/{m}/{lang}"] = v(f"table2/{m}/{lang}")
        for lang in p.bucc_languages:
            for split in ("dev", "test"):
                out["bucc"][f"table3/{split}/{m}/{lang}"] = v(f"table3/{split}/{m}/{lang}")
        for lang in (*p.pos_languages, "en", "Average"):
            out["pos"][f"table4/{m}/{lang}"] = v(f"table4/{m}/{lang}")
        for lang in (*p.parse_languages, "en", "Average"):
            out["parse"][f"table5/{m}/{lang}"] = v(f"table5/{m}/{lang}")
            out["parse"][f"uas/{m}/{lang}"] = 50.0  # UAS: measured, not reported
    return out


def _records(profile, shift=0.0, created="2026-01-01T00:00:00+00:00", **overrides):
    params = chapters.get("mbert_lang").resolve(profile, overrides)
    cfg = _config(profile, **overrides)
    return [{"schema": 1, "chapter": "mbert_lang", "profile": profile, "experiment": exp, "key": f"{profile}-{exp}",
             "config": cfg, "metrics": m, "meta": {"created": created, "device": {"device": "cuda", "gpu": "H100"}}}
            for exp, m in _metrics(params, shift).items()]


def test_paper_records_map_every_reported_number_in_percent():
    recs = _records("paper")
    got = measured(recs)
    assert set(got) == set(REP)  # the paper profile measures every reported number, and nothing else
    for key, (value, rec) in got.items():
        assert value == pytest.approx(REP[key]["value"])
        assert rec["experiment"] == EXPERIMENT_OF[key.split("/")[0]]
    # percent, as the paper prints them (Table 1's "601" is 60.1); an accuracy or F1 is not a fraction
    assert got["table1/fr-en/convert/2"][0] == pytest.approx(60.1)
    assert got["table2/Original/de"][0] == pytest.approx(75.4)
    assert got["table3/test/MDS/de"][0] == pytest.approx(65.76)
    assert got["table4/MDS/Average"][0] == pytest.approx(67.5)
    assert got["table5/MDS/kk"][0] == pytest.approx(40.0)


def test_keys_the_paper_does_not_report_and_missing_values_are_left_out():
    recs = _records("paper")
    tr = next(r for r in recs if r["experiment"] == "translation")
    tr["metrics"]["table1/en-de/bleu1/1.5"] = 9.0
    tr["metrics"]["table1/en-de/convert/1"] = None  # a NaN convert rate is stored as null
    got = measured(recs)
    assert "table1/en-de/bleu1/1.5" not in got and "table1/en-de/convert/1" not in got
    assert "table4/Original/en" not in got  # English POS accuracy: measured, not reported
    assert set(got) <= set(REP)


def test_generated_languages_map_nothing():
    for profile in ("smoke", "gpu"):
        assert measured(_records(profile)) == {}
    # the gpu profile's settings with the paper's layers still run on generated languages
    assert measured(_records("gpu", shift_layer=6, retrieval_layer=4)) == {}
    assert measured([{**r, "experiment": "means"} for r in _records("paper")]) == {}


@pytest.mark.parametrize("model", ["bert-base-multilingual-uncased", "xlm-roberta-base", "/models/my-bert"])
def test_another_model_maps_nothing(model):
    assert measured(_records("paper", model_name_or_path=model)) == {}


def test_a_local_copy_of_mbert_maps():
    got = measured(_records("paper", model_name_or_path="/hf/models--bert-base-multilingual-cased/snapshots/abc"))
    assert set(got) == set(REP)


def test_layers_and_set_sizes_gate_their_tables():
    def tables(got):
        return {k.split("/")[0] for k in got}

    assert tables(measured(_records("paper", shift_layer=6))) == {"table2", "table3", "table4", "table5", "table6"}
    assert tables(measured(_records("paper", retrieval_layer=6))) == {"table1", "table4", "table5", "table6"}
    assert tables(measured(_records("paper", n_translate=1000))) == {"table1", "table2", "table3", "table4", "table5"}
    assert tables(measured(_records("paper", n_tatoeba=500))) == {"table1", "table3", "table4", "table5", "table6"}
    assert tables(measured(_records("paper", pos_layer=6))) == {"table1", "table2", "table3", "table4", "table5",
                                                                 "table6"}
    assert tables(measured(_records("paper", parse_layer=8))) == {"table1", "table2", "table3", "table4", "table6"}
    assert "table5" in tables(measured(_records("paper", parse_layer=-1)))


def test_newest_record_wins():
    old = _records("paper", created="2026-01-01T00:00:00+00:00")
    new = _records("paper", shift=1.0, created="2026-02-01T00:00:00+00:00")
    got = measured(new + old)
    assert got["table2/MDS/de"][0] == pytest.approx(77.8)
    assert got["table2/MDS/de"][1]["meta"]["created"].startswith("2026-02")


def _write(root, recs):
    for rec in recs:
        p = root / rec["chapter"] / rec["profile"] / f"{rec['experiment']}-{rec['key']}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(rec))


def _rows(root):
    df = scoreboard.table(roots=[root]).query("chapter == 'mbert_lang'")
    what = {r["what"]: k for k, r in REP.items()}
    assert len(what) == len(REP)
    return {what[row["number"]]: row for _, row in df.iterrows()}


def test_scoreboard_verdicts(tmp_path):
    _write(tmp_path, _records("gpu"))
    rows = _rows(tmp_path)
    assert set(rows) == set(REP)
    assert {r["verdict"] for r in rows.values()} == {"not run"}
    paper = _records("paper")
    bad = {"table1/fr-en/convert/2": 6.01, "table2/MDS/de": 76.8 / 100, "table4/Original/Average": 64.9}
    for rec in paper:
        for k, v in bad.items():
            if k in rec["metrics"]:
                rec["metrics"][k] = v
    _write(tmp_path, paper)
    rows = _rows(tmp_path)
    for key, row in rows.items():
        assert row["profile"] == "paper"
        if key in bad:
            assert row["verdict"] == "not reproduced", key
            assert row["ours"] == pytest.approx(bad[key])
        elif REP[key].get("tolerance") is None:
            assert row["verdict"] == "shown", key  # Table 6 has no tolerance
        else:
            assert row["verdict"] == "reproduced", key
            assert math.isclose(row["ours"], REP[key]["value"])
