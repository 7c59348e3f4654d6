import hashlib

import pytest

from replicate import data
from replicate.config import UsageError


@pytest.fixture
def manifest(tmp_path, monkeypatch):
    payload = b"hello data\n" * 1000
    src = tmp_path / "remote" / "toy.txt"
    src.parent.mkdir()
    src.write_bytes(payload)
    man = tmp_path / "root" / "data" / "manifests"
    man.mkdir(parents=True)
    (tmp_path / "root" / "_config.yml").write_text("title: t\n")
    (tmp_path / "root" / "pyproject.toml").write_text("")
    good = hashlib.sha256(payload).hexdigest()
    zeros = '0' * 64
    (man / "toy.yaml").write_text(
        f"toy:\n  title: Toy set\n  url: {src.as_uri()}\n  sha256: '{good}'\n  files: [toy.txt]\n"
        f"bad:\n  title: Bad set\n  url: {src.as_uri()}\n  sha256: '{zeros}'\n  files: [toy.txt]\n"
        f"offline:\n  title: Offline set\n  url: file:///nonexistent/x.zip\n  files: [x]\n"
    )
    monkeypatch.setenv("REPLICATE_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "cache"))
    return tmp_path


def test_fetch_verifies_and_require_finds_it(manifest):
    with pytest.raises(data.DataMissing, match="replicate data fetch toy"):
        data.require("toy")
    path = data.fetch("toy")
    assert (path / "toy.txt").read_bytes().startswith(b"hello data")
    assert data.require("toy") == path


def test_sha_mismatch_leaves_no_file_under_the_final_name(manifest):
    with pytest.raises(data.DataMissing, match="sha256 mismatch"):
        data.fetch("bad")
    downloads = manifest / "cache" / "downloads"
    assert not (downloads / "toy.txt").exists()
    assert not any(p.suffix == ".part" for p in downloads.iterdir())


def test_missing_data_is_one_clear_line(manifest):
    with pytest.raises(data.DataMissing) as e:
        data.fetch("offline")
    assert "\n" not in str(e.value) and "Offline set" in str(e.value)
    with pytest.raises(data.DataMissing, match="not a usable copy"):
        data.require("toy", path=manifest / "nowhere")
    with pytest.raises(UsageError, match="valid names: bad, offline, toy"):
        data.source("nope")


def test_a_malformed_sha256_is_refused(manifest):
    (manifest / "root" / "data" / "manifests" / "more.yaml").write_text("odd:\n  title: Odd\n  url: x\n  sha256: 0000\n")
    with pytest.raises(ValueError, match="sha256"):
        data.sources()


def test_local_copy_by_path(manifest):
    local = manifest / "mine"
    local.mkdir()
    (local / "toy.txt").write_text("x")
    assert data.require("toy", path=local) == local
