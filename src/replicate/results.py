"""Result records: one JSON file per experiment, keyed by a hash of its config.

A record holds the metrics and curves an experiment measured, the full resolved config, the profile, the git
commit, the device, package versions, the seed and the wall time. Its key hashes the experiment's name, its
config and the **code fingerprint** of the chapter (the chapter package's computing modules and the shared
modules they use), so a record cannot outlive the code that made it: change a line of a chapter's code and its
records are recomputed, nobody else's. ``record`` (the one way a chapter makes a record) and ``ResultStore.run``
re-use a record whose key matches instead of recomputing, unless forced (``replicate run --force``, which sets
REPLICATE_FORCE: records made before the forced run started are recomputed once). That is how the book is
rebuilt on a CPU from runs made on a GPU. A committed record made by older code is still shown, marked
(``is_stale``, ``provenance``). Records are written atomically (temporary file, then rename) and an existing
record is never overwritten unless the caller forces it.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import paths
from .config import as_dict

SCHEMA = 2

#: Modules of a chapter package that draw or judge records but compute none: they are not in its fingerprint.
PRESENTATION = ("report.py", "scoreboard.py", "figures.py", "bench.py")
#: Shared modules whose code computes records (training support, data loading and building).
SHARED_COMPUTE = ("train.py", "data.py", "debian.py", "distributed.py")


class RecordExists(FileExistsError):
    """Raised when a record with the same key is already stored and ``force`` was not given."""


def _jsonable(obj: Any) -> Any:
    """Numpy/torch scalars and arrays, tuples, paths and dataclasses to plain JSON values."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return as_dict(obj)
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):  # numpy / torch
        return _jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return _jsonable(obj.item())
    return obj


def config_key(experiment: str, config: Mapping[str, Any], code: str | None = None) -> str:
    """sha256 of the canonical JSON of (experiment, config, code fingerprint); 12 hex digits name the file."""
    body = {"experiment": experiment, "config": _jsonable(config)}
    if code is not None:
        body["code"] = code
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@functools.lru_cache(maxsize=None)
def code_fingerprint(chapter: str, bench: bool = False) -> str:
    """sha256 (16 hex digits) of the source of the code that computes a chapter's records: every module of
    ``replicate.papers.<chapter>`` but the presentation ones (``PRESENTATION``; ``bench.py`` counts for bench
    records), and the shared ``SHARED_COMPUTE`` modules. Whitespace-exact: any edit of those files changes it."""
    import importlib.util

    pkg = Path(importlib.util.find_spec("replicate").origin).parent
    skip = set(PRESENTATION) - ({"bench.py"} if bench else set())
    files = sorted(p for p in (pkg / "papers" / chapter).rglob("*.py") if p.name not in skip)
    files += [pkg / n for n in SHARED_COMPUTE if (pkg / n).is_file()]
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def is_stale(record: Mapping[str, Any]) -> bool:
    """True when the record was made by code other than the chapter's code as it is now."""
    chapter = record.get("chapter")
    if not chapter:
        return True
    try:
        now = code_fingerprint(chapter, bench=record.get("experiment") == "bench")
    except (OSError, ValueError):
        return True
    return record.get("code") != now


def _force_since() -> str | None:
    """REPLICATE_FORCE: an ISO time (records created before it are recomputed) or 1 (this process's start)."""
    v = os.environ.get("REPLICATE_FORCE", "").strip()
    if not v or v.lower() in ("0", "false", "no"):
        return None
    if v.lower() in ("1", "true", "yes"):
        return _PROCESS_START
    return v


_PROCESS_START = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def git_commit(root: Path | None = None) -> str:
    """HEAD of the checkout (+dirty); REPLICATE_GIT_COMMIT names it where the tree travels without .git (the GPU)."""
    if os.environ.get("REPLICATE_GIT_COMMIT"):
        return os.environ["REPLICATE_GIT_COMMIT"]
    root = root or paths.project_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown"
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_info() -> dict[str, Any]:
    info: dict[str, Any] = {"host_cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch

        if torch.cuda.is_available():
            info["device"] = "cuda"
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
        else:
            info["device"] = "cpu"
            info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        info["device"] = "cpu"
    return info


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("replicate", "torch", "torchvision", "transformers", "datasets", "tokenizers", "numpy", "scipy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_jsonable(data), f, indent=1, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultStore:
    """Records of one chapter and profile under ``<root>/<chapter>/<profile>/``."""

    def __init__(self, chapter: str, profile: str, root: Path | str | None = None):
        self.chapter = chapter
        self.profile = profile
        self.root = Path(root) if root is not None else paths.results_dir()
        self.dir = self.root / chapter / profile

    def code(self, experiment: str) -> str:
        return code_fingerprint(self.chapter, bench=experiment == "bench")

    def key(self, experiment: str, config: Mapping[str, Any]) -> str:
        return config_key(experiment, config, self.code(experiment))

    def path_for(self, experiment: str, config: Mapping[str, Any]) -> Path:
        return self.dir / f"{experiment}-{self.key(experiment, config)[:12]}.json"

    def get(self, experiment: str, config: Mapping[str, Any]) -> dict | None:
        p = self.path_for(experiment, config)
        if not p.is_file():
            return None
        rec = json.loads(p.read_text())
        if rec.get("key") != self.key(experiment, config):  # a 12-digit prefix collision: treat as absent
            return None
        return rec

    def put(self, experiment: str, config: Mapping[str, Any], result: Mapping[str, Any], *, seed: int | None = None,
            wall_time_s: float | None = None, force: bool = False) -> dict:
        """Store ``result`` (``metrics``, ``curves`` and anything else JSON-able) as a full record."""
        p = self.path_for(experiment, config)
        if p.exists() and not force:
            raise RecordExists(f"{p} exists; pass force=True to replace it")
        if p.exists():
            print(f"replacing record {p.name} (forced)")
        record = {
            "schema": SCHEMA,
            "chapter": self.chapter,
            "profile": self.profile,
            "experiment": experiment,
            "key": self.key(experiment, config),
            "code": self.code(experiment),
            "config": _jsonable(config),
            **{k: _jsonable(v) for k, v in result.items()},
            "meta": {
                "git_commit": git_commit(),
                "device": device_info(),
                "versions": package_versions(),
                "seed": seed,
                "processes": int(os.environ.get("WORLD_SIZE", "1") or 1),
                "wall_time_s": wall_time_s,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            },
        }
        record.setdefault("metrics", {})
        atomic_write_json(p, record)
        return record

    def run(self, experiment: str, config: Mapping[str, Any], fn: Callable[[], Mapping[str, Any]], *,
            seed: int | None = None, force: bool = False, verbose: bool = True) -> dict:
        """Return the stored record for (experiment, config), or compute it with ``fn()`` and store it.

        Forced (``force`` or REPLICATE_FORCE), a record made before the forced run started is recomputed."""
        since = _force_since()
        if not force:
            rec = self.get(experiment, config)
            if rec is not None and since is not None and str(rec["meta"].get("created", "")) < since:
                rec, force = None, True
            if rec is not None:
                if verbose:
                    print(f"[{self.profile}] re-using record {self.path_for(experiment, config).name} "
                          f"(made {rec['meta']['created']} on {rec['meta']['device'].get('gpu', rec['meta']['device']['device'])})")
                return rec
        t0 = time.perf_counter()
        result = fn()
        return self.put(experiment, config, result, seed=seed, wall_time_s=time.perf_counter() - t0, force=force)

    def records(self, experiment: str | None = None) -> list[dict]:
        """All records in this chapter/profile (optionally of one experiment), oldest first."""
        if not self.dir.is_dir():
            return []
        out = []
        for p in sorted(self.dir.glob("*.json")):
            rec = json.loads(p.read_text())
            if experiment is None or rec.get("experiment") == experiment:
                out.append(rec)
        return sorted(out, key=lambda r: r["meta"].get("created", ""))


def record(chapter: str, profile: str, experiment: str, params, fn: Callable[[], Mapping[str, Any]], *,
           extra: Mapping[str, Any] | None = None, seed: int | None = None, verbose: bool = True) -> dict:
    """The one way a chapter makes a record: experiment ``experiment`` of ``params`` (the FULL resolved
    parameters) and ``extra`` (what else tells runs apart: a variant, a sweep point), computed by ``fn()`` unless
    a record with the same key (experiment, params, extra, code fingerprint) exists. Under torch.distributed
    only rank 0 stores; the other ranks get ``fn()``'s result unstored."""
    config: dict[str, Any] = {"params": as_dict(params) if is_dataclass(params) else dict(params)}
    if extra:
        config["extra"] = dict(extra)
    if seed is None:
        seed = getattr(params, "seed", None)
    store = ResultStore(chapter, profile)
    from . import distributed

    if distributed.is_dist():
        # every rank must take the same branch (a rank that trains alone would wait in DDP's all-reduce for ever)
        rec = store.get(experiment, config) if distributed.rank() == 0 else None
        since = _force_since()
        if rec is not None and since is not None and str(rec["meta"].get("created", "")) < since:
            rec = None
        have = distributed.broadcast(rec is not None)
        if have:
            return distributed.broadcast(rec)
        if distributed.rank() != 0:
            return {**fn(), "stored": False}
    return store.run(experiment, config, fn, seed=seed, verbose=verbose)


def committed_records(chapter: str, profile: str, experiment: str | None = None) -> list[dict]:
    """Records committed with the project (e.g. the GPU runs), whatever REPLICATE_RESULTS says."""
    return ResultStore(chapter, profile, paths.committed_results_dir()).records(experiment)


def provenance(record: Mapping[str, Any]) -> str:
    """One line saying where a number came from: profile, device, date, commit."""
    m = record.get("meta", {})
    dev = m.get("device", {})
    where = dev.get("gpu") or dev.get("device", "?")
    line = (f"profile `{record.get('profile')}`, {where}, {str(m.get('created', '?'))[:10]}, "
            f"commit {str(m.get('git_commit', '?'))[:10]}")
    if is_stale(record):
        line += " (code changed since: made by the code of that commit, not by the code as it is now)"
    return line
