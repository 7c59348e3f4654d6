"""Plotting style and helpers shared by the chapters."""
from __future__ import annotations

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)


def style() -> None:
    """Seaborn's clean style, compact figures for the book."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    matplotlib.rcParams.update({"figure.figsize": (6.4, 4.0), "axes.titlesize": "medium", "savefig.bbox": "tight"})


def profile_title(ax, title: str, profile: str | None) -> None:
    ax.set_title(f"{title}  [profile: {profile}]" if profile else title)
