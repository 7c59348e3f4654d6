"""Plotting style and helpers shared by the chapters: every figure of the book has axis labels (with units)
and names the profile that produced it in its title."""
from __future__ import annotations

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)


def style() -> None:
    """Seaborn's clean style, compact figures for the book."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    matplotlib.rcParams.update({"figure.figsize": (6.4, 4.0), "axes.titlesize": "medium", "savefig.bbox": "tight"})


def profile_title(ax, title: str, profile: str | None) -> None:
    """Set ``ax``'s title to ``title`` followed by the profile (returns None, so a cell that ends with it shows
    no repr)."""
    ax.set_title(f"{title}  [profile: {profile}]" if profile else title)


def finish(ax, title: str, profile: str | None, xlabel: str | None = None, ylabel: str | None = None) -> None:
    """Label a figure's axes (give the unit, e.g. "step", "loss (nats)", "P@1 (%)") and title it with the profile.
    An axis left without a label is an error: a reader cannot read a figure whose axes are not named."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    missing = [name for name, get in (("x", ax.get_xlabel), ("y", ax.get_ylabel)) if not get()]
    if missing:
        raise ValueError(f"figure {title!r}: no label on the {' and '.join(missing)} axis")
    profile_title(ax, title, profile)
