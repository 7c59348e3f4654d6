"""No hand-typed result numbers in the book's prose pages: a number that a page's text quotes is the paper's (in
the chapter's reported.yaml) or a parameter of one of its profiles; measured numbers come from records through
a generated include (book/_generated/) or a notebook, never typed."""
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from replicate import chapters, paths

NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*\.\d+|(?<![\w.])\d[\d,]*(?=\s*%)|(?<![\w.])\d[\d,]*\.?\d*(?=\s*(?:x|×)\b)")


def _prose(text: str) -> str:
    text = re.sub(r"```.*?```", " ", text, flags=re.S)  # code blocks and directives
    text = re.sub(r"`[^`]*`", " ", text)  # inline code
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.S)  # math
    text = re.sub(r"\[[^\]]*\]\([^)]*\)", " ", text)  # links
    return text


def _numbers_in(obj, out: set):
    if isinstance(obj, dict):
        for v in obj.values():
            _numbers_in(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _numbers_in(v, out)
    elif isinstance(obj, bool):
        pass
    elif isinstance(obj, (int, float)):
        out.add(float(obj))
    elif isinstance(obj, str):
        for m in re.findall(r"\d[\d,]*\.?\d*", obj):
            try:
                out.add(float(m.replace(",", "")))
            except ValueError:
                pass


def allowed(chapter: str | None) -> set[float]:
    out: set[float] = set()
    for ch in ([chapter] if chapter else chapters.names()):
        rep = yaml.safe_load((paths.project_root() / "src" / "replicate" / "papers" / ch / "reported.yaml").read_text())
        _numbers_in(rep, out)
        for prof in chapters.get(ch).profiles.values():
            _numbers_in(dataclasses.asdict(prof), out)
    return out


def pages():
    book = paths.project_root() / "book"
    out = [(book / "intro.md", None)]
    for ch in chapters.names():
        out.append((book / ch / "index.md", ch))
    return out


@pytest.mark.parametrize("page, chapter", pages(), ids=lambda v: getattr(v, "name", v))
def test_prose_quotes_no_measured_number(page: Path, chapter):
    ok = allowed(chapter)
    bad = []
    for i, line in enumerate(_prose(page.read_text()).splitlines(), 1):
        for m in NUMBER.findall(line):
            v = float(m.replace(",", ""))
            if v not in ok and abs(v) not in ok:
                bad.append(f"{page.name}:{i}: {m}")
    assert not bad, ("numbers in prose that are neither the paper's (reported.yaml) nor a profile's parameter; "
                     "quote measured numbers through a record (book/_generated include or a notebook): "
                     + "; ".join(bad[:20]))
