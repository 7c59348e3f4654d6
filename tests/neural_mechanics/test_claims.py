"""The talk's claims judged from records: committed gpu records, the Part 3 record, and records that must
contradict a claim (so the judges can fail)."""
import copy

from replicate import chapters
from replicate.papers.neural_mechanics import experiment, report, scoreboard
from replicate.results import committed_records


def test_part3_modified_flow_is_one_order_closer(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_RESULTS", str(tmp_path))
    rec = experiment.run_modified_flow(chapters.get("neural_mechanics").resolve("smoke"), "smoke")
    m = rec["metrics"]
    assert 0.8 < m["slope_flow"] < 1.2 and 1.8 < m["slope_modified"] < 2.2
    verdict, evidence = scoreboard.claims([rec])["modified_flow_models_gd"]
    assert verdict == "supported" and "slopes" in evidence
    assert len(report.modified_flow_table(rec)) == len(experiment.QUADRATIC["etas"]) + 1
    bad = copy.deepcopy(rec)
    bad["metrics"]["slope_modified"] = bad["metrics"]["slope_flow"]
    assert scoreboard.claims([bad])["modified_flow_models_gd"][0] == "contradicted"


def test_claims_from_the_committed_gpu_records():
    recs = committed_records("neural_mechanics", "gpu")
    judged = scoreboard.claims(recs)
    assert set(judged) == set(scoreboard.claims([]))
    assert judged["gradient_hessian_geometry"][0] == "supported"
    assert judged["theory_matches_weight_decay"][0] in ("supported", "contradicted")
    assert "diverged" in judged["theory_matches_momentum"][1]  # the plain net's momentum runs, said so


def test_a_theory_far_off_contradicts_the_claim():
    sgd = [r for r in committed_records("neural_mechanics", "gpu") if r["experiment"] == "sgd"
           and scoreboard.run_of(r)["beta"] == 0]
    bad = copy.deepcopy(sgd[:1])
    for g in bad[0]["curves"]["groups"].values():
        g["rel_cont"] = 0.5
    assert scoreboard.claims(bad)["theory_matches_weight_decay"][0] == "contradicted"
    assert scoreboard.overall(bad)["rescale/theory"] == 0.5
