"""The claims scoreboard: each chapter's claims (reported.yaml `claims:`) judged per profile by the chapter's
`scoreboard.claims(records)` hook; the page opens with a summary, then the claims, then the numbers collapsed;
each chapter gets an at-a-glance include."""
import pytest

from replicate import chapters, scoreboard
from replicate.results import code_fingerprint

CH = "neural_mechanics"
LISTED = {"a_beats_b": {"claim": "A beats B", "source": "Table 1"},
          "c_is_flat": {"claim": "C is flat | or not", "source": "Fig. 2"}}


def _rec(profile, current=True):
    return {"chapter": CH, "profile": profile, "experiment": "x", "key": profile,
            "code": code_fingerprint(CH) if current else "old", "metrics": {}, "meta": {}}


@pytest.fixture
def fake(monkeypatch):
    """The chapter CH lists LISTED; its hook is whatever the test sets in ``hook[0]`` (None: no hook)."""
    hook = [None]
    calls = []
    real_claims_of, real_hook = scoreboard.claims_of, scoreboard._hook
    monkeypatch.setattr(scoreboard, "claims_of", lambda ch: dict(LISTED) if ch == CH else real_claims_of(ch))

    def _hook(ch, name="measured"):
        if ch == CH and name == "claims":
            if hook[0] is None:
                return None
            return lambda recs: (calls.append([r["profile"] for r in recs]), hook[0](recs))[1]
        return real_hook(ch, name)

    monkeypatch.setattr(scoreboard, "_hook", _hook)
    return hook, calls


def _mine(df):
    return df[df["chapter"] == CH]


def test_without_a_hook_every_claim_cannot_speak_for_every_profile(fake):
    df = _mine(scoreboard.claims_table(records=[_rec("gpu")]))
    assert len(df) == len(LISTED) * len(scoreboard.profiles_of(CH))
    assert set(df["verdict"]) == {"cannot speak"}
    assert set(df[df["profile"] == "gpu"]["evidence"]) == {"the chapter does not judge its claims yet"}
    assert set(df[df["profile"] == "smoke"]["evidence"]) == {"no `smoke` records"}


def test_the_hook_judges_each_profile_from_its_own_records(fake):
    hook, calls = fake
    hook[0] = lambda recs: {"a_beats_b": ("supported" if recs[0]["profile"] == "gpu" else "contradicted", "A-B=+1")}
    df = _mine(scoreboard.claims_table(records=[_rec("gpu"), _rec("gpu"), _rec("smoke")]))
    assert sorted(calls) == [["gpu", "gpu"], ["smoke"]]  # one call per profile that has records, never empty
    v = {(r["key"], r["profile"]): r["verdict"] for _, r in df.iterrows()}
    assert v[("a_beats_b", "gpu")] == "supported" and v[("a_beats_b", "smoke")] == "contradicted"
    assert v[("a_beats_b", "paper")] == "cannot speak"
    assert v[("c_is_flat", "gpu")] == "cannot speak"  # a claim the hook leaves out
    best = scoreboard.best_verdicts(df).set_index("key")
    assert best.loc["a_beats_b", "verdict"] == "supported" and best.loc["a_beats_b", "profile"] == "gpu"
    assert best.loc["c_is_flat", "verdict"] == "cannot speak" and best.loc["c_is_flat", "profile"] == ""


def test_a_key_not_in_reported_yaml_or_a_bad_verdict_is_an_error(fake):
    hook, _ = fake
    hook[0] = lambda recs: {"not_listed": ("supported", "")}
    with pytest.raises(KeyError, match="not_listed"):
        scoreboard.claims_table(records=[_rec("gpu")])
    hook[0] = lambda recs: {"a_beats_b": ("probably", "")}
    with pytest.raises(ValueError, match="probably"):
        scoreboard.claims_table(records=[_rec("gpu")])


def test_stale_records_mark_their_verdicts(fake):
    hook, _ = fake
    hook[0] = lambda recs: {"a_beats_b": ("supported", "e")}
    df = scoreboard.claims_table(records=[_rec("gpu", current=False)])
    lines = "\n".join(scoreboard.claims_markdown(df, CH))
    assert "supported †" in lines and "code that has changed since" in lines
    df = scoreboard.claims_table(records=[_rec("gpu")])
    assert "†" not in "\n".join(scoreboard.claims_markdown(df, CH))


def test_page_opens_with_the_summary_then_claims_then_the_numbers_collapsed(fake, tmp_path):
    hook, _ = fake
    hook[0] = lambda recs: {"a_beats_b": ("contradicted", "A-B=-2")}
    claims = scoreboard.claims_table(records=[_rec("gpu")])
    numbers = scoreboard.table(roots=[tmp_path])
    page = scoreboard.markdown(numbers, claims)
    s, c, n = page.index("## Summary"), page.index("## The papers' claims"), page.index("## The papers' numbers")
    assert s < c < n
    title = scoreboard.short_title(CH)
    summary_row = next(line for line in page[s:c].splitlines() if line.startswith(f"| {title}"))
    # 2 claims: 0 supported, 1 contradicted (by gpu), 1 cannot speak; its numbers all not run
    cells = [x.strip() for x in summary_row.strip("|").split("|")]
    n_numbers = len(numbers[numbers["chapter"] == CH])
    assert cells[1:] == ["2", "0", "1 (gpu 1)", "1", str(n_numbers), "0", "0", str(n_numbers)]
    claims_part = page[c:n]
    assert claims_part.count("| A beats B | Table 1 |") == 1 and "C is flat \\| or not" in claims_part
    assert "**contradicted**" in claims_part and "gpu: A-B=-2" in claims_part
    own = claims_part[claims_part.index(chapters.get(CH).title):]
    assert own.splitlines()[2].startswith("| the paper's claim | source | gpu | evidence |")  # profiles with records
    assert "No records of the profiles `paper`, `smoke`" in own
    # every per-number table sits inside a dropdown
    numbers_part = page[n:]
    assert numbers_part.count(":::{dropdown}") == numbers["chapter"].nunique()
    rows = [line for line in numbers_part.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert len(rows) == len(numbers) + numbers["chapter"].nunique()  # one header per chapter


def test_write_makes_the_page_and_an_at_a_glance_block_per_chapter(fake, tmp_path):
    hook, _ = fake
    hook[0] = lambda recs: {"a_beats_b": ("supported", "e")}
    out = scoreboard.write(root=tmp_path, roots=[tmp_path / "none"])
    assert out == tmp_path / "book" / "scoreboard.md" and out.read_text().startswith("# Replication scoreboard")
    for ch in chapters.names():
        glance = (tmp_path / "book" / "_generated" / f"{ch}_glance.md").read_text()
        assert glance.startswith(":::{admonition} At a glance") and ":class: replicate-glance" in glance
        assert glance.rstrip().endswith(":::")
    mine = (tmp_path / "book" / "_generated" / f"{CH}_glance.md").read_text()
    assert "| A beats B | Table 1 | cannot speak |\n" in mine  # no records under roots: one verdict column
    assert "No records of the profiles" in mine


def test_every_chapter_claims_listing_is_well_formed():
    for ch in chapters.names():
        for key, c in scoreboard.claims_of(ch).items():
            assert c["claim"].strip() and c["source"].strip(), f"{ch}: claim {key!r} needs a claim and a source"
