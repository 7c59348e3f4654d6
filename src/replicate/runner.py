"""Executing chapters with papermill and building the book.

Source notebooks live in notebooks/<chapter>/ as MyST markdown (jupytext text notebooks: one source, no
outputs, editable in JupyterLab); papermill executes them through jupytext, and the executed copies go to
book/executed/<chapter>/ (REPLICATE_EXECUTED moves them), which is where the book's table of contents reads them. Parameters are
validated before any notebook starts. A failing notebook still leaves its executed copy, showing the error.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from . import chapters, paths, present
from .config import UsageError, as_dict


@dataclass
class NotebookRun:
    chapter: str
    notebook: str
    output: Path
    seconds: float
    error: str | None = None


class ChapterFailed(RuntimeError):
    pass


def source_notebook(chapter: str, notebook: str) -> Path:
    return paths.notebooks_dir() / chapter / f"{notebook}.md"


def read_notebook(path: Path):
    """A MyST text notebook as an nbformat notebook (jupytext), ready for papermill."""
    import jupytext

    return jupytext.read(path)


def execute(src: Path, dst: Path, parameters: Mapping, progress: bool = True, cwd: Path | None = None) -> None:
    """papermill over a text notebook: jupytext reads ``src``, papermill injects ``parameters`` and executes,
    the executed notebook (.ipynb, with outputs) is written to ``dst``."""
    import papermill as pm

    nb = read_notebook(src)
    with kernel_env():
        pm.execute_notebook(nb, str(dst), parameters=dict(parameters), kernel_name="python3",
                            progress_bar=progress, cwd=str(cwd or dst.parent), log_output=False, report_mode=False)


def plan(targets: list[str], profile: str, overrides: Mapping[str, str] | None = None,
         preflight: bool = True) -> list[tuple[str, dict]]:
    """Validate chapters, profile and overrides before any work, and check (preflight) that every data set and
    checkpoint they need is on this machine; return (chapter, typed overrides) pairs."""
    names = chapters.names() if targets == ["all"] else targets
    out, missing = [], []
    for name in names:
        ch = chapters.get(name)
        params = ch.resolve(profile, overrides or {})
        typed = {k: v for k, v in as_dict(params).items() if k in (overrides or {})}
        out.append((name, typed))
        if preflight:
            missing += [f"{name}: {m}" for m in ch.missing(params)]
    if missing:
        raise UsageError(f"profile {profile!r} cannot run here, nothing was started: " + "; ".join(missing))
    return out


@contextmanager
def forced(force: bool):
    """``replicate run --force``: records made before this moment are recomputed (once) by every kernel."""
    if not force:
        yield
        return
    import datetime

    with environ(REPLICATE_FORCE=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")):
        yield


@contextmanager
def environ(**values: str):
    """Environment variables set for the kernels started inside the block, restored after it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def kernel_env():
    """The environment papermill's kernels inherit: figures inline (a caller's MPLBACKEND=Agg would hide every
    figure from the executed notebook) and no tqdm bars in the stored outputs (the papermill bar shows progress)."""
    saved = {k: os.environ.get(k) for k in ("MPLBACKEND", "REPLICATE_PROGRESS")}
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ["REPLICATE_PROGRESS"] = "0"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_chapter(chapter: str, profile: str, overrides: Mapping | None = None, executed: Path | None = None,
                progress: bool = True, log=print) -> list[NotebookRun]:
    import papermill as pm

    ch = chapters.get(chapter)
    ch.resolve(profile, overrides or {})
    out_dir = (executed or paths.executed_dir()) / chapter
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for i, nb in enumerate(ch.notebooks, 1):
        src = source_notebook(chapter, nb)
        dst = out_dir / f"{nb}.ipynb"
        log(f"[{chapter} {i}/{len(ch.notebooks)}] {nb} (profile {profile})")
        t0 = time.perf_counter()
        err = None
        try:
            execute(src, dst, {"profile": profile, "overrides": dict(overrides or {})}, progress=progress, cwd=out_dir)
            present.tidy(dst)  # the page a reader sees: parameters cells, stderr and logs hidden, no paths
        except pm.PapermillExecutionError as e:
            err = f"{e.ename}: {e.evalue}"
        except Exception as e:  # a kernel death, a missing notebook ...
            err = f"{type(e).__name__}: {e}"
        dt = time.perf_counter() - t0
        runs.append(NotebookRun(chapter, nb, dst, dt, err))
        log(f"    {'FAILED: ' + err if err else 'ok'} ({dt:.0f} s) -> {dst}")
    return runs


@contextmanager
def processes(n: int):
    """``replicate run --nproc N``: the kernels' experiment entry points train on N processes (torchrun)."""
    if n < 1:
        raise UsageError(f"--nproc must be at least 1, got {n}")
    with environ(REPLICATE_NPROC=str(n)):
        yield


def run(targets: list[str], profile: str, overrides: Mapping[str, str] | None = None,
        executed: Path | None = None, progress: bool = True, force: bool = False, nproc: int = 1) -> list[NotebookRun]:
    todo = plan(targets, profile, overrides)
    runs: list[NotebookRun] = []
    with forced(force), processes(nproc):
        for name, typed in todo:
            runs += run_chapter(name, profile, typed, executed=executed, progress=progress)
    failed = [r for r in runs if r.error]
    total = sum(r.seconds for r in runs)
    print(f"{len(runs) - len(failed)}/{len(runs)} notebooks ran ({total:.0f} s)")
    if failed:
        raise ChapterFailed("; ".join(f"{r.chapter}/{r.notebook}: {r.error}" for r in failed))
    return runs


def jupyter_book() -> list[str]:
    exe = Path(sys.executable).parent / "jupyter-book"
    return [str(exe)] if exe.exists() else [shutil.which("jupyter-book") or "jupyter-book"]


def install_mathjax(root: Path) -> None:
    """Copy the packaged MathJax 3 (PyPI: django-static-mathjax) into the book's static files, so that math
    renders with no network (Sphinx would otherwise load it from a CDN)."""
    import mathjax  # the package's top-level name

    src = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    dst = root / "book" / "_static" / "mathjax"
    if not (dst / "tex-chtml.js").is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.map", "sre", "input/mml", "ui/menu.js"),
                        dirs_exist_ok=True)


def build_book(root: Path | None = None, out: Path | None = None) -> Path:
    """Build the HTML book with warnings as errors; return the folder of index.html."""
    from . import prose, scoreboard

    root = root or paths.project_root()
    install_mathjax(root)
    print(f"wrote {scoreboard.write(root)}")
    for p in prose.write(root):
        print(f"wrote {p}")
    cmd = jupyter_book() + ["build", str(root), "--warningiserror", "--nitpick", "--keep-going"]
    if out is not None:
        cmd += ["--path-output", str(out)]
    print("$ " + " ".join(cmd))
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise ChapterFailed(f"the book build failed (exit {proc.returncode}); see the warnings above")
    html = (out or root) / "_build" / "html"
    return html
