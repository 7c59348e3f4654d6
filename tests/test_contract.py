"""The chapter contract (CONTRIBUTING.md), checked for every chapter: the module set, help for every parameter,
a preflight, claims in reported.yaml with a judge, records keyed by the code that made them, text notebooks with
no outputs."""
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from replicate import chapters, paths, reported, results

CHAPTERS = chapters.names()
MODULES = ("profiles", "data", "model", "train", "experiment", "report", "scoreboard", "bench")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_module_set(chapter):
    missing = [m for m in MODULES if importlib.util.find_spec(f"replicate.papers.{chapter}.{m}") is None]
    assert not missing, f"{chapter} lacks the contract's modules {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_parameter_has_help(chapter):
    ch = chapters.get(chapter)
    bare = [f.name for f in dataclasses.fields(ch.params) if not f.metadata.get("help")]
    assert not bare, f"{chapter}: parameters without help (declare them with replicate.config.param): {bare}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_hugging_face_vocabulary(chapter):
    names = {f.name for f in dataclasses.fields(chapters.get(chapter).params)}
    old = names & {"bert", "checkpoint", "model_name", "dataset", "data", "lr", "epochs", "batch_size"}
    assert not old, f"{chapter}: rename {sorted(old)} to the shared vocabulary (model_name_or_path, dataset_name, ...)"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_preflight_is_declared_and_smoke_needs_nothing(chapter):
    ch = chapters.get(chapter)
    assert ch.preflight is not None, f"{chapter}: CHAPTER has no preflight"
    assert ch.missing(ch.resolve("smoke")) == [], "the smoke profile must run offline with what the package ships"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_claims_are_listed_and_judged(chapter):
    text = (paths.project_root() / "src" / "replicate" / "papers" / chapter / "reported.yaml").read_text()
    claims = (yaml.safe_load(text) or {}).get("claims") or {}
    assert claims, f"{chapter}: reported.yaml lists no claims"
    for key, c in claims.items():
        assert c.get("claim") and c.get("source"), f"{chapter}: claim {key} needs claim: and source:"
    hook = importlib.import_module(f"replicate.papers.{chapter}.scoreboard")
    assert hasattr(hook, "claims"), f"{chapter}: scoreboard.py has no claims(records)"
    judged = hook.claims([])
    assert set(judged) <= set(claims)
    assert all(v[0] == "cannot speak" for v in judged.values()), "no records cannot support or contradict a claim"
    assert reported.load(chapter) is not None


def test_sources_are_text_notebooks_without_outputs():
    """One source per notebook: MyST markdown, no .ipynb beside it, no outputs, and in jupytext's canonical form
    (so saving it from JupyterLab leaves the file as it is)."""
    import jupytext

    nb_dir = paths.notebooks_dir()
    assert not list(nb_dir.rglob("*.ipynb")), "notebooks/ must hold the MyST sources only"
    for chapter in CHAPTERS:
        for name in chapters.get(chapter).notebooks:
            src = nb_dir / chapter / f"{name}.md"
            assert src.is_file(), f"{src} is missing"
            nb = jupytext.read(src)
            assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), f"{src}: no parameters cell"
            assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
            def canon(t):  # the header names the jupytext version that wrote it: not part of the content
                return [ln for ln in t.splitlines() if not ln.strip().startswith("jupytext_version:")]

            assert canon(jupytext.writes(nb, fmt="md:myst")) == canon(src.read_text()), \
                f"{src} is not in jupytext's canonical form"


def _fingerprints():
    return {c: results.code_fingerprint(c) for c in CHAPTERS}


def test_changing_a_line_of_a_chapter_changes_its_fingerprint_only(tmp_path):
    """The fingerprint read from a copy of the package in which one line of one chapter's model changed."""
    import shutil

    pkg = Path(importlib.util.find_spec("replicate").origin).parent
    copy = tmp_path / "src" / "replicate"
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = CHAPTERS[0]
    (copy / "papers" / target / "model.py").write_text((copy / "papers" / target / "model.py").read_text() + "\n# x\n")
    code = ("import json; from replicate import chapters, results; "
            "print(json.dumps({c: results.code_fingerprint(c) for c in chapters.names()}))")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    out = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True, cwd=tmp_path).stdout)
    now = _fingerprints()
    assert out[target] != now[target]
    assert all(out[c] == now[c] for c in CHAPTERS if c != target)
    # a presentation module (tables, scoreboard) is not part of the fingerprint
    (copy / "papers" / target / "report.py").write_text("# tables only\n")
    out2 = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                     check=True, cwd=tmp_path).stdout)
    assert out2[target] == out[target]


def test_record_key_holds_the_code_and_stale_records_are_marked(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_RESULTS", str(tmp_path))
    chapter = CHAPTERS[0]
    rec = results.record(chapter, "smoke", "toy", {"a": 1}, lambda: {"metrics": {"x": 1.0}})
    assert rec["code"] == results.code_fingerprint(chapter) and not results.is_stale(rec)
    assert "code changed since" not in results.provenance(rec)
    old = {**rec, "code": "0" * 16}
    assert results.is_stale(old) and "code changed since" in results.provenance(old)
    legacy = {k: v for k, v in rec.items() if k != "code"}
    assert results.is_stale(legacy)


def test_force_recomputes_once(tmp_path, monkeypatch):
    import datetime
    import time

    monkeypatch.setenv("REPLICATE_RESULTS", str(tmp_path))
    calls = []
    fn = lambda: calls.append(1) or {"metrics": {"x": float(len(calls))}}
    results.record("toy", "smoke", "exp", {"a": 1}, fn)
    results.record("toy", "smoke", "exp", {"a": 1}, fn)
    assert calls == [1]
    time.sleep(1.1)
    monkeypatch.setenv("REPLICATE_FORCE", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    r = results.record("toy", "smoke", "exp", {"a": 1}, fn)
    results.record("toy", "smoke", "exp", {"a": 1}, fn)  # made during the forced run: re-used
    assert calls == [1, 1] and r["metrics"]["x"] == 2.0


def test_param_help_and_paper_values():
    from replicate.config import differs_from_paper, param

    @dataclasses.dataclass(frozen=True)
    class P:
        lr: float = param(1e-3, "learning rate", paper=5e-5, source="Sec. 4")
        seed: int = param(0, "seed")

    assert differs_from_paper(P()) == [("lr", 1e-3, 5e-5, "Sec. 4")]
    assert differs_from_paper(P(lr=5e-5)) == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_paper_profile_without_its_data_stops_before_any_kernel(chapter, tmp_path):
    """Preflight: with an empty data cache and no hub, the paper profile is refused in one line, exit 2, fast."""
    import time

    env = {**os.environ, "REPLICATE_DATA": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "REPLICATE_EXECUTED": str(tmp_path / "executed")}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "replicate", "run", chapter, "--profile", "paper"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.stdout[-500:], r.stderr[-1500:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot run here" in lines[0], r.stderr
    assert not (tmp_path / "executed").exists(), "a kernel started"
    assert time.perf_counter() - t0 < 60
