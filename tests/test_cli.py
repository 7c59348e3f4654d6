import subprocess
import sys

import pytest

from replicate import chapters
from replicate.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "replicate", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, words", [
    (["run", "no_such_chapter"], ["unknown chapter", "valid chapters"]),
    (["run", "all", "--profile", "nope"], ["unknown profile", "valid profiles"]),
    (["run", "all", "-p", "no_such_param=1"], ["unknown parameter", "valid parameters"]),
    (["run", "all", "-p", "seed=abc"], ["seed", "expects int"]),
    (["bench", "no_such_chapter"], ["unknown chapter"]),
    (["data", "fetch", "no_such_set"], ["unknown data set", "valid names"]),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0]


def test_bad_input_stops_before_any_work(capsys, monkeypatch, tmp_path):
    import replicate.runner as runner

    monkeypatch.setattr(runner, "run_chapter", lambda *a, **k: pytest.fail("work started"))
    assert main(["run", "all", "-p", "seed=x"]) == 2


def test_list_shows_every_chapter_profile_and_parameter():
    r = run_cli("list")
    assert r.returncode == 0, r.stderr
    for name in chapters.names():
        ch = chapters.get(name)
        assert f"{name}: {ch.title}" in r.stdout
        for prof in ("smoke", "paper"):
            assert prof in ch.profiles
            assert f"profile {prof}" in r.stdout
        assert "seed: int" in r.stdout


def test_every_chapter_has_notebooks_with_a_parameters_cell():
    from replicate.runner import read_notebook, source_notebook

    assert chapters.names(), "no chapter found"
    for name in chapters.names():
        for nb in chapters.get(name).notebooks:
            doc = read_notebook(source_notebook(name, nb))
            tagged = [c for c in doc.cells if "parameters" in c.metadata.get("tags", [])]
            assert len(tagged) == 1, f"{name}/{nb} needs exactly one parameters cell"
            assert 'profile = "smoke"' in tagged[0].source
            for c in doc.cells:
                if c.cell_type == "code":
                    assert not c.outputs and c.execution_count is None, f"{name}/{nb} is stored with outputs"
