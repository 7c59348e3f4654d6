"""replicate.debian on fixtures in the exact formats of apt's lists and a Debian mirror.

tests/fixtures/debian/Translation-en and Packages are paragraphs copied unchanged from Debian 12.15 (bookworm) main
(DFSG-free text); make_fixtures.py writes them lz4-compressed as apt stores them, gz-compressed, and as a mirror's
.xz files with a Release file listing their sha256.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import lzma
import os
import shutil
from pathlib import Path

import pytest

from replicate import data, debian

FIX = Path(__file__).parent / "fixtures" / "debian"
PREFIX = "fixture.example_debian_dists_bookworm"


def _lists(folder: str = "lists") -> debian.Lists:
    return debian.find_lists(FIX / folder)


def _by_name(records):
    return {r["package"]: r for r in records}


def test_parse_multiline_description_and_md5():
    paras = debian.read_list(FIX / "Translation-en")
    gdbm = next(p for p in paras if p["Package"] == "gdbmtool")
    summary, long = debian.split_description(gdbm["Description-en"])
    assert summary == "GNU dbm database routines (command line tools)"
    assert long.startswith("GNU dbm ('gdbm') is a library of database functions that use extendible\nhashing")
    # " ." lines become blank lines; the bullets' own indentation (a verbatim line) stays after one space is removed
    assert "\n\nThe basic use of 'gdbm'" in long
    assert "\n\n * gdbm_dump -- dump database content" in long
    assert not any(line.startswith("  ") for line in long.split("\n") if not line.startswith(" *"))
    # the first line carries a trailing blank in the real list: Description-md5 hashes it, so the parser keeps it
    assert gdbm["Description-en"].split("\n")[0].endswith(" ")
    for p in paras:
        assert debian.description_md5(p["Description-en"]) == p["Description-md5"], p["Package"]


def test_tag_continuation_lines():
    pk = {p["Package"]: p for p in debian.read_list(FIX / "Packages")}
    assert "\n" in pk["0ad"]["Tag"]  # continued over indented lines in the file
    tags = debian.split_tags(pk["0ad"]["Tag"])
    assert tags == ["game::strategy", "interface::graphical", "interface::x11", "role::program", "uitoolkit::sdl",
                    "uitoolkit::wxwidgets", "use::gameplaying", "x11::application"]
    assert debian.facet("works-with::image:raster") == "works-with"
    assert debian.split_tags(None) == []


@pytest.mark.parametrize("folder", ["lists", "gz"])
def test_join_lz4_and_gz(folder):
    if folder == "lists" and not debian.decompressors(".lz4"):
        pytest.skip("no lz4 reader here (apt-helper, lz4 or python lz4)")
    records, counts = debian.join(_lists(folder))
    names = [r["package"] for r in records]
    assert names == sorted(names) == ["0ad", "0ad-data", "0xffff", "atitvout", "default-jre", "gdbmtool"]
    r = _by_name(records)
    assert r["0ad"]["section"] == "games" and "use::gameplaying" in r["0ad"]["tags"]
    assert r["0ad-data"]["tags"] == ["role::app-data"]
    assert r["0ad-data"]["description"].endswith("\n\nThis package contains the main data files required by 0 A.D.")
    # only in Translation-en (built for other architectures): kept, without tags or section
    assert r["atitvout"]["tags"] == [] and r["atitvout"]["section"] is None and not r["atitvout"]["in_packages"]
    # nine Translation-en paragraphs for default-jre: the join takes the one whose md5 Packages names (the last)
    assert r["default-jre"]["description_md5"] == "e747dcb24f92ffabcbdfba1db72f26e8"
    assert counts["packages_with_several_descriptions"] == 1
    assert counts["tagged"] == 5 and counts["records"] == 6 and counts["description_md5_mismatch"] == 0


def test_lz4_routes_agree():
    routes = debian.decompressors(".lz4")
    if not routes:
        pytest.skip("no lz4 reader here")
    path = next((FIX / "lists").glob("*Translation-en.lz4"))
    plain = (FIX / "Translation-en").read_bytes()
    for route in routes:
        assert debian.read_bytes(path, route) == plain, route


def test_snapshot_is_deterministic_and_atomic(tmp_path, monkeypatch):
    a = debian.snapshot(tmp_path / "a", _lists("gz"))
    b = debian.snapshot(tmp_path / "b", _lists("gz"))
    assert (tmp_path / "a" / "packages.jsonl.xz").read_bytes() == (tmp_path / "b" / "packages.jsonl.xz").read_bytes()
    assert a == b
    src = json.loads((tmp_path / "a" / "SOURCE.json").read_text())
    assert src["files"]["packages.jsonl.xz"]["sha256"] == data.sha256_of(tmp_path / "a" / "packages.jsonl.xz")
    assert [x["matches_release"] for x in src["lists"]] == [True, True]
    assert src["lists"][0]["release"]["Date"] == "Sat, 11 Jul 2026 10:16:37 UTC"
    assert src["counts"]["records"] == 6
    records = debian.load(tmp_path / "a")
    assert [r["package"] for r in records] == [r["package"] for r in debian.join(_lists("gz"))[0]]
    # the same corpus from lz4 lists and from a mirror's xz files: the same bytes
    if debian.decompressors(".lz4"):
        debian.snapshot(tmp_path / "c", _lists("lists"))
        assert (tmp_path / "c" / "packages.jsonl.xz").read_bytes() == (tmp_path / "a" / "packages.jsonl.xz").read_bytes()

    # a failure while writing leaves the old snapshot in place and no temporary file behind
    old = (tmp_path / "a" / "packages.jsonl.xz").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(debian.lzma, "compress", lambda body, preset: b"partial" + boom())
    with pytest.raises(RuntimeError):
        debian.snapshot(tmp_path / "a", _lists("gz"))
    assert (tmp_path / "a" / "packages.jsonl.xz").read_bytes() == old
    monkeypatch.undo()
    real_replace = os.replace

    def fail_replace(src, dst):
        if str(dst).endswith("packages.jsonl.xz"):
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(debian.os, "replace", fail_replace)
    with pytest.raises(OSError):
        debian.snapshot(tmp_path / "a", _lists("gz"))
    assert (tmp_path / "a" / "packages.jsonl.xz").read_bytes() == old
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["SOURCE.json", "packages.jsonl.xz"]


def test_load_rejects_a_changed_snapshot(tmp_path):
    debian.snapshot(tmp_path, _lists("gz"))
    path = tmp_path / "packages.jsonl.xz"
    path.write_bytes(lzma.compress(b'{"package": "x"}\n'))
    with pytest.raises(debian.ListError, match="does not match the sha256"):
        debian.load(tmp_path)


def _copy(tmp_path: Path, folder: str = "gz") -> Path:
    dest = tmp_path / "lists"
    shutil.copytree(FIX / folder, dest)
    return dest


def test_missing_list_is_one_clear_line(tmp_path):
    lists = _copy(tmp_path)
    (lists / f"{PREFIX}_main_binary-amd64_Packages.gz").unlink()
    with pytest.raises(debian.ListError) as e:
        debian.find_lists(lists)
    msg = str(e.value)
    assert "\n" not in msg and "no bookworm main binary-amd64_Packages list" in msg and "apt-get update" in msg
    with pytest.raises(debian.ListError, match="suites there: bookworm"):
        debian.find_lists(lists)
    with pytest.raises(debian.ListError, match="does not exist"):
        debian.read_bytes(lists / "nothing.xz")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_deb822", "stale"])
def test_corrupt_list_is_one_clear_line(tmp_path, damage):
    lists = _copy(tmp_path)
    path = lists / f"{PREFIX}_main_i18n_Translation-en.gz"
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "not_deb822":
        path.write_bytes(gzip.compress(b"<html>404 not found</html>\n"))
    else:  # a valid list whose text is not the one its Release lists
        text = gzip.decompress(raw).replace(b"Real-time strategy", b"Turn-based strategy")
        path.write_bytes(gzip.compress(text))
    with pytest.raises(debian.ListError) as e:
        debian.snapshot(tmp_path / "out", debian.find_lists(lists))
    assert "\n" not in str(e.value) and path.name in str(e.value)
    assert not (tmp_path / "out" / "packages.jsonl.xz").exists()


def test_corrupt_lz4_is_one_clear_line(tmp_path):
    if not debian.decompressors(".lz4"):
        pytest.skip("no lz4 reader here")
    lists = _copy(tmp_path, "lists")
    path = lists / f"{PREFIX}_main_binary-amd64_Packages.lz4"
    path.write_bytes(path.read_bytes()[:300])
    for route in debian.decompressors(".lz4"):
        with pytest.raises(debian.ListError) as e:
            debian.read_list(path, route=route)
        assert "\n" not in str(e.value) and "corrupt" in str(e.value), route


def test_build_from_a_mirror_checks_release_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "cache"))
    mirror = tmp_path / "mirror"
    shutil.copytree(FIX / "mirror", mirror)
    src = dataclasses.replace(data.source("debian-packages"),
                              options={"from": "mirror", "mirror": mirror.as_uri(), "suite": "bookworm"})
    out = debian.build(src, tmp_path / "built")
    assert out["origin"].startswith("Debian mirror file://")
    assert [x["matches_release"] for x in out["lists"]] == [True, True]
    assert [r["package"] for r in debian.load(tmp_path / "built")][:2] == ["0ad", "0ad-data"]
    # the same corpus as from apt's gz lists
    debian.snapshot(tmp_path / "gz", _lists("gz"))
    assert (tmp_path / "gz" / "packages.jsonl.xz").read_bytes() == (tmp_path / "built" / "packages.jsonl.xz").read_bytes()
    # a mirror file that does not match its Release is refused (download() discards it)
    shutil.rmtree(tmp_path / "cache")
    xz = mirror / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages.xz"
    xz.write_bytes(lzma.compress(b"Package: x\n"))
    with pytest.raises(debian.ListError, match="sha256 mismatch"):
        debian.build(src, tmp_path / "built2")


def test_build_auto_falls_back_and_lists_only_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    src = dataclasses.replace(data.source("debian-packages"), options={"from": "lists", "lists_dir": str(empty)})
    with pytest.raises(debian.ListError, match="no bookworm main"):
        debian.build(src, tmp_path / "x")
    src = dataclasses.replace(src, options={"from": "auto", "lists_dir": str(empty),
                                            "mirror": (FIX / "mirror").as_uri()})
    assert debian.build(src, tmp_path / "y")["counts"]["records"] == 6


def test_data_fetch_builds_into_the_cache(tmp_path, monkeypatch):
    if not getattr(data.Source, "__dataclass_fields__", {}).get("builder"):
        pytest.skip("replicate.data has no builder hook")
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "cache"))
    real = data.source("debian-packages")
    monkeypatch.setattr(data, "source", lambda name: dataclasses.replace(
        real, options={"from": "lists", "lists_dir": str(FIX / "gz"), "mirror": (FIX / "mirror").as_uri()}))
    folder = data.fetch("debian-packages")
    assert folder == tmp_path / "cache" / "debian-packages"
    assert sorted(p.name for p in folder.iterdir()) == ["SOURCE.json", "packages.jsonl.xz", "vocabulary.json"]
    assert data.require("debian-packages") == folder
    assert len(debian.load(folder)) == 6
    assert debian.load_vocabulary(folder)["tags"]["use::gameplaying"]["title"] == "Game Playing"


def test_vocabulary_from_the_debtags_package(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "cache"))
    mirror = tmp_path / "mirror"
    shutil.copytree(FIX / "mirror", mirror)
    vocab, origin = debian.fetch_vocabulary(_lists("gz"), mirror.as_uri())
    assert vocab["tags"]["hardware::usb"] == {"title": "USB", "description": "Universal Serial Bus"}
    assert vocab["facets"]["game"]["title"] == "Games and Amusement"
    assert len(vocab["tags"]) == 8 and len(vocab["facets"]) == 3
    assert origin["version"] == "2.1.5" and origin["url"].endswith("pool/main/d/debtags/debtags_2.1.5_all.deb")
    out = debian.snapshot(tmp_path / "s", _lists("gz"), vocabulary=(vocab, origin))
    # tags our packages carry that the (fixture) vocabulary lacks are listed, not hidden
    assert "game::strategy" not in out["files"]["vocabulary.json"]["tags_used_without_an_entry"]
    assert "x11::application" in out["files"]["vocabulary.json"]["tags_used_without_an_entry"]
    assert debian.load_vocabulary(tmp_path / "s") == vocab
    # a .deb that is not the one the Packages list names is refused
    shutil.rmtree(tmp_path / "cache")
    deb = mirror / "pool" / "main" / "d" / "debtags" / "debtags_2.1.5_all.deb"
    deb.write_bytes(deb.read_bytes()[:-10])
    with pytest.raises(debian.ListError, match="sha256 mismatch"):
        debian.fetch_vocabulary(_lists("gz"), mirror.as_uri())
    with pytest.raises(debian.ListError, match="not a .deb"):
        debian.vocabulary_from_deb(b"<html>")
    src = dataclasses.replace(data.source("debian-packages"),
                              options={"from": "lists", "lists_dir": str(FIX / "gz"), "vocabulary": False,
                                       "mirror": mirror.as_uri()})
    debian.build(src, tmp_path / "novocab")
    assert not (tmp_path / "novocab" / "vocabulary.json").exists()
    with pytest.raises(debian.ListError, match="vocabulary.json does not exist"):
        debian.load_vocabulary(tmp_path / "novocab")


def test_measure_counts_duplicates():
    records, _ = debian.join(_lists("gz"))
    twin = dict(records[0], package="0ad-twin", description=records[0]["description"].upper())
    m = debian.measure(records + [twin])
    assert m["records"] == 7 and m["tagged"] == 6  # the twin copies its tags
    assert m["duplicate_long_descriptions"]["exact"]["extra_copies"] == 0
    assert m["duplicate_long_descriptions"]["normalised"]["extra_copies"] == 1
    # 0ad and 0ad-data open with the same paragraph; 0ad-twin too after normalisation
    assert m["first_paragraph_shared"]["extra_copies"] == 2
    assert m["facets"]["role"]["packages"] == 5
    kept = debian.measure_tags_by_facet(records, ["role"], min_docs=1)
    assert kept["documents"] == 4  # 0ad-data has only role:: tags


def test_placeholders_dedupe_and_stable_splits():
    assert debian.is_placeholder("suite::TODO") and debian.is_placeholder("devel::lang:TODO")
    assert not debian.is_placeholder("use::editing")
    records, _ = debian.join(_lists("gz"))
    with_todo = [dict(r, tags=r["tags"] + ["culture::TODO"]) for r in records]
    assert debian.measure_tags_by_facet(with_todo, []) == debian.measure_tags_by_facet(records, [])
    twin = dict(records[1], package="0ad-zzz", description=records[1]["description"].replace(" ", "  "))
    kept = debian.dedupe(records + [twin])
    assert [r["package"] for r in kept] == [r["package"] for r in records]  # the twin (later by name) dropped
    # 0ad and 0ad-data open with the same blurb: one group, hence one split
    r = _by_name(records)
    assert debian.first_paragraph(r["0ad"]) == debian.first_paragraph(r["0ad-data"])
    keys = [f"pkg{i}" for i in range(3000)]
    splits = [debian.split_of(k) for k in keys]
    assert splits == [debian.split_of(k) for k in reversed(keys)][::-1]  # order-free
    share = {s: splits.count(s) / len(splits) for s in set(splits)}
    assert abs(share["train"] - 0.8) < 0.03 and abs(share["test"] - 0.1) < 0.02
    moved = sum(debian.split_of(k, salt="a") != debian.split_of(k, salt="b") for k in keys)
    assert 0.2 * len(keys) < moved < 0.5 * len(keys)  # another salt, another split (~1 - 0.66 of keys move)
