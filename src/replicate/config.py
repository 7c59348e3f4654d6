"""Typed profiles and parameters.

A chapter declares one frozen dataclass of parameters (``Params``) and a few named profiles (``smoke``,
``paper``, ``gpu``, ...), each a complete instance of it. ``resolve`` merges user overrides on top of a profile,
converting strings from the command line to the field's type, and fails early with one clear sentence naming
the valid choices.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

_UNSET = object()


def param(default: Any, help: str, *, paper: Any = _UNSET, source: str = "") -> Any:
    """A parameter field declared once: its default, the help that ``replicate list`` prints, and (where known)
    the paper's value and where the paper states it, so that a notebook can list how a profile differs from it.

        lr: float = param(5e-5, "peak learning rate of AdamW", paper=5e-5, source="Sec. 4.1")
    """
    meta = {"help": help, "source": source}
    if paper is not _UNSET:
        meta["paper"] = paper
    return field(default=default, metadata=meta)


def help_of(params_cls, name: str) -> str:
    """The help text declared with field ``name`` (empty when none was)."""
    return {f.name: f.metadata.get("help", "") for f in fields(params_cls)}.get(name, "")


def differs_from_paper(params) -> list[tuple[str, Any, Any, str]]:
    """(name, ours, the paper's, source) for every field whose paper value is declared and differs."""
    out = []
    for f in fields(params):
        if "paper" not in f.metadata:
            continue
        ours, theirs = getattr(params, f.name), f.metadata["paper"]
        if _jsonish(ours) != _jsonish(theirs):
            out.append((f.name, ours, theirs, f.metadata.get("source", "")))
    return out


def _jsonish(v: Any) -> Any:
    return json.loads(json.dumps(v, default=list))


class UsageError(ValueError):
    """Bad input from a user (unknown chapter, profile, parameter or a value of the wrong type).

    The CLI prints the message as one line and exits with status 2."""


@dataclass(frozen=True)
class Chapter:
    """What the CLI and the runner need to know about a chapter; importing it must stay cheap (no torch)."""

    name: str
    title: str
    notebooks: tuple[str, ...]
    params: type
    profiles: Mapping[str, Any]
    default_profile: str = "smoke"
    description: str = ""
    choices: Mapping[str, tuple] = field(default_factory=dict)
    #: ``preflight(params) -> ["what is missing: how to get it", ...]``: every data set and checkpoint the
    #: parameters need that is not on this machine. The runner calls it before any kernel starts.
    preflight: Callable[[Any], list[str]] | None = None

    def missing(self, params) -> list[str]:
        return list(self.preflight(params)) if self.preflight is not None else []

    def profile(self, name: str):
        if name not in self.profiles:
            raise UsageError(
                f"unknown profile {name!r} for chapter {self.name!r}; valid profiles: {', '.join(self.profiles)}"
            )
        return self.profiles[name]

    def resolve(self, profile: str, overrides: Mapping[str, Any] | None = None):
        """The profile's parameters with ``overrides`` merged on top, type-checked."""
        return resolve(self.profile(profile), overrides or {}, self.choices, where=f"chapter {self.name!r}")


def _type_hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(name: str, value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` (possibly a string from ``-p key=value``) to ``tp`` or raise UsageError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = UsageError(f"parameter {name!r} of {where} expects {_type_name(tp)}, got {value!r}")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(name, value, a, where)
            except UsageError:
                pass
        raise bad
    if origin in (tuple, list):
        if isinstance(value, str):
            value = value.strip()
            try:
                value = json.loads(value if value.startswith("[") else f"[{value}]")
            except json.JSONDecodeError:
                value = [v.strip() for v in value.strip("[]").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad
        inner = args[0] if args else Any
        if inner is Ellipsis or inner is Any:
            return tuple(value)
        return tuple(_convert(name, v, inner, where) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    f = float(value)
                except ValueError:
                    raise bad from None
                if f.is_integer():
                    return int(f)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def resolve(base, overrides: Mapping[str, Any], choices: Mapping[str, tuple] | None = None, where: str = "profile"):
    """Return ``base`` (a dataclass instance) with ``overrides`` applied, converted and validated."""
    hints = _type_hints(type(base))
    names = [f.name for f in fields(base)]
    changes = {}
    for key, value in overrides.items():
        if key not in hints:
            raise UsageError(f"unknown parameter {key!r} for {where}; valid parameters: {', '.join(names)}")
        changes[key] = _convert(key, value, hints[key], where)
    out = dataclasses.replace(base, **changes)
    for key, valid in (choices or {}).items():
        v = getattr(out, key)
        vals = v if isinstance(v, tuple) else (v,)
        for item in vals:
            if item not in valid:
                raise UsageError(f"parameter {key!r} of {where} got {item!r}; valid choices: {', '.join(map(str, valid))}")
    check = getattr(out, "validate", None)
    if check is not None:
        check()
    return out


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """``["epochs=3", "lr=0.1"]`` -> ``{"epochs": "3", "lr": "0.1"}``; values stay strings until ``resolve``."""
    out: dict[str, str] = {}
    for p in pairs or []:
        if "=" not in p:
            raise UsageError(f"override {p!r} is not of the form key=value")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def as_dict(params) -> dict[str, Any]:
    """A JSON-friendly dict of a parameters dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(params), default=list))


def describe(params) -> list[tuple[str, str, Any]]:
    """(name, type, value) rows for ``replicate list`` and notebook banners."""
    hints = _type_hints(type(params))
    return [(f.name, _type_name(hints[f.name]), getattr(params, f.name)) for f in fields(params)]


def describe_full(params) -> list[dict[str, Any]]:
    """One dict per field: name, type, value, help, and the paper's value and source where declared."""
    hints = _type_hints(type(params))
    rows = []
    for f in fields(params):
        row = {"name": f.name, "type": _type_name(hints[f.name]), "value": getattr(params, f.name),
               "help": f.metadata.get("help", "")}
        if "paper" in f.metadata:
            row["paper"] = f.metadata["paper"]
            row["source"] = f.metadata.get("source", "")
        rows.append(row)
    return rows
