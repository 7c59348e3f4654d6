"""The scoreboard is built from result records through each chapter's hook; never typed by hand."""
import json
import shutil

from replicate import paths, reported, scoreboard


def _copy(src, root, profile):
    rec = json.loads(src.read_text())
    rec["profile"] = profile
    dst = root / rec["chapter"] / profile / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(rec))
    return rec


def test_lists_every_reported_number_and_not_run_without_records(tmp_path):
    df = scoreboard.table(roots=[tmp_path])
    from replicate import chapters

    assert len(df) == sum(len(reported.load(ch)) for ch in chapters.names())
    assert set(df["verdict"]) == {"not run"} and df["ours"].isna().all()


def test_neural_mechanics_values_come_from_sgd_records_and_paper_runs_get_a_verdict(tmp_path):
    from replicate.papers.neural_mechanics import experiment

    sgd = sorted((paths.committed_results_dir() / "neural_mechanics" / "gpu").glob("sgd-*.json"))
    assert sgd, "the committed gpu records of neural_mechanics are missing"
    recs = [_copy(p, tmp_path, "gpu") for p in sgd]
    df = scoreboard.table(roots=[tmp_path]).query("chapter == 'neural_mechanics'")
    want = experiment.overall(recs)
    for _, row in df.iterrows():
        kind = "translation" if "translation" in row["number"] else "rescale" if "rescale" in row["number"] else "scale"
        assert abs(row["ours"] - want[f"{kind}/theory"]) < 1e-12
        assert row["profile"] == "gpu" and row["verdict"].startswith("not run (closest: gpu")
    # a paper-profile run wins over gpu and is judged (the talk gives no tolerance, so: shown)
    shutil.rmtree(tmp_path / "neural_mechanics")
    for p in sgd:
        _copy(p, tmp_path, "paper")
    df = scoreboard.table(roots=[tmp_path]).query("chapter == 'neural_mechanics'")
    assert set(df["profile"]) == {"paper"} and set(df["verdict"]) == {"shown"}


def test_markdown_page_has_one_row_per_number(tmp_path):
    df = scoreboard.table(roots=[tmp_path])
    page = scoreboard.markdown(df, scoreboard.claims_table(roots=[tmp_path]))
    numbers = page[page.index("## The papers' numbers"):]
    assert numbers.count("\n| ") - numbers.count("\n| ---") == len(df) + df["chapter"].nunique()
