"""The book as a reader sees it.

Unit tests (fast): ``notebook.table`` shows a table once, rounded, in a scrolling box; ``notebook.start`` shows
the parameters collapsed with those that differ from the paper's; ``notebook.committed`` shows provenance then
the render, or one line when nothing is committed; ``present.tidy`` hides the parameters cells, stderr and long
logs from the page and scrubs this machine's paths.

Built-book tests (slow, the session's ``built_book``, in headless Chromium): no page shows a table twice, no
table overflows its column, no page shows a traceback, a warning or an absolute path, every figure has loaded,
each chapter page has its at-a-glance block."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from replicate import notebook, paths, present
from replicate.config import param


class Shown(list):
    """What ``IPython.display.display`` was given: a list of (mime bundle or object)."""

    def __call__(self, obj, raw=False, **kw):
        self.append(obj)

    def html(self) -> str:
        return "".join(o["text/html"] for o in self if isinstance(o, dict) and "text/html" in o)

    def markdown(self) -> str:
        return "".join(o.data for o in self if type(o).__name__ == "Markdown")


@pytest.fixture
def shown(monkeypatch):
    s = Shown()
    monkeypatch.setattr("IPython.display.display", s)
    return s


# --------------------------------------------------------------------------------------------------- table
def test_table_is_shown_once_rounded_and_returns_nothing(shown):
    df = pd.DataFrame({"model": ["a", "b"], "P@1": [46.333333, None], "n": [3, 4]})
    assert notebook.table(df, "Table 2: P@k", "smoke", floatfmt="{:.2f}", note="from `gpu`") is None
    assert len(shown) == 1
    page = shown.html()
    assert page.count("<table") == 1
    assert ">46.33<" in page and "46.333" not in page and "None" not in page and "nan" not in page.lower()
    assert "overflow-x:auto" in page and "profile <code>smoke</code>" in page and "from <code>gpu</code>" in page
    assert "46.33" in shown[0]["text/plain"] and "46.333" not in shown[0]["text/plain"]
    # a default RangeIndex is not a column of the page
    assert ">0<" not in page and ">1<" not in page


def test_table_formats_per_column_and_keeps_a_named_index(shown):
    df = pd.DataFrame({"x": [0.123456], "y": [1234.5678]}, index=pd.Index(["row"], name="what"))
    notebook.table(df, "t", floatfmt={"x": "{:.1%}"})
    page = shown.html()
    assert ">12.3%<" in page and ">1235<" in page and ">row<" in page


# --------------------------------------------------------------------------------------------------- start
@dataclasses.dataclass(frozen=True)
class _Params:
    learning_rate: float = param(1e-3, "peak learning rate", paper=5e-5, source="Sec. 4.1")
    seed: int = param(0, "random seed", paper=0, source="code")
    max_steps: int = param(10, "optimizer steps")


def test_parameters_block_lists_only_what_differs_from_the_paper():
    body, plain = notebook.parameters_block(_Params(), "smoke")
    assert body.startswith("<details") and "<summary>" in body
    assert "1 of 3 differ from the paper" in body
    differ = body.split("All 3 parameters")[0]
    assert "learning_rate" in differ and "5e-05" in differ and "Sec. 4.1" in differ
    assert "<code>seed</code>" not in differ and "<code>max_steps</code>" not in differ
    assert "max_steps" in body.split("All 3 parameters")[1]  # every parameter, in the inner collapsed block
    assert "learning_rate=0.001" in plain


def test_start_names_the_profile_and_collapses_the_parameters(shown):
    from replicate import chapters

    name = chapters.names()[0]
    params = notebook.start(name, "smoke")
    assert dataclasses.is_dataclass(params)
    assert "Profile in force: `smoke`" in shown.markdown()
    page = shown.html()
    assert page.count("<details") == 2 and "<table" in page
    assert "<table" not in page.split("<details")[0]  # no table outside the collapsed block


# --------------------------------------------------------------------------------------------------- committed
def _record(tmp_path, chapter="neural_mechanics", profile="gpu", experiment="sgd", code="0" * 16):
    rec = {"chapter": chapter, "profile": profile, "experiment": experiment, "key": "k" * 64, "code": code,
           "metrics": {"x": 1.0}, "meta": {"device": {"device": "cuda", "gpu": "NVIDIA H200"},
                                             "created": "2026-01-02T03:04:05+00:00", "git_commit": "abcdef1234567"}}
    d = tmp_path / "results" / chapter / profile
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{experiment}-{len(list(d.iterdir()))}.json").write_text(json.dumps(rec))
    return rec


def test_committed_shows_provenance_then_the_render(shown, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "committed_results_dir", lambda: tmp_path / "results")
    _record(tmp_path)
    _record(tmp_path)
    seen = []
    assert notebook.committed("neural_mechanics", "gpu", lambda recs: seen.append(len(recs))) is None
    assert seen == [2]
    text = shown.markdown()
    assert "2 records: profile `gpu`, NVIDIA H200, 2026-01-02, commit abcdef1234" in text
    assert "code changed since" in text  # the fake fingerprint is not the chapter's code now


def test_committed_says_so_when_there_are_none(shown, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "committed_results_dir", lambda: tmp_path / "results")
    called = []
    notebook.committed("neural_mechanics", "gpu", called.append, experiment="sgd")
    assert not called and "No committed `gpu` `sgd` records" in shown.markdown()


def test_committed_shows_a_returned_frame_once_through_table(shown, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "committed_results_dir", lambda: tmp_path / "results")
    _record(tmp_path)
    notebook.committed("neural_mechanics", "gpu", lambda recs: pd.DataFrame({"v": [0.5]}))
    assert shown.html().count("<table") == 1


# --------------------------------------------------------------------------------------------------- tidy
def _executed(tmp_path) -> Path:
    root = str(paths.project_root())
    nb = nbformat.v4.new_notebook()
    source_params = nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell('profile = "gpu"', metadata={"tags": ["injected-parameters"]})
    warn = nbformat.v4.new_code_cell("import tqdm.auto")
    warn.outputs = [nbformat.v4.new_output(
        "stream", name="stderr", text=f"{sys.prefix}/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: "
                                      "IProgress not found\n")]
    log = nbformat.v4.new_code_cell("train()")
    log.outputs = [nbformat.v4.new_output("stream", name="stdout", text="".join(f"step {i} loss 1.0\n" for i in range(40)))]
    mixed = nbformat.v4.new_code_cell("train(); table(...)")
    mixed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="".join(f"epoch {i}\n" for i in range(30))),
                     nbformat.v4.new_output("display_data", data={"text/html": f"<table><tr><td>{root}/results/x.json</td></tr></table>",
                                                                 "text/plain": "t"})]
    short = nbformat.v4.new_code_cell("print(1)")
    short.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"data in {paths.data_dir()}/xsum\n")]
    plot = nbformat.v4.new_code_cell("ax.set_title('t')")
    plot.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "Text(0.5, 1.0, 't')"}, execution_count=1),
                    nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure size 640x480>"})]
    value = nbformat.v4.new_code_cell("x")
    value.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "Text is not a plot"}, execution_count=2)]
    twice = nbformat.v4.new_code_cell("display(df); df")
    frame = {"text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "   a\n0  1"}
    twice.outputs = [nbformat.v4.new_output("display_data", data=dict(frame)),
                     nbformat.v4.new_output("execute_result", data=dict(frame), execution_count=3)]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), source_params, injected, warn, log, mixed, short, plot, value,
                twice]
    p = tmp_path / "nb.ipynb"
    nbformat.write(nb, p)
    return p


def test_tidy_hides_parameters_stderr_and_logs_and_scrubs_paths(tmp_path):
    p = present.tidy(_executed(tmp_path))
    nb = nbformat.read(p, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert "remove-cell" in tags[1] and "remove-cell" in tags[2]
    assert "remove-stderr" in tags[3]
    assert "hide-output" in tags[4]
    assert "hide-output" not in tags[5] and "hide-output" not in tags[6]
    # the mixed cell: the log collapsed in place, the table still shown, both kept
    first, table_out = nb.cells[5].outputs
    assert first["output_type"] == "display_data" and first["data"]["text/html"].startswith("<details")
    assert first["data"]["text/plain"].count("epoch") == 30
    assert "&lt;project&gt;/results/x.json" in table_out["data"]["text/html"]
    text = json.dumps(nb)
    assert str(paths.project_root()) not in text and sys.prefix not in text and str(paths.data_dir()) not in text
    assert "<site-packages>/tqdm/auto.py" in nb.cells[3].outputs[0]["text"]  # kept, scrubbed, off the page
    assert "<data>/xsum" in nb.cells[6].outputs[0]["text"]
    # a matplotlib repr as the cell's value is dropped, the figure and other values stay
    assert [o["output_type"] for o in nb.cells[7].outputs] == ["display_data"]
    assert nb.cells[8].outputs[0]["data"]["text/plain"] == "Text is not a plot"
    assert [o["output_type"] for o in nb.cells[9].outputs] == ["display_data"]  # displayed, then returned: once
    # tidying twice changes nothing
    before = p.read_text()
    present.tidy(p)
    assert p.read_text() == before


def test_scrub_leaves_urls_and_relative_paths_and_catches_other_absolute_paths():
    s = present.scrub("see https://example.org/home/x and results/gudn/gpu and /home/someone/data/a.txt", pairs=[])
    assert "https://example.org/home/x" in s and "results/gudn/gpu" in s and "/home/someone" not in s
    assert "…/a.txt" in s


def test_kernels_do_not_warn_about_ipywidgets():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        import importlib

        importlib.reload(notebook)
        warnings.warn("IProgress not found. Please update jupyter and ipywidgets.", UserWarning)
    assert not [w for w in caught if "IProgress" in str(w.message)]


# ----------------------------------------------------------------------------------------- the built book (slow)
CHROMIUM = os.environ.get("REPLICATE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: What the page text must not contain.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"[^\"]+\", line \d+", re.M)
WARNING = re.compile(r"\b[A-Z]\w*Warning\b:")
ABSOLUTE = re.compile(r"(?<![\w.~<>/:;\\-])/(?:home|Users|root|tmp|var|private|work|opt|mnt|srv|scratch|nix|usr|media)"
                      r"(?:/[\w.@+-]+)+")
PARAMETERS_CELL = re.compile(r"^\s*(profile = [\"']|overrides = \{)", re.M)

_PAGE_JS = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const col = article.getBoundingClientRect();
  const scroller = el => { for (let e = el.parentElement; e && e !== article; e = e.parentElement) {
      const o = getComputedStyle(e).overflowX; if (o === 'auto' || o === 'scroll') return e; } return null; };
  const tables = Array.from(article.querySelectorAll('table'));
  const over = [];
  for (const t of tables) {
    const r = (scroller(t) || t).getBoundingClientRect();
    if (r.width > 0 && r.right > col.right + 2) over.push((t.innerText || '').replace(/\\s+/g, ' ').slice(0, 60));
  }
  const grid = tables.map(t => ({
      head: Array.from(t.querySelectorAll('thead th')).map(h => h.innerText.trim()),
      body: Array.from(t.querySelectorAll('tbody td, tbody th')).map(c => c.innerText.trim())}));
  const imgs = Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
  return {over, grid, imgs, text: article.innerText, glance: !!article.querySelector('.replicate-glance')};
}"""


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


@pytest.fixture(scope="module")
def book_html(request) -> Path:
    """The built book's HTML folder: REPLICATE_BUILT_BOOK (a book built already, e.g. _build/html after `make
    book`), else the session's ``built_book`` (every chapter executed under smoke, then built)."""
    env = os.environ.get("REPLICATE_BUILT_BOOK")
    if env:
        assert (Path(env) / "index.html").is_file(), f"REPLICATE_BUILT_BOOK={env} holds no built book"
        return Path(env)
    return request.getfixturevalue("built_book")


@pytest.fixture(scope="module")
def pages(book_html):
    """Every HTML page of the built book, opened in headless Chromium: what the page shows."""
    built_book = book_html
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    import functools
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    out = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route(re.compile(r"^(?!http://127\.0\.0\.1)(?!data:)(?!blob:).*"), lambda r: r.abort())
            for p in _pages(built_book):
                rel = p.relative_to(built_book).as_posix()
                page.goto(f"{url}/{rel}", wait_until="networkidle")
                out[rel] = page.evaluate(_PAGE_JS)
            browser.close()
    finally:
        httpd.shutdown()
    return out


def _norm(cell: str) -> str:
    if cell in ("None", "nan", "NaN", "<NA>"):
        return ""
    try:
        return f"{float(cell.replace(',', '')):.3g}"
    except ValueError:
        return cell


def same_table(a: dict, b: dict) -> bool:
    """Two tables of a page are one table shown twice: the same named columns, and the cells of the smaller
    one (numbers compared at 3 significant digits, so a rounded copy and a raw one match) all in the other."""
    ha, hb = [h for h in a["head"] if h], [h for h in b["head"] if h]
    if not ha or ha != hb:
        return False
    ca, cb = sorted(map(_norm, a["body"])), sorted(map(_norm, b["body"]))
    small, big = (ca, cb) if len(ca) <= len(cb) else (cb, ca)
    if len(small) < 2:
        return False
    rest = list(big)
    for c in small:
        if c not in rest:
            return False
        rest.remove(c)
    return True


def test_same_table_finds_a_raw_copy_of_a_rounded_table_and_not_a_table_of_other_values():
    styled = {"head": ["model", "P@1"], "body": ["a", "46.33", "b", ""]}
    raw = {"head": ["", "model", "P@1"], "body": ["0", "a", "46.333333", "1", "b", "None"]}
    other = {"head": ["model", "P@1"], "body": ["a", "51.2", "b", ""]}
    assert same_table(styled, raw) and same_table(raw, styled)
    assert not same_table(styled, other)
    assert not same_table(styled, {**raw, "head": ["", "model", "P@5"]})


@pytest.mark.slow
def test_no_page_shows_a_table_twice(pages):
    bad = []
    for rel, p in pages.items():
        grid = p["grid"]
        for i in range(len(grid)):
            for j in range(i + 1, len(grid)):
                if same_table(grid[i], grid[j]):
                    bad.append(f"{rel}: the table with columns {grid[i]['head']} is shown twice")
    assert not bad, "\n".join(bad[:20])


@pytest.mark.slow
def test_no_table_overflows_its_column(pages):
    bad = [f"{rel}: a table wider than the text column, not in a scrolling box: {t!r}"
           for rel, p in pages.items() for t in p["over"]]
    assert not bad, "\n".join(bad[:20])


@pytest.mark.slow
def test_no_page_shows_a_traceback_a_warning_a_path_or_a_parameters_cell(pages):
    bad = []
    for rel, p in pages.items():
        for name, rx in (("a traceback", TRACEBACK), ("a warning", WARNING), ("an absolute path", ABSOLUTE),
                         ("a parameters cell", PARAMETERS_CELL)):
            m = rx.search(p["text"])
            if m:
                bad.append(f"{rel}: {name}: {p['text'][max(0, m.start() - 60): m.end() + 60]!r}")
    assert not bad, "\n".join(bad[:20])


@pytest.mark.slow
def test_every_figure_has_loaded(pages):
    bad = [f"{rel}: {src}" for rel, p in pages.items() for src in p["imgs"]]
    assert not bad, "images that did not load:\n" + "\n".join(bad[:20])


@pytest.mark.slow
def test_each_chapter_page_has_its_at_a_glance_block(pages):
    from replicate import chapters

    missing = [ch for ch in chapters.names() if not pages.get(f"book/{ch}/index.html", {}).get("glance")]
    assert not missing, f"chapter pages without the at-a-glance block (book/_generated/<chapter>_glance.md): {missing}"


# --------------------------------------------------------------------------------------------------- plots
def test_finish_labels_the_axes_and_names_the_profile():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from replicate import plots

    fig, ax = plt.subplots()
    plots.finish(ax, "Loss", "smoke", "step", "loss (nats)")
    assert ax.get_title() == "Loss  [profile: smoke]" and ax.get_xlabel() == "step"
    _, ax2 = plt.subplots()
    with pytest.raises(ValueError, match="y axis"):
        plots.finish(ax2, "Loss", "smoke", xlabel="step")
    plt.close("all")
