"""Small helpers that keep notebooks thin and their pages readable: the banner with the profile in force and a
collapsed block of the parameters that differ from the paper's (``start``), tables shown once, rounded as asked
and scrolling inside their own box when wide (``table``), and the one way to show committed GPU records
(``committed``)."""
from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import warnings
from typing import Any, Callable, Mapping

import pandas as pd

# tqdm.auto warns "IProgress not found" when imported in a kernel without ipywidgets (transformers and datasets
# import it); progress bars are off in executed notebooks (REPLICATE_PROGRESS=0), so the warning says nothing.
warnings.filterwarnings("ignore", message="IProgress not found")

PROFILE_NOTES = {
    "smoke": "offline, CPU, generated or package-shipped data, small models: checks the machinery, not the paper's numbers",
    "gpu": "one GPU, minutes: a larger run on data at hand",
    "paper": "the paper's own setting: real data and checkpoints, needs a GPU",
}

#: The box every table is displayed in: as wide as the text column at most, scrolling sideways inside itself.
BOX_STYLE = "overflow-x:auto;max-width:100%;margin-bottom:1em"


def _display_html(body: str, plain: str) -> None:
    from IPython.display import display

    display({"text/html": body, "text/plain": plain}, raw=True)


def _inline_md(text: str) -> str:
    """The little markdown that titles and notes use (`code`, **bold**, *emphasis*) as escaped HTML."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)
    return out.replace("\n", "<br>")


def _value(v: Any, limit: int = 80) -> str:
    s = str(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _param_rows(params) -> tuple[list[dict], list[dict]]:
    """(differing, all): one dict per field with name, value, paper, source, help."""
    from .config import _jsonish

    diff, every = [], []
    for f in dataclasses.fields(params):
        meta = f.metadata or {}
        ours = getattr(params, f.name)
        row = {"name": f.name, "value": ours, "help": meta.get("help", ""), "source": meta.get("source", "")}
        if "paper" in meta:
            row["paper"] = meta["paper"]
            if _jsonish(ours) != _jsonish(meta["paper"]):
                diff.append(row)
        every.append(row)
    return diff, every


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th style=\"text-align:left\">{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f"<div class=\"replicate-table\" style=\"{BOX_STYLE}\"><table class=\"replicate-params\">"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def parameters_block(params, profile: str) -> tuple[str, str]:
    """The collapsed parameter block of a notebook (HTML, plain text): the profile, the parameters whose
    declared paper value differs from this profile's (with the paper's value and where it says so), and every
    parameter in a second collapsed block."""
    diff, every = _param_rows(params)
    declared = sum("paper" in r for r in every)
    code = lambda v: f"<code>{html.escape(_value(v))}</code>"  # noqa: E731
    if diff:
        summary = (f"Parameters of profile <code>{html.escape(profile)}</code>: {len(diff)} of {len(every)} differ "
                   f"from the paper's")
        inner = _html_table(["parameter", profile, "the paper", "source", "what it is"],
                            [[code(r["name"]), code(r["value"]), code(r["paper"]), html.escape(r["source"]),
                              _inline_md(r["help"])] for r in diff])
    elif declared:
        summary = (f"Parameters of profile <code>{html.escape(profile)}</code>: all {declared} whose paper value is "
                   f"declared match the paper's")
        inner = ""
    else:
        summary = (f"Parameters of profile <code>{html.escape(profile)}</code> ({len(every)}; the paper's values are "
                   f"not declared with them)")
        inner = ""
    full = _html_table(["parameter", "value", "what it is"],
                       [[code(r["name"]), code(r["value"]), _inline_md(r["help"])] for r in every])
    body = (f"<details class=\"replicate-params\"><summary>{summary}</summary>{inner}"
            f"<details><summary>All {len(every)} parameters</summary>{full}</details></details>")
    plain = f"profile {profile}: " + (
        "; ".join(f"{r['name']}={_value(r['value'])} (paper: {_value(r['paper'])}, {r['source']})" for r in diff)
        if diff else "no parameter differs from a declared paper value")
    return body, plain


def start(chapter: str, profile: str, overrides: Mapping[str, Any] | None = None, show: bool = True):
    """Resolve and validate a notebook's parameters; say which profile is in force and show, collapsed, the
    parameters that differ from the paper's. Returns the params."""
    from IPython.display import Markdown, display

    from . import chapters, plots

    ch = chapters.get(chapter)
    params = ch.resolve(profile, overrides or {})
    plots.style()
    if show:
        note = PROFILE_NOTES.get(profile, "")
        changed = {k: getattr(params, k) for k in (overrides or {})}
        extra = f" Overrides: `{changed}`." if changed else ""
        display(Markdown(f"**Profile in force: `{profile}`**" + (f" ({note})." if note else ".") + extra))
        _display_html(*parameters_block(params, profile))
    return params


def _formatter(fmt: str) -> Callable[[Any], str]:
    def f(v: Any) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        if isinstance(v, float):
            return fmt.format(v)
        return str(v)

    return f


def table(df: pd.DataFrame, title: str, profile: str | None = None, floatfmt: str | Mapping[str, str] = "{:.4g}",
          note: str = "") -> None:
    """Display ``df`` once, under a bold title that names the profile (and an optional note), its floats
    formatted by ``floatfmt`` (one format, or a format per column with "{:.4g}" for the rest), empty cells for
    None/NaN, inside a box that scrolls sideways when the table is wider than the text column. Returns None, so
    a call that ends a cell does not show the table a second time."""
    per_col = dict(floatfmt) if isinstance(floatfmt, Mapping) else {}
    default = floatfmt if isinstance(floatfmt, str) else "{:.4g}"
    fmt = {c: _formatter(per_col.get(c, default)) for c in df.columns}
    small = ";font-size:0.85em" if len(df.columns) > 6 else ""  # a wide table: smaller type before it scrolls
    styler = df.style.format(fmt, na_rep="").set_table_attributes(
        f'class="dataframe replicate" style="margin-left:0{small}"')
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        styler = styler.hide(axis="index")
    styler = styler.set_uuid("rt" + hashlib.sha1(repr((title, list(map(str, df.columns)))).encode()).hexdigest()[:8])
    tag = f" (profile `{profile}`)" if profile else ""
    head = f"<p class=\"replicate-table-title\"><strong>{_inline_md(title)}</strong>{_inline_md(tag)}</p>"
    tail = (f"<p class=\"replicate-table-note\" style=\"font-size:0.9em\">{_inline_md(note)}</p>" if note else "")
    body = f"<div class=\"replicate-table\" style=\"{BOX_STYLE}\">{head}{styler.to_html()}{tail}</div>"
    plain_df = df.copy()
    for c in plain_df.columns:
        plain_df[c] = plain_df[c].map(fmt[c])
    plain = f"{title}{tag}\n{plain_df.to_string(index=not (isinstance(df.index, pd.RangeIndex) and df.index.name is None))}"
    _display_html(body, plain + (f"\n{note}" if note else ""))
    return None


def provenance_lines(records: list[Mapping[str, Any]]) -> list[str]:
    """One line per distinct provenance (profile, device, date, commit, stale or not), with a count."""
    from .results import provenance

    seen: dict[str, int] = {}
    for r in records:
        line = provenance(r)
        seen[line] = seen.get(line, 0) + 1
    return [(f"{n} records: " if n > 1 else "") + line for line, n in seen.items()]


def committed(chapter: str, profile: str, render: Callable[[list[dict]], Any], experiment: str | None = None) -> None:
    """The one way to show records committed with the project (the GPU runs): where they came from (profile,
    device, date, commit; "code changed since" for a record the current code would not make), then
    ``render(records)`` (which draws its tables and figures). Says so in one line when none are committed."""
    from IPython.display import Markdown, display

    from .results import committed_records

    records = committed_records(chapter, profile, experiment)
    what = f"`{experiment}` records" if experiment else "records"
    if not records:
        display(Markdown(f"*No committed `{profile}` {what} of this chapter yet* (`results/{chapter}/{profile}/` "
                         f"holds none): they are made by `replicate run {chapter} --profile {profile}` on a GPU "
                         f"and committed."))
        return None
    lines = provenance_lines(records)
    display(Markdown(f"Committed `{profile}` {what} ({len(records)}), made by:\n\n"
                     + "\n".join(f"- {line}" for line in lines)))
    out = render(records)
    if out is not None:
        if isinstance(out, pd.DataFrame):
            table(out, f"Committed {profile} {what.replace('`', '')}", profile)
        else:
            display(out)
    return None
