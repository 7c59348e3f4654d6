"""Where things live: the project root, the results store, the executed notebooks and the data cache.

Every location can be moved by an environment variable so that tests and batch runs never touch a user's
files: REPLICATE_ROOT, REPLICATE_RESULTS, REPLICATE_EXECUTED, REPLICATE_DATA.
"""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout that holds ``_config.yml`` (the book) and ``pyproject.toml``."""
    env = os.environ.get("REPLICATE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for p in [Path.cwd(), *Path.cwd().parents, *here.parents]:
        if (p / "pyproject.toml").is_file() and (p / "_config.yml").is_file():
            return p
    return Path.cwd()


def results_dir() -> Path:
    """Where result records are written and re-used (default ``results/`` of the project)."""
    env = os.environ.get("REPLICATE_RESULTS")
    return Path(env).resolve() if env else project_root() / "results"


def committed_results_dir() -> Path:
    """The records committed with the project (GPU runs among them); read-only for the book."""
    return project_root() / "results"


def executed_dir() -> Path:
    """Where executed notebooks go; the book's table of contents points here."""
    env = os.environ.get("REPLICATE_EXECUTED")
    return Path(env).resolve() if env else project_root() / "book" / "executed"


def data_dir() -> Path:
    """The one data cache (REPLICATE_DATA, default ~/.cache/replicate)."""
    env = os.environ.get("REPLICATE_DATA")
    return Path(env).expanduser().resolve() if env else Path.home() / ".cache" / "replicate"


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def checkpoint_path(chapter: str, profile: str, name: str) -> Path:
    """Where a training run keeps its checkpoint: the data cache, never the committed results/."""
    return data_dir() / "checkpoints" / chapter / profile / f"{name}.pt"
