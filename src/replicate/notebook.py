"""Small helpers that keep notebooks thin: the banner with the profile in force, tables that say which
profile produced them, and the plotting style."""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from .config import as_dict, describe

PROFILE_NOTES = {
    "smoke": "offline, CPU, generated or package-shipped data, small models: checks the machinery, not the paper's numbers",
    "gpu": "one GPU, minutes: a larger run on data at hand",
    "paper": "the paper's own setting: real data and checkpoints, needs a GPU",
}


def start(chapter: str, profile: str, overrides: Mapping[str, Any] | None = None, show: bool = True):
    """Resolve and validate a notebook's parameters; print which profile is in force. Returns the params."""
    from . import chapters, plots

    ch = chapters.get(chapter)
    params = ch.resolve(profile, overrides or {})
    plots.style()
    if show:
        from IPython.display import Markdown, display

        note = PROFILE_NOTES.get(profile, "")
        changed = {k: v for k, v in as_dict(params).items() if k in (overrides or {})}
        extra = f" Overrides: `{changed}`." if changed else ""
        display(Markdown(f"**Profile in force: `{profile}`** ({note}).{extra}"))
        rows = pd.DataFrame(describe(params), columns=["parameter", "type", "value"]).set_index("parameter")
        rows["value"] = rows["value"].map(str)
        display(rows.T if len(rows) < 4 else rows)
    return params


def table(df: pd.DataFrame, title: str, profile: str | None = None, floatfmt: str = "{:.4g}", note: str = ""):
    """Display ``df`` under a bold title that names the profile (and an optional note)."""
    from IPython.display import Markdown, display

    tag = f" (profile `{profile}`)" if profile else ""
    display(Markdown(f"**{title}**{tag}" + (f"  \n{note}" if note else "")))
    fmt = {c: (lambda v, f=floatfmt: "" if v is None or (isinstance(v, float) and v != v) else f.format(v))
           for c in df.columns if pd.api.types.is_float_dtype(df[c]) or df[c].map(lambda v: isinstance(v, float)).any()}
    display(df.style.format(fmt, na_rep=""))
    return df
