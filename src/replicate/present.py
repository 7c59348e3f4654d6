"""What a reader sees: an executed notebook tidied before the book renders it.

``tidy(path)`` rewrites an executed notebook (nbformat) in place so that its page reads like a results section
while the notebook keeps what it ran:

- the parameters cells (the source's ``parameters`` cell and the one papermill injects) are tagged
  ``remove-cell``: the page shows the profile through ``replicate.notebook.start`` instead;
- a cell with output on stderr (warnings, library logging) is tagged ``remove-stderr``: kept in the notebook,
  not on the page;
- a long run of printed lines (a training log) is collapsed: a cell that only prints is tagged ``hide-output``
  (the book's "show output" toggle); in a cell that also shows a table or a figure the log becomes a collapsed
  ``<details>`` block in place (its text stays the output's text/plain);
- a cell's value that the cell has displayed already (``display(df)`` then ``df``) is shown once;
- a matplotlib object's plain repr left as a cell's value (``Text(0.5, 1.0, '...')``) is dropped;
- absolute paths of the machine that built the book are replaced in every text output: the project folder by
  ``<project>``, installed packages by ``<site-packages>``, the Python installation by ``<python>``, the data
  cache by ``<data>``, the temporary folder by ``<tmp>``, the home folder by ``~``; any other absolute path
  under a machine-specific root (``ABSOLUTE_PATH``) keeps only its last component.
"""
from __future__ import annotations

import html
import os
import re
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Iterable

#: Printed lines above which a cell's stream output is collapsed.
LONG_LOG_LINES = 12
#: An absolute path under a root of a machine's own folders (home, temporary, installed software, data); URLs
#: and relative paths do not match.
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~<>/:;\\-])/(?:home|Users|root|tmp|var|private|work|opt|mnt|srv|scratch|nix|usr|media|data)"
    r"(?:/[\w.@+-]+)+/?")
TAGS_PARAMETERS = ("parameters", "injected-parameters")
#: The plain-text repr of a matplotlib object left as a cell's value (``Text(0.5, 1.0, 'title')``,
#: ``[<matplotlib.lines.Line2D at 0x7f...>]``): not a result, dropped from the page.
MPL_REPR = re.compile(r"^\s*(\[?<matplotlib\.|\[?Text\(|<Figure size |\(<Figure size |\(?np\.float64\()")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")


def _variants(p: str | os.PathLike | None) -> list[str]:
    if not p:
        return []
    out = {str(p).rstrip("/")}
    try:
        out.add(str(Path(p).resolve()).rstrip("/"))
    except OSError:
        pass
    return [v for v in out if v and v != "/"]


def prefixes(extra: Iterable[tuple[str, str | os.PathLike]] = ()) -> list[tuple[str, str]]:
    """(absolute prefix, placeholder) pairs, longest prefix first, for this machine."""
    from . import paths

    pairs: list[tuple[str, str | os.PathLike | None]] = list(extra)
    purelib = sysconfig.get_paths().get("purelib")
    platlib = sysconfig.get_paths().get("platlib")
    pairs += [(purelib, "<site-packages>"), (platlib, "<site-packages>")]
    pairs += [(paths.data_dir(), "<data>"), (paths.results_dir(), "<results>"), (paths.executed_dir(), "<executed>"),
              (paths.project_root(), "<project>")]
    pairs += [(sys.prefix, "<python>"), (sys.exec_prefix, "<python>"), (sys.base_prefix, "<python>")]
    pairs += [(tempfile.gettempdir(), "<tmp>"), ("/tmp", "<tmp>"), (Path.home(), "~")]
    out: dict[str, str] = {}
    for p, label in pairs:
        for v in _variants(p):
            out.setdefault(v, label)
    return sorted(out.items(), key=lambda kv: -len(kv[0]))


def _label(label: str, mime: str) -> str:
    if mime == "text/html":
        return html.escape(label)
    if mime == "text/markdown":
        return label.replace("<", "\\<").replace(">", "\\>")
    return label


def scrub(text: str, pairs: list[tuple[str, str]] | None = None, mime: str = "text/plain") -> str:
    """``text`` with this machine's absolute paths replaced by placeholders (see the module's docstring);
    ``mime`` says how the placeholder is written (escaped in HTML and markdown)."""
    for prefix, label in pairs if pairs is not None else prefixes():
        text = re.sub(re.escape(prefix) + r"(?![\w-])", _label(label, mime).replace("\\", "\\\\"), text)

    def last(m: re.Match) -> str:
        parts = [p for p in m.group(0).split("/") if p]
        return "…/" + parts[-1] + ("/" if m.group(0).endswith("/") else "")

    return ABSOLUTE_PATH.sub(last, text)


def _scrub_value(v, pairs, mime):
    if isinstance(v, str):
        return scrub(v, pairs, mime)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return [scrub(x, pairs, mime) for x in v]
    return v


def _add_tags(cell, *tags: str) -> None:
    have = list(cell.setdefault("metadata", {}).get("tags", []))
    for t in tags:
        if t not in have:
            have.append(t)
    cell["metadata"]["tags"] = have


def _text(v) -> str:
    return "".join(v) if isinstance(v, list) else (v or "")


def _mpl_repr(out) -> bool:
    data = out.get("data", {})
    return (out.get("output_type") == "execute_result" and set(data) == {"text/plain"}
            and bool(MPL_REPR.match(_text(data["text/plain"]))))


def _collapsed_log(text: str) -> dict:
    import nbformat

    n = text.count("\n") + (0 if text.endswith("\n") else 1)
    body = (f"<details class=\"replicate-log\"><summary>log ({n} lines)</summary>"
            f"<pre style=\"overflow-x:auto\">{html.escape(text)}</pre></details>")
    return nbformat.v4.new_output("display_data", data={"text/html": body, "text/plain": text})


def tidy_notebook(nb, pairs: list[tuple[str, str]] | None = None):
    """Tidy an nbformat notebook in place (see the module's docstring); returns it."""
    pairs = prefixes() if pairs is None else pairs
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if any(t in tags for t in TAGS_PARAMETERS):
            _add_tags(cell, "remove-cell")
        if cell.get("cell_type") != "code":
            continue
        outputs = [o for o in cell.get("outputs", []) if not _mpl_repr(o)]
        shown = [o.get("data") for o in outputs if o.get("output_type") == "display_data"]
        # a value displayed and then returned as the cell's value (display(df); df): shown once
        outputs = [o for o in outputs if not (o.get("output_type") == "execute_result" and o.get("data") in shown)]
        cell["outputs"] = outputs
        for out in outputs:
            kind = out.get("output_type")
            if kind == "stream":
                out["text"] = scrub(_text(out.get("text")), pairs)
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                for mime in list(data):
                    if mime.startswith("text/") or mime == "application/json":
                        data[mime] = _scrub_value(data[mime], pairs, mime)
            elif kind == "error":
                out["evalue"] = scrub(out.get("evalue", ""), pairs)
                out["traceback"] = [scrub(t, pairs) for t in out.get("traceback", [])]
        if any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in outputs):
            _add_tags(cell, "remove-stderr")
        stdout = [o for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"]
        lines = sum(_text(o.get("text")).count("\n") for o in stdout)
        if lines <= LONG_LOG_LINES:
            continue
        others = [o for o in outputs if o.get("output_type") != "stream"]
        if not others:
            _add_tags(cell, "hide-output")
        else:  # a log before a table or a figure: collapse the log where it is, keep the rest in view
            cell["outputs"] = [_collapsed_log(_text(o.get("text"))) if o in stdout and
                               _text(o.get("text")).count("\n") > LONG_LOG_LINES // 2 else o for o in outputs]
    return nb


def tidy(path: str | os.PathLike) -> Path:
    """Tidy the executed notebook at ``path`` in place before the book renders it; returns the path."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    extra = [(path.parent, "<executed>")]
    tidy_notebook(nb, prefixes(extra))
    nbformat.write(nb, path)
    return path
