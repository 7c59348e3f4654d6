"""Debian's package lists as a text corpus: long descriptions, one-line summaries and debtags.

Two chapters build real corpora from these lists (GUDN: descriptions labelled by their debtags; T5: description ->
one-line summary). This module reads them, joins them and snapshots the join; the chapters make their own splits.

Where the lists come from, in the order ``build`` tries them (``options['from']``: ``auto``, ``lists`` or
``mirror``):

* apt's lists folder (default ``/var/lib/apt/lists``, after ``apt-get update -o Acquire::Languages=en``):
  ``*_dists_<suite>_<component>_i18n_Translation-en*`` and ``*_dists_<suite>_<component>_binary-<arch>_Packages*``,
  stored plain or compressed (lz4 as apt stores them by default, xz, gz, bz2, zst);
* a Debian mirror's official files, ``dists/<suite>/InRelease``, ``dists/<suite>/<component>/i18n/Translation-en.xz``
  and ``dists/<suite>/<component>/binary-<arch>/Packages.xz``, downloaded by :func:`replicate.data.download` into the
  data cache, each checked against the sha256 the (In)Release file lists for it.

Either way, the uncompressed text of every list is checked against the sha256 that the suite's (In)Release file
lists for it, when that file is at hand (the OpenPGP signature of InRelease is not checked here; apt checked it when
it fetched the lists).

Formats (deb822 paragraphs, https://www.debian.org/doc/debian-policy/ch-controlfields.html):
``Translation-en`` holds ``Package``, ``Description-md5`` and ``Description-en``, whose first line is the short
description (the summary) and whose following lines, each indented by one space, are the long description, with
``" ."`` lines between paragraphs. ``Packages`` holds ``Package``, ``Section``, ``Description-md5`` and ``Tag``
(debtags, comma separated, continued on indented lines). The two are joined by package name and Description-md5.
"""
from __future__ import annotations

import bz2
import collections
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .data import DataMissing

LISTS_DIR = Path("/var/lib/apt/lists")
APT_HELPER = Path("/usr/lib/apt/apt-helper")
DEFAULT_MIRROR = "https://deb.debian.org/debian"
COMPRESSIONS = ("", ".lz4", ".xz", ".gz", ".bz2", ".zst")
SNAPSHOT = "packages.jsonl.xz"
SOURCE_JSON = "SOURCE.json"
FORMAT = 1


class ListError(DataMissing):
    """A package list is missing, unreadable or corrupt. The message is one line saying which and what to do."""


# --------------------------------------------------------------------------------------------------- reading lists

def _run_decompressor(cmd: list[str], path: Path) -> bytes:
    try:
        r = subprocess.run(cmd, capture_output=True, check=False)
    except OSError as e:
        raise ListError(f"cannot decompress {path}: {cmd[0]} failed to start ({e})") from e
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise ListError(f"{path} is corrupt or not a {path.suffix} file ({cmd[0]}: {err[-1] if err else 'exit ' + str(r.returncode)});"
                        " run `apt-get update -o Acquire::Languages=en` again or fetch from a mirror (-o from=mirror)")
    return r.stdout


def decompressors(suffix: str) -> list[str]:
    """The routes that can open a list with this suffix here, best first: ``apt-helper`` (apt's own reader, any of
    apt's formats), a command-line tool, or a Python module."""
    routes = []
    if suffix in (".lz4", ".zst") and APT_HELPER.is_file():
        routes.append("apt-helper")
    tool = {".lz4": "lz4", ".zst": "zstd"}.get(suffix)
    if tool and shutil.which(tool):
        routes.append(tool)
    if suffix == ".lz4":
        try:
            import lz4.frame  # noqa: F401
            routes.append("python-lz4")
        except ImportError:
            pass
    if suffix in ("", ".xz", ".gz", ".bz2"):
        routes.append("python")
    return routes


def read_bytes(path: str | Path, route: str | None = None) -> bytes:
    """The uncompressed bytes of one list file (compression chosen by its suffix)."""
    path = Path(path)
    if not path.is_file():
        raise ListError(f"package list {path} does not exist: run `apt-get update -o Acquire::Languages=en`"
                        " or fetch the lists from a Debian mirror (`replicate data fetch debian-packages`)")
    suffix = path.suffix if path.suffix in COMPRESSIONS else ""
    routes = decompressors(suffix)
    if route is not None:
        if route not in routes:
            raise ListError(f"cannot open {path} with {route} here (available: {', '.join(routes) or 'none'})")
        routes = [route]
    if not routes:
        need = {".lz4": "apt's apt-helper, the lz4 tool or the Python package lz4", ".zst": "apt-helper or zstd"}[suffix]
        raise ListError(f"cannot decompress {path}: it needs {need}; or fetch the .xz lists from a Debian mirror")
    how = routes[0]
    if how == "apt-helper":
        return _run_decompressor([str(APT_HELPER), "cat-file", str(path)], path)
    if how in ("lz4", "zstd"):
        return _run_decompressor([how, "-dc", str(path)], path)
    try:
        if how == "python-lz4":
            import lz4.frame

            return lz4.frame.decompress(path.read_bytes())
        opener = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}.get(suffix)
        if opener is None:
            return path.read_bytes()
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, lzma.LZMAError, RuntimeError, ValueError) as e:
        raise ListError(f"{path} is corrupt or truncated ({type(e).__name__}: {e}); run `apt-get update"
                        " -o Acquire::Languages=en` again or fetch from a mirror (-o from=mirror)") from e


def parse_deb822(text: str, fields: Iterable[str] | None = None) -> Iterator[dict[str, str]]:
    """Paragraphs of a deb822 file as dicts. A continued field keeps its lines joined by "\\n" with their leading
    space, and trailing blanks, as in the file; ``fields`` keeps only those fields (all when None)."""
    keep = set(fields) if fields is not None else None
    para: dict[str, str] = {}
    key = None
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if para:
                yield para
            para, key = {}, None
            continue
        if line[0] in " \t":
            if key is None:
                raise ValueError(f"line {lineno}: a continuation line outside a field: {line[:60]!r}")
            if keep is None or key in keep:
                para[key] += "\n" + line
            continue
        if line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"line {lineno}: not a 'Field: value' line: {line[:60]!r}")
        key = name.strip()
        if keep is None or key in keep:
            para[key] = value.lstrip()  # trailing blanks kept: Description-md5 hashes them
    if para:
        yield para


def read_list(path: str | Path, fields: Iterable[str] | None = None, route: str | None = None) -> list[dict[str, str]]:
    """The paragraphs of one list file; one :class:`ListError` line when it is missing, corrupt or not deb822."""
    raw = read_bytes(path, route)
    try:
        text = raw.decode("utf-8")
        paras = list(parse_deb822(text, fields))
    except (UnicodeDecodeError, ValueError) as e:
        raise ListError(f"{path} is not a deb822 package list ({e})") from e
    if not paras or "Package" not in paras[0]:
        raise ListError(f"{path} holds no package paragraphs (empty or not a package list)")
    return paras


def split_description(value: str) -> tuple[str, str]:
    """``Description-en`` as (summary, long text): the leading space of each long line removed, the ``" ."``
    paragraph lines turned into blank lines; further indentation (verbatim lines) and bullets kept as text."""
    first, _, rest = value.partition("\n")
    lines = []
    for line in rest.split("\n") if rest else []:
        line = line[1:] if line[:1] in (" ", "\t") else line
        lines.append("" if line.strip() == "." else line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return first.strip(), "\n".join(lines)


def description_md5(value: str) -> str:
    """The Description-md5 of a ``Description-en`` value as apt computes it (md5 of the field text + newline)."""
    return hashlib.md5((value + "\n").encode("utf-8")).hexdigest()


def split_tags(value: str | None) -> list[str]:
    """A ``Tag:`` field (comma separated, possibly over several lines) as a sorted list of tags."""
    if not value:
        return []
    return sorted({t.strip() for t in value.replace("\n", " ").split(",") if t.strip()})


def facet(tag: str) -> str:
    """``works-with::image:raster`` -> ``works-with``."""
    return tag.split("::", 1)[0] if "::" in tag else ""


def is_placeholder(tag: str) -> bool:
    """Debtags' "not reviewed yet" markers (``suite::TODO``, ``devel::lang:TODO``): no label a text can show."""
    return tag.rsplit(":", 1)[-1] == "TODO"


# ----------------------------------------------------------------------------------------------- the join

@dataclass
class Lists:
    """The list files of one corpus: Translation-en files and Packages files (later ones win on a repeated
    package), and the (In)Release file of each, where known."""
    translations: list[Path]
    packages: list[Path]
    release: dict[Path, Path | None]
    origin: str


def join(lists: Lists, route: str | None = None) -> tuple[list[dict], dict]:
    """The joined records (sorted by package name) and counts describing the join."""
    desc: dict[str, dict[str, str]] = collections.defaultdict(dict)  # package -> md5 -> Description-en
    counts = collections.Counter(dict.fromkeys(("description_md5_mismatch", "packages_md5_not_in_translation",
                                                 "translation_paragraphs_without_description"), 0))
    for path in lists.translations:
        for p in read_list(path, ("Package", "Description-md5", "Description-en"), route):
            if "Description-en" not in p:
                counts["translation_paragraphs_without_description"] += 1
                continue
            md5 = description_md5(p["Description-en"])
            if p.get("Description-md5") and p["Description-md5"] != md5:
                counts["description_md5_mismatch"] += 1  # the text does not hash to its stated md5: kept, counted
                md5 = p["Description-md5"]
            desc[p["Package"].strip()][md5] = p["Description-en"]
            counts["translation_paragraphs"] += 1
    meta: dict[str, dict[str, str]] = {}
    for path in lists.packages:
        for p in read_list(path, ("Package", "Description-md5", "Tag", "Section"), route):
            meta[p["Package"].strip()] = p
            counts["packages_paragraphs"] += 1
    records = []
    for name in sorted(desc):
        variants = desc[name]
        m = meta.get(name)
        md5 = m.get("Description-md5") if m else None
        if md5 in variants:
            chosen = md5
        else:
            chosen = next(iter(variants))  # file order: deterministic for the same lists
            if m is not None and md5:
                counts["packages_md5_not_in_translation"] += 1
        summary, long = split_description(variants[chosen])
        records.append({
            "package": name,
            "summary": summary,
            "description": long,
            "tags": split_tags(m.get("Tag")) if m else [],
            "section": m["Section"].strip() if m and m.get("Section") else None,
            "description_md5": chosen,
            "in_packages": m is not None,
        })
        counts["packages_with_several_descriptions"] += len(variants) > 1
    counts["records"] = len(records)
    counts["in_packages"] = sum(r["in_packages"] for r in records)
    counts["tagged"] = sum(bool(r["tags"]) for r in records)
    counts["with_long_description"] = sum(bool(r["description"]) for r in records)
    counts["packages_without_translation"] = sum(1 for n in meta if n not in desc)
    return records, dict(sorted(counts.items()))


# ----------------------------------------------------------------------------------------------- finding lists

_LIST_RE = re.compile(r"^(?P<prefix>.+_dists_(?P<suite>[^_]+))_(?P<rest>.+?)(?P<comp>\.lz4|\.xz|\.gz|\.bz2|\.zst)?$")


def _release_of(path: Path) -> tuple[Path | None, str | None]:
    """(the (In)Release file of an apt list file, the list's path inside that Release) when present."""
    m = _LIST_RE.match(path.name)
    if not m:
        return None, None
    rel = m["rest"].replace("_", "/")
    for name in ("InRelease", "Release"):
        cand = path.with_name(f"{m['prefix']}_{name}")
        if cand.is_file():
            return cand, rel
    return None, rel


def find_lists(folder: str | Path = LISTS_DIR, suite: str = "bookworm", component: str = "main",
               arch: str = "amd64") -> Lists:
    """The Translation-en and Packages lists of ``suite``/``component``/``arch`` in apt's lists folder."""
    folder = Path(folder)

    def pick(kind: str) -> Path:
        found = sorted(p for p in folder.glob(f"*_dists_{suite}_{component}_{kind}*")
                       if p.is_file() and p.name[len(p.name) - len(p.suffix):] in COMPRESSIONS
                       and _LIST_RE.match(p.name) and _LIST_RE.match(p.name)["rest"].endswith(kind))
        if not found:
            suites = sorted({m["suite"] for p in folder.glob("*_dists_*") if (m := _LIST_RE.match(p.name))})
            raise ListError(f"no {suite} {component} {kind} list in {folder} (suites there: {', '.join(suites) or 'none'});"
                            f" run `apt-get update -o Acquire::Languages=en` with {suite} in sources.list,"
                            " or fetch from a Debian mirror (-o from=mirror)")
        return found[0]  # one mirror's copy (the first by name) when several mirrors hold the same suite

    t = pick("i18n_Translation-en")
    p = pick(f"binary-{arch}_Packages")
    return Lists([t], [p], {x: _release_of(x)[0] for x in (t, p)}, origin=f"apt lists in {folder}")


def release_fields(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(Origin/Suite/Codename/Version/Date of a Release or InRelease file, {path: sha256} of the files it lists)."""
    text = path.read_text(errors="replace")
    if text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
        text = text.split("\n\n", 1)[1].split("\n-----BEGIN PGP SIGNATURE-----", 1)[0]
    para = next(parse_deb822(text), {})
    head = {k: para[k] for k in ("Origin", "Suite", "Codename", "Version", "Date") if k in para}
    sums = {}
    for line in para.get("SHA256", "").split("\n"):
        parts = line.split()
        if len(parts) == 3:
            sums[parts[2]] = parts[0]
    return head, sums


def _list_in_release(path: Path) -> str | None:
    m = _LIST_RE.match(path.name)
    if m:
        return m["rest"].replace("_", "/")
    # a mirror download keeps the mirror's layout: .../dists/<suite>/<component>/i18n/Translation-en.xz
    parts = path.parts
    if "dists" in parts:
        inner = parts[parts.index("dists") + 2:]
        name = "/".join(inner)
        for c in COMPRESSIONS[1:]:
            if name.endswith(c):
                return name[: -len(c)]
        return name
    return None


def describe_lists(lists: Lists, route: str | None = None) -> list[dict]:
    """Each list file: name, kind, sha256 (as stored and uncompressed), its Release's Date/Suite, and whether the
    uncompressed text matches the sha256 that Release lists for it."""
    out = []
    for kind, files in (("Translation-en", lists.translations), ("Packages", lists.packages)):
        for path in files:
            raw = read_bytes(path, route)
            entry = {"file": path.name, "kind": kind, "sha256": _sha256_file(path),
                     "sha256_uncompressed": hashlib.sha256(raw).hexdigest(), "size_uncompressed": len(raw)}
            rel = lists.release.get(path)
            if rel is not None:
                head, sums = release_fields(rel)
                inner = _list_in_release(path)
                entry["release"] = {"file": rel.name, "sha256": _sha256_file(rel), **head}
                entry["release_path"] = inner
                listed = sums.get(inner or "")
                entry["matches_release"] = None if listed is None else listed == entry["sha256_uncompressed"]
                if entry["matches_release"] is False:
                    raise ListError(f"{path} does not match the sha256 that {rel.name} lists for {inner}: the list"
                                    " is stale or corrupt; run `apt-get update -o Acquire::Languages=en` again")
            out.append(entry)
    return out


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------- a mirror

def mirror_lists(mirror: str = DEFAULT_MIRROR, suite: str = "bookworm", component: str = "main", arch: str = "amd64",
                 into: Path | None = None) -> Lists:
    """Download a suite's InRelease and its Translation-en.xz and Packages.xz (each checked against the sha256 that
    InRelease lists for it) into ``into`` (default: the data cache's downloads/debian), keeping the mirror's layout."""
    from . import data, paths

    into = Path(into) if into is not None else paths.data_dir() / "downloads" / "debian"
    base = f"{mirror.rstrip('/')}/dists/{suite}"
    root = into / "dists" / suite
    rel = root / "InRelease"
    try:
        data.download(f"{base}/InRelease", rel)
    except OSError:
        try:
            rel = data.download(f"{base}/Release", root / "Release")
        except OSError as e:
            raise ListError(f"could not download {base}/InRelease or Release: {e}") from e
    _, sums = release_fields(rel)
    got = []
    for inner in (f"{component}/i18n/Translation-en", f"{component}/binary-{arch}/Packages"):
        for comp in (".xz", ".bz2", ".gz"):
            if inner + comp in sums:
                dest = root / (inner + comp)
                if not (dest.is_file() and _sha256_file(dest) == sums[inner + comp]):
                    try:
                        data.download(f"{base}/{inner}{comp}", dest, sha256=sums[inner + comp])
                    except OSError as e:
                        raise ListError(f"could not download {base}/{inner}{comp}: {e}") from e
                got.append(dest)
                break
        else:
            raise ListError(f"{base}/{rel.name} lists no compressed {inner} (xz, bz2 or gz)")
    return Lists([got[0]], [got[1]], {got[0]: rel, got[1]: rel}, origin=f"Debian mirror {mirror} ({suite})")


# ----------------------------------------------------------------------------------------------- debtags' vocabulary

VOCABULARY_IN_DEB = "usr/share/debtags/vocabulary"
VOCABULARY = "vocabulary.json"


def _ar_member(deb: bytes, prefix: str) -> tuple[str, bytes]:
    """The first member of a .deb (an ar archive) whose name starts with ``prefix``."""
    if not deb.startswith(b"!<arch>\n"):
        raise ListError("not a .deb file (no ar header)")
    pos = 8
    while pos + 60 <= len(deb):
        head = deb[pos:pos + 60]
        name = head[:16].decode().strip().rstrip("/")
        size = int(head[48:58].decode().strip())
        body = deb[pos + 60:pos + 60 + size]
        if name.startswith(prefix):
            return name, body
        pos += 60 + size + (size & 1)
    raise ListError(f"the .deb holds no {prefix}* member")


def vocabulary_from_deb(deb: bytes) -> str:
    """The text of debtags' vocabulary file inside the ``debtags`` package (.deb bytes)."""
    import tarfile

    name, body = _ar_member(deb, "data.tar")
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as t:
            for m in t.getmembers():
                if m.name.lstrip("./") == VOCABULARY_IN_DEB:
                    return t.extractfile(m).read().decode("utf-8")
    except tarfile.TarError as e:
        raise ListError(f"cannot read {name} of the debtags package ({e})") from e
    raise ListError(f"the debtags package holds no {VOCABULARY_IN_DEB}")


def parse_vocabulary(text: str) -> dict:
    """debtags' vocabulary as {"facets": {facet: {title, description}}, "tags": {tag: {title, description}}}:
    ``title`` is the first line of ``Description`` (e.g. ``Raster Image``), ``description`` the rest as text."""
    out = {"facets": {}, "tags": {}}
    for p in parse_deb822(text):
        kind, name = ("facets", p["Facet"]) if "Facet" in p else ("tags", p.get("Tag"))
        if not name:
            continue
        title, long = split_description(p.get("Description", ""))
        out[kind][name.strip()] = {"title": title, "description": long}
    return out


def fetch_vocabulary(lists: Lists, mirror: str = DEFAULT_MIRROR, into: Path | None = None) -> tuple[dict, dict]:
    """debtags' vocabulary (tag names -> readable titles and descriptions) from the ``debtags`` package that the
    Packages list names, downloaded from ``mirror`` (its sha256 checked against the Packages list), and where it
    came from."""
    from . import data, paths

    entry = None
    for path in lists.packages:
        for p in read_list(path, ("Package", "Version", "Filename", "SHA256")):
            if p["Package"] == "debtags":
                entry = p
    if entry is None or "Filename" not in entry:
        raise ListError("the Packages list names no debtags package (needed for the tags' vocabulary);"
                        " set options.vocabulary: false to build without it")
    into = Path(into) if into is not None else paths.data_dir() / "downloads" / "debian"
    dest = into / entry["Filename"]
    url = f"{mirror.rstrip('/')}/{entry['Filename']}"
    if not (dest.is_file() and _sha256_file(dest) == entry.get("SHA256")):
        try:
            data.download(url, dest, sha256=entry.get("SHA256"))
        except OSError as e:
            raise ListError(f"could not download the debtags package from {url} ({e}); set"
                            " options.vocabulary: false to build without the tags' vocabulary") from e
    text = vocabulary_from_deb(dest.read_bytes())
    return parse_vocabulary(text), {"package": "debtags", "version": entry.get("Version"), "url": url,
                                    "sha256": _sha256_file(dest), "file": VOCABULARY_IN_DEB,
                                    "sha256_file": hashlib.sha256(text.encode("utf-8")).hexdigest()}


# ----------------------------------------------------------------------------------------------- snapshots

def _atomic_write(dest: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for r in records)


def snapshot(folder: str | Path, lists: Lists | None = None, route: str | None = None,
             vocabulary: tuple[dict, dict] | None = None, **find) -> dict:
    """Write the joined corpus as ``packages.jsonl.xz`` (one record a line, sorted by package) and ``SOURCE.json``
    (where it came from, the lists' sha256 and Release fields, counts, the snapshot's sha256) into ``folder``, and
    ``vocabulary.json`` when ``vocabulary`` (as :func:`fetch_vocabulary` returns it) is given; each file is written
    to a temporary name and renamed into place, SOURCE.json last. Returns what SOURCE.json holds."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lists = lists or find_lists(**find)
    described = describe_lists(lists, route)
    records, counts = join(lists, route)
    body = _jsonl(records)
    xz = lzma.compress(body, preset=6)
    _atomic_write(folder / SNAPSHOT, lambda f: f.write(xz))
    files = {SNAPSHOT: {"sha256": hashlib.sha256(xz).hexdigest(),
                        "sha256_uncompressed": hashlib.sha256(body).hexdigest(), "records": len(records)}}
    if vocabulary is not None:
        vocab, origin = vocabulary
        vtext = (json.dumps(vocab, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        _atomic_write(folder / VOCABULARY, lambda f: f.write(vtext))
        used = {t for r in records for t in r["tags"] if not is_placeholder(t)}
        files[VOCABULARY] = {"sha256": hashlib.sha256(vtext).hexdigest(), "from": origin,
                             "tags": len(vocab["tags"]), "facets": len(vocab["facets"]),
                             "tags_used_without_an_entry": sorted(used - set(vocab["tags"]))}
    source = {
        "format": FORMAT,
        "origin": lists.origin,
        "lists": described,
        "counts": counts,
        "files": files,
        "record_fields": sorted(records[0]) if records else [],
        "built_by": "replicate.debian.snapshot",
    }
    text = json.dumps(source, indent=1, sort_keys=True) + "\n"
    _atomic_write(folder / SOURCE_JSON, lambda f: f.write(text.encode()))
    return source


def build(source, folder: Path) -> dict:
    """The data-cache builder (``builder: "replicate.debian:build"`` in data/manifests/debian.yaml): the snapshot of
    the lists named by ``source.options`` (suite, component, arch, lists_dir, mirror, from) into ``folder``."""
    o = dict(getattr(source, "options", None) or {})
    where = {k: o[k] for k in ("suite", "component", "arch") if k in o}
    how = o.get("from", "auto")
    if how not in ("auto", "lists", "mirror"):
        raise ListError(f"options.from must be auto, lists or mirror, not {how!r}")
    lists = None
    if how in ("auto", "lists"):
        try:
            lists = find_lists(o.get("lists_dir", LISTS_DIR), **where)
        except ListError as e:
            if how == "lists":
                raise
            print(f"{e}\nfetching the lists from {o.get('mirror', DEFAULT_MIRROR)} instead")
    if lists is None:
        lists = mirror_lists(o.get("mirror", DEFAULT_MIRROR), **where)
    vocab = fetch_vocabulary(lists, o.get("mirror", DEFAULT_MIRROR)) if o.get("vocabulary", True) else None
    out = snapshot(folder, lists, vocabulary=vocab)
    c = out["counts"]
    print(f"{c['records']} packages with a description, {c['tagged']} tagged, from {lists.origin}")
    return out


def load_vocabulary(folder: str | Path) -> dict:
    """The tags' vocabulary of a snapshot folder ({"facets": ..., "tags": {tag: {title, description}}})."""
    path = Path(folder) / VOCABULARY
    if not path.is_file():
        raise ListError(f"{path} does not exist: build the snapshot with options.vocabulary: true"
                        " (`replicate data fetch debian-packages --force`)")
    want = json.loads((Path(folder) / SOURCE_JSON).read_text())["files"].get(VOCABULARY, {}).get("sha256")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != want:
        raise ListError(f"{path} does not match the sha256 in {SOURCE_JSON}; fetch again with --force")
    return json.loads(raw)


def load(folder: str | Path, verify: bool = True) -> list[dict]:
    """The records of a snapshot folder, checked against the sha256 its SOURCE.json states."""
    folder = Path(folder)
    path = folder / SNAPSHOT
    if not path.is_file():
        raise ListError(f"{path} does not exist: run `replicate data fetch debian-packages`")
    raw = path.read_bytes()
    if verify:
        try:
            want = json.loads((folder / SOURCE_JSON).read_text())["files"][SNAPSHOT]["sha256"]
        except (OSError, ValueError, KeyError) as e:
            raise ListError(f"{folder / SOURCE_JSON} is missing or unreadable ({e}); fetch again with --force") from e
        if hashlib.sha256(raw).hexdigest() != want:
            raise ListError(f"{path} does not match the sha256 in {SOURCE_JSON}; fetch again with --force")
    try:
        return [json.loads(line) for line in lzma.decompress(raw).decode("utf-8").splitlines()]
    except (lzma.LZMAError, ValueError) as e:
        raise ListError(f"{path} is corrupt ({e}); fetch again with --force") from e


# ----------------------------------------------------------------------------------------------- measurements

def normalise(text: str) -> str:
    """Lower case, runs of white space as one space: the key for near-duplicate texts."""
    return " ".join(text.lower().split())


def paragraphs(text: str) -> list[str]:
    return [p for p in (x.strip() for x in text.split("\n\n")) if p]


def measure(records: list[dict], top: int = 10) -> dict:
    """Counts the chapters choose facets and de-duplication from: tagged packages, facets, duplicate long texts
    (exact, and after :func:`normalise`), the most common paragraphs (boilerplate), lengths."""
    n = len(records)
    facets_docs = collections.Counter()
    facets_tags: dict[str, set] = collections.defaultdict(set)
    tag_docs = collections.Counter()
    for r in records:
        for f in {facet(t) for t in r["tags"]}:
            facets_docs[f] += 1
        for t in r["tags"]:
            facets_tags[facet(t)].add(t)
            tag_docs[t] += 1
    docs = [r["description"] for r in records if r["description"]]
    exact = collections.Counter(docs)
    near = collections.Counter(normalise(d) for d in docs)
    para = collections.Counter(normalise(p) for d in docs for p in paragraphs(d))
    first = collections.Counter(normalise(paragraphs(d)[0]) for d in docs)

    def dup(c: collections.Counter) -> dict:
        return {"distinct": len(c), "texts_in_a_group_of_2_or_more": sum(v for v in c.values() if v > 1),
                "extra_copies": sum(v - 1 for v in c.values())}

    words = sorted(len(d.split()) for d in docs)
    swords = sorted(len(r["summary"].split()) for r in records)
    in_doc = sum(1 for r in records if r["description"] and normalise(r["summary"]) in normalise(r["description"]))
    return {
        "records": n,
        "with_long_description": len(docs),
        "tagged": sum(bool(r["tags"]) for r in records),
        "tags_per_tagged_package": round(sum(len(r["tags"]) for r in records) / max(1, sum(bool(r["tags"]) for r in records)), 2),
        "distinct_tags": len(tag_docs),
        "facets": {f: {"packages": facets_docs[f], "distinct_tags": len(facets_tags[f])}
                   for f, _ in facets_docs.most_common()},
        "most_common_tags": tag_docs.most_common(top),
        "duplicate_long_descriptions": {"exact": dup(exact), "normalised": dup(near)},
        "first_paragraph_shared": dup(first),
        "most_common_paragraphs": [(v, p[:160]) for p, v in para.most_common(top)],
        "most_common_long_descriptions": [(v, d[:160]) for d, v in near.most_common(top)],
        "distinct_summaries": len({normalise(r["summary"]) for r in records}),
        "summary_inside_its_description": in_doc,
        "words_long_description": {"median": words[len(words) // 2] if words else 0,
                                   "p90": words[int(len(words) * 0.9)] if words else 0},
        "words_summary": {"median": swords[len(swords) // 2] if swords else 0},
        "sections": collections.Counter(r["section"] for r in records if r["section"]).most_common(top),
    }


def measure_tags_by_facet(records: list[dict], drop_facets: Iterable[str], min_docs: int = 1) -> dict:
    """Documents, labels and labels per document left when the tags of ``drop_facets`` and the placeholders
    (:func:`is_placeholder`) are removed and tags seen in fewer than ``min_docs`` documents are dropped (a quick
    view for choosing a label set)."""
    drop = set(drop_facets)
    tags = [[t for t in r["tags"] if facet(t) not in drop and not is_placeholder(t)]
            for r in records if r["description"]]
    freq = collections.Counter(t for ts in tags for t in ts)
    kept = [[t for t in ts if freq[t] >= min_docs] for ts in tags]
    kept = [ts for ts in kept if ts]
    return {"documents": len(kept), "labels": sum(1 for v in freq.values() if v >= min_docs),
            "labels_per_document": round(sum(map(len, kept)) / max(1, len(kept)), 2)}


def first_paragraph(record: dict) -> str:
    """The normalised first paragraph of the long description (the summary when there is none): a group key
    that keeps packages sharing an upstream blurb (``libfoo1``, ``libfoo-dev``, ``libfoo-doc``) in one split."""
    ps = paragraphs(record["description"])
    return normalise(ps[0] if ps else record["summary"])


def dedupe(records: list[dict], key=lambda r: normalise(r["description"])) -> list[dict]:
    """The records with the first (by package name) of each group of equal ``key``; records without a long
    description dropped."""
    seen, out = set(), []
    for r in sorted(records, key=lambda r: r["package"]):
        k = key(r)
        if r["description"] and k not in seen:
            seen.add(k)
            out.append(r)
    return out


def split_of(key: str, fractions: dict[str, float] | None = None, salt: str = "") -> str:
    """A split name for ``key`` from the sha256 of ``salt + key``: the same on every machine, independent of the
    records' order and of what else is in the corpus (a package keeps its split when the lists change)."""
    fractions = fractions or {"train": 0.8, "validation": 0.1, "test": 0.1}
    total = sum(fractions.values())
    x = int.from_bytes(hashlib.sha256((salt + key).encode("utf-8")).digest()[:8], "big") / 2**64 * total
    acc = 0.0
    for name, f in fractions.items():
        acc += f
        if x < acc:
            return name
    return name


def main(argv: list[str] | None = None) -> int:  # python -m replicate.debian [lists_dir]: print the measurements
    import sys

    args = sys.argv[1:] if argv is None else argv
    lists = find_lists(args[0] if args else LISTS_DIR)
    records, counts = join(lists)
    print(json.dumps({"counts": counts, "measure": measure(records, top=15)}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["ListError", "Lists", "build", "decompressors", "dedupe", "describe_lists", "facet", "find_lists",
           "fetch_vocabulary", "first_paragraph", "is_placeholder", "join", "load", "load_vocabulary", "measure", "measure_tags_by_facet", "mirror_lists",
           "normalise", "parse_deb822", "parse_vocabulary", "vocabulary_from_deb", "read_bytes", "read_list",
           "release_fields", "snapshot", "split_description", "split_of", "split_tags"]
