"""Every test session (unit tests, nbval over notebooks/, the book build) writes result records, executed notebooks
and data into fresh temporary folders, so a stale record can never hide a failure and a user's files are never touched."""
import os
import tempfile
from pathlib import Path

_session_tmp = Path(tempfile.mkdtemp(prefix="replicate-test-"))
os.environ["REPLICATE_RESULTS"] = str(_session_tmp / "results")
os.environ["REPLICATE_EXECUTED"] = str(_session_tmp / "executed")
os.environ.setdefault("REPLICATE_DATA", str(_session_tmp / "data"))
os.environ.setdefault("REPLICATE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _session_tmp


@pytest.fixture(scope="session")
def built_book(session_tmp):
    """Every chapter executed under `smoke` into a copy of the book's sources, then the HTML book built there."""
    import shutil

    from replicate import paths, runner

    root = session_tmp / "book-src"
    root.mkdir()
    for f in ("_config.yml", "_toc.yml"):
        shutil.copy(paths.project_root() / f, root / f)
    shutil.copytree(paths.project_root() / "book", root / "book", ignore=shutil.ignore_patterns("executed", "_static"))
    runner.run(["all"], "smoke", executed=root / "book" / "executed", progress=False)
    return runner.build_book(root=root)


# ---------------------------------------------------------------------------------------------------------------
# nbval over the MyST text notebooks of notebooks/<chapter>/ (nbval itself collects only .ipynb files): the same
# nbval item, with the notebook read through jupytext.
# ---------------------------------------------------------------------------------------------------------------
try:
    from nbval.plugin import IPyNbFile
except ImportError:  # pragma: no cover - nbval is a dev dependency
    IPyNbFile = None


class _JupytextRead:
    """Stands in for the ``nbformat`` module inside nbval while it reads a text notebook."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def read(self, path, as_version=4):
        import jupytext

        return jupytext.read(path)


if IPyNbFile is not None:
    class MystNotebook(IPyNbFile):
        def collect(self):
            import nbval.plugin as plugin

            real = plugin.nbformat
            plugin.nbformat = _JupytextRead(real)
            try:
                yield from super().collect()
            finally:
                plugin.nbformat = real


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (IPyNbFile is not None and (opt.nbval or opt.nbval_lax) and file_path.suffix == ".md"
            and file_path.parent.parent.name == "notebooks"):
        return MystNotebook.from_parent(parent, path=file_path)
