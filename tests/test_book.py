"""Execute every chapter under `smoke` with papermill and build the HTML book with warnings as errors.

Runs in the session's fresh results folder: nbval over the notebooks later re-uses the records computed here, so
each experiment is computed once per test session, never taken from an older run."""
import re
import pytest

from replicate import chapters

# What each chapter's pages must show (the tables and figures the paper is known for), as text in the HTML.
EXPECT = {
    "neural_mechanics": ["residual", "theory", "relative error", "steps/s"],
    "gudn": ["P@1", "Table 3", "one-hot", "feature loss"],
    "t5_xsum": ["ROUGE", "Lead-3", "Random-3", "sweep", "typo", "attention"],
    "mbert_lang": ["BLEU-1", "convert rate", "Tatoeba", "BUCC", "Table 5", "Table 6", "Table 7", "POS", "LAS", "tokens/s"],
    "causal_shufflenet": ["top-1", "top-5", "confusion", "Table 2", "streaming"],
}


@pytest.mark.slow
def test_every_chapter_is_in_the_book_with_tables_and_figures(built_book):
    assert (built_book / "index.html").is_file()
    for name in chapters.names():
        assert (built_book / "book" / name / "index.html").is_file(), f"{name}: no chapter page"
        text = ""
        for nb in chapters.get(name).notebooks:
            page = built_book / "book" / "executed" / name / f"{nb}.html"
            assert page.is_file(), f"{name}/{nb}: no page"
            t = page.read_text()
            assert "Profile in force" in t and "smoke" in t, f"{name}/{nb}: the profile is not shown"
            text += t
        assert "<table" in text, f"{name}: no table"
        assert re.search(r"<img [^>]*src=\"[^\"]+\.(png|svg)\"", text), f"{name}: no figure"
        for word in EXPECT.get(name, []):
            assert word.lower() in text.lower(), f"{name}: {word!r} not found in the chapter"


@pytest.mark.slow
def test_images_referenced_by_the_book_exist(built_book):
    for page in built_book.rglob("*.html"):
        for src in re.findall(r"<img [^>]*src=\"([^\"]+)\"", page.read_text()):
            if src.startswith(("http:", "https:", "data:")):
                continue
            assert (page.parent / src).resolve().is_file(), f"{page}: missing image {src}"
