"""The data cache: one directory (REPLICATE_DATA, default ~/.cache/replicate), manifests of real data sets,
fetching with a progress bar and sha256 verification, and one clear line when something is missing.

Manifests live in ``data/manifests/<chapter>.yaml`` of the project (name -> url, filename, size, sha256, how to unpack,
what a chapter needs from it). A chapter asks for a data set with ``require(name, path=...)``: a local copy named
by path wins; otherwise the cache is used; otherwise ``DataMissing`` says what to do.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import paths
from .config import UsageError


class DataMissing(FileNotFoundError):
    """A data set a run needs is not on this machine. The message is one line saying how to get it."""


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    url: str | None
    filename: str | None = None
    sha256: str | None = None
    size: int | None = None
    unpack: str | None = None  # "zip", "tar", or None
    target: str | None = None  # folder (inside the cache) that a fetched copy provides
    note: str = ""
    files: tuple[str, ...] = field(default_factory=tuple)  # files/folders whose presence marks a usable copy
    parts: tuple[dict, ...] = field(default_factory=tuple)  # several files: [{url, filename, sha256, size}], kept as is
    #: "module:function" that builds the data set into a folder (e.g. a corpus made from lists already on the
    #: machine or fetched from a mirror): ``fn(source, folder)``; ``fetch`` renames the folder into place after.
    builder: str | None = None
    options: dict = field(default_factory=dict, hash=False, compare=False)  # the builder's settings


def manifests_dir() -> Path:
    return paths.project_root() / "data" / "manifests"


def sources() -> dict[str, Source]:
    """All data sets named in ``data/manifests/*.yaml`` (one file per chapter)."""
    out = {}
    for p in sorted(manifests_dir().glob("*.yaml")):
        for name, d in (yaml.safe_load(p.read_text()) or {}).items():
            d = dict(d)
            d["files"] = tuple(d.get("files", ()))
            d["parts"] = tuple(dict(x) for x in d.get("parts", ()))
            d.setdefault("url", None)
            d["options"] = dict(d.get("options") or {})
            for entry in (d, *d["parts"]):
                sha = entry.get("sha256")
                if sha is not None and not (isinstance(sha, str) and len(sha) == 64):
                    raise ValueError(f"{p.name}: {name}: sha256 must be a quoted 64-digit hex string, got {sha!r}")
            out[name] = Source(name=name, **d)
    return out


def source(name: str) -> Source:
    all_ = sources()
    if name not in all_:
        raise UsageError(f"unknown data set {name!r}; valid names: {', '.join(sorted(all_)) or '(none)'}")
    return all_[name]


def cache_path(name: str) -> Path:
    """Folder in the cache where data set ``name`` lives once fetched and unpacked."""
    src = source(name)
    return paths.data_dir() / (src.target or name)


def _usable(folder: Path, src: Source) -> bool:
    if not folder.exists():
        return False
    return all((folder / f).exists() for f in src.files) if src.files else any(folder.iterdir())


def require(name: str, path: str | Path | None = None) -> Path:
    """The folder of data set ``name``: ``path`` if given, else the cache; or raise ``DataMissing``."""
    src = source(name)
    if path:
        p = Path(path).expanduser()
        if not _usable(p, src):
            expect = ", ".join(src.files) or "its files"
            raise DataMissing(f"{src.title}: {p} is not a usable copy (expected {expect} inside it)")
        return p
    p = cache_path(name)
    if _usable(p, src):
        return p
    how = f"run `replicate data fetch {name}`" if (src.url or src.parts or src.builder) else "download it by hand (see data/manifests/)"
    raise DataMissing(
        f"{src.title} is missing: {how} (needs network; it lands in {p}), or pass a local copy by path"
        f" (e.g. -p data_dir=/path/to/{src.target or name})"
    )


def missing(name: str, path: str | Path | None = None) -> str | None:
    """None when data set ``name`` is usable (``path`` or the cache), else the one line saying how to get it."""
    try:
        require(name, path)
    except DataMissing as e:
        return str(e)
    return None


def missing_model(name_or_path: str | None, what: str = "checkpoint") -> str | None:
    """None when ``from_pretrained(name_or_path)`` can load here (a local folder, a data source of that name in
    the cache, the Hugging Face cache, or a reachable hub), else one line saying how to get it. ``None`` (a
    model built from a config) needs nothing."""
    if not name_or_path:
        return None
    p = Path(str(name_or_path)).expanduser()
    if p.is_dir():
        return None if (p / "config.json").is_file() else f"{what} {p} has no config.json (not a Hugging Face folder)"
    if str(name_or_path).startswith((".", "/", "~")):
        return f"{what} folder {p} does not exist"
    if str(name_or_path) in sources():
        return missing(str(name_or_path))
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(str(name_or_path), "config.json"), str):
            return None
    except Exception:  # noqa: BLE001 - an unusual cache layout: fall through to the hub check
        pass
    how = (f"run `huggingface-cli download {name_or_path}` on a machine with network (it fills the Hugging Face "
           f"cache), or pass a local copy: -p model_name_or_path=/path/to/folder")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        return f"{what} {name_or_path} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: {how}"
    try:
        from huggingface_hub import model_info

        model_info(str(name_or_path), timeout=5)
        return None
    except Exception as e:  # noqa: BLE001 - no network, unknown id, auth ...: all mean "cannot load here"
        return f"{what} {name_or_path} is not in the Hugging Face cache and the hub is not reachable ({type(e).__name__}): {how}"


def _build(src: Source, target: Path) -> Path:
    """A data set that a builder makes: built in a temporary sibling folder, renamed into place when complete."""
    import importlib

    mod, _, fn = src.builder.partition(":")
    build = getattr(importlib.import_module(mod), fn)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(src, tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{src.title} is ready in {target}")
    return target


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str | None = None, size: int | None = None) -> Path:
    """Download ``url`` to ``dest`` with a progress bar; verify its sha256; never leave a partial final file."""
    from .train import progress

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or size
            with progress(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while True:
                    b = resp.read(1 << 20)
                    if not b:
                        break
                    out.write(b)
                    h.update(b)
                    bar.update(len(b))
        digest = h.hexdigest()
        if sha256 and digest != sha256:
            raise OSError(f"sha256 mismatch for {url}: expected {sha256}, got {digest}; the download was discarded")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def unpack(archive: Path, into: Path, kind: str) -> None:
    """Unpack into a temporary sibling folder, then rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{into.name}.", dir=into.parent))
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        elif kind == "tar":
            with tarfile.open(archive) as t:
                t.extractall(tmp, filter="data")
        else:
            raise ValueError(f"unknown archive kind {kind!r}")
        entries = list(tmp.iterdir())
        inner = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        if into.exists():
            shutil.rmtree(into)
        os.replace(inner, into)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch(name: str, force: bool = False) -> Path:
    """Download (if needed), verify and unpack data set ``name`` into the cache; return its folder."""
    src = source(name)
    target = cache_path(name)
    if _usable(target, src) and not force:
        print(f"{src.title} is already in {target}")
        return target
    if src.builder:
        return _build(src, target)
    if src.parts:  # several plain files (e.g. Fashion-MNIST's four gz files), each verified
        target.mkdir(parents=True, exist_ok=True)
        for part in src.parts:
            dest = target / part["filename"]
            if dest.is_file() and not force:
                continue
            try:
                download(part["url"], dest, part.get("sha256"), part.get("size"))
            except OSError as e:
                raise DataMissing(f"could not download {src.title} from {part['url']}: {e}") from e
        print(f"{src.title} is ready in {target}")
        return target
    if not src.url:
        raise DataMissing(f"{src.title} has no public download address; {src.note}".rstrip("; "))
    archive = paths.data_dir() / "downloads" / (src.filename or Path(src.url).name)
    if not archive.is_file() or force:
        try:
            download(src.url, archive, src.sha256, src.size)
        except OSError as e:  # URLError is an OSError
            raise DataMissing(f"could not download {src.title} from {src.url}: {e}") from e
    elif src.sha256 and sha256_of(archive) != src.sha256:
        raise DataMissing(f"{archive} does not match its sha256; delete it and fetch again")
    if src.sha256 is None:
        print(f"note: no sha256 is recorded for {src.title}; its digest is {sha256_of(archive)}")
    if src.unpack:
        unpack(archive, target, src.unpack)
    else:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(archive, target / archive.name)
    print(f"{src.title} is ready in {target}")
    return target
