"""The chapter's real sources: the Debian package descriptions as document/summary pairs (on records in the
format of `replicate data fetch debian-packages`) and the real XSum test sample (on a fixture in its format, and
on the real files when the project's shared data is here)."""
import dataclasses
import json
import lzma

import pytest

from replicate import data
from replicate.papers.t5_xsum import data as D
from replicate.papers.t5_xsum import experiment as E

LIB = "libfoo is a library for reading foo files quickly and safely."


def _records():
    recs = [  # in replicate.debian's format (tags and section unused here)
        {"package": "libfoo1", "summary": "library for foo files", "description": LIB + "\n\nThis package holds the runtime."},
        {"package": "libfoo-dev", "summary": "library for foo files - development files",
         "description": LIB + "\n\nThis package holds the headers."},
        {"package": "libfoo-doc", "summary": "library for foo files - documentation",
         "description": LIB + "\n\nThis package holds the documentation."},
        {"package": "libfoo-dbg", "summary": "library for foo files - development files",
         "description": LIB + "\n\nThis package holds the headers."},  # the -dev pair again: a duplicate
        {"package": "tiny", "summary": "a tiny tool", "description": "Too short."},
        {"package": "empty", "summary": "no long description", "description": ""},
    ]
    for i in range(60):
        recs.append({"package": f"tool{i}", "summary": f"command-line tool number {i}",
                     "description": f"Tool {i} converts between the formats number {i} and {i + 1} for everyday use, "
                             f"with a small command-line interface."})
    return [{"tags": [], "section": "misc", **r} for r in recs]


def test_debian_pairs_deduplicate_filter_and_split_by_group():
    splits, counts = D.debian_pairs(_records())
    assert counts["records"] == 66 and counts["duplicates"] == 1 and counts["too_short"] == 1
    assert counts["no_long_description"] == 1 and counts["kept"] == 63
    assert sum(len(v) for v in splits.values()) == 63 == sum(counts[s] for s in D.SPLITS)
    where = {r["id"]: s for s, rs in splits.items() for r in rs}
    # the libfoo packages open with the same paragraph: one group, one split; of the two identical pairs the first
    # package by name is kept
    assert len({where["libfoo1"], where["libfoo-dbg"], where["libfoo-doc"]}) == 1
    assert "libfoo-dev" not in where and "tiny" not in where
    assert all(set(r) == {"document", "summary", "id"} for rs in splits.values() for r in rs)
    assert len(splits["train"]) > len(splits["test"])
    # deterministic, whatever the order of the records
    again, _ = D.debian_pairs(list(reversed(_records())))
    assert again == splits


def test_debian_summaries_builder_writes_what_load_xsum_reads(tmp_path):
    packages = tmp_path / "debian-packages" / "packages.jsonl.xz"
    packages.parent.mkdir()
    with lzma.open(packages, "wt") as f:
        for r in _records():
            f.write(json.dumps(r) + "\n")
    src = dataclasses.replace(data.source("debian-summaries"), options={"packages": str(packages)})
    out = tmp_path / "built"
    out.mkdir()
    D.build_debian_summaries(src, out)
    meta = json.loads((out / "counts.json").read_text())
    assert meta["counts"]["kept"] == 63
    assert set(meta["sha256"]) == {f"{s}.jsonl.xz" for s in D.SPLITS}
    assert meta["sha256"] == D.dataset_sha256(out, "debian-summaries")
    ds = D.load_xsum(str(out))
    assert sum(len(ds[s]) for s in D.SPLITS) == 63
    assert data.missing("debian-summaries", out) is None


def _sample(folder, ids, test_ids):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / D.XSUM_SAMPLE_FILE, "w") as f:
        for i in ids:
            f.write(json.dumps({"document": f"First sentence {i}.\nSecond, Mr. Smith said.", "summary": f"S {i}.",
                                "id": i}) + "\n")
    (folder / D.XSUM_SPLIT_FILE).write_text(json.dumps({"train": ["1"], "validation": ["2"], "test": test_ids}))


def test_xsum_sample_loader_checks_the_official_test_ids(tmp_path):
    _sample(tmp_path / "ok", ["10", "11"], ["10", "11", "12"])
    s = D.load_xsum_sample(tmp_path / "ok")
    assert [r["id"] for r in s["test"]] == ["10", "11"] and s["split_sizes"] == {"train": 1, "validation": 1, "test": 3}
    assert set(s["sha256"]) == {D.XSUM_SAMPLE_FILE, D.XSUM_SPLIT_FILE}
    _sample(tmp_path / "bad", ["10", "99"], ["10"])
    with pytest.raises(ValueError, match="not in the official XSum test split"):
        D.load_xsum_sample(tmp_path / "bad")
    # XSum stores a sentence per line: the baselines split there, not at "Mr."
    base = E.extractive(s["test"], 0, by_line=True)
    assert base["Lead-1"]["rouge1/fmeasure"] > 0


@pytest.mark.skipif(not (D.SHARED_XSUM_SAMPLE / D.XSUM_SAMPLE_FILE).is_file(), reason="shared XSum sample absent")
def test_real_xsum_sample_is_official_test_data(tmp_path):
    src = data.source("xsum-sample")
    D.build_xsum_sample(src, tmp_path)  # the builder checks each sha256 against the manifest
    s = D.load_xsum_sample(tmp_path)
    assert len(s["test"]) == 1000 and s["split_sizes"] == D.XSUM_SIZES
    assert s["sha256"] == dict(src.options["sha256"])
