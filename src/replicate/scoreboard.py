"""The replication scoreboard: the papers' claims judged and their numbers set beside ours, built from result
records at every build of the book; nothing in it is typed by hand.

**Claims.** Each chapter's ``reported.yaml`` lists the paper's qualitative claims (``claims: {key: {claim:,
source:}}``) and its hook ``replicate.papers.<chapter>.scoreboard.claims(records) -> {key: (verdict,
evidence)}`` judges them from the records of one profile: ``supported``, ``contradicted`` or ``cannot speak``,
with one line of evidence computed from the records. A profile without records, a chapter without the hook, and
a claim the hook leaves out all read "cannot speak". A key from the hook that ``reported.yaml`` does not list,
or another verdict, is an error.

**Numbers.** Each chapter says which reported numbers its records measure through ``measured(records) -> {key:
(value, record)}``: given all records of one profile, our value (in the paper's unit) of each key of
``reported.yaml`` that those records measure *in the paper's setting* (its data set; a run on generated data
measures none). The profiles are asked in the order ``paper``, ``gpu``, ``smoke`` and the first value per key is
kept. Only a ``paper``-profile value is judged against the paper's tolerance; anything else is "not run" in the
paper's setting, shown for context.

``write`` writes ``book/scoreboard.md`` (a summary per chapter, the claims tables, then the per-number tables
collapsed) and ``book/_generated/<chapter>_glance.md``, the at-a-glance block each chapter page includes.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd
import yaml

from . import chapters, paths, reported

PREFERENCE = ("paper", "real", "gpu", "smoke")
VERDICTS = ("supported", "contradicted", "cannot speak")


def _records(roots: Iterable[Path]) -> list[dict]:
    out, seen = [], set()
    for root in roots:
        if not root.is_dir():
            continue
        for p in sorted(root.glob("*/*/*.json")):
            try:
                rec = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            key = (rec.get("chapter"), rec.get("profile"), rec.get("key"))
            if key in seen:
                continue
            seen.add(key)
            out.append(rec)
    return out


def _default_roots() -> list[Path]:
    return [paths.committed_results_dir(), paths.results_dir()]


def _hook(chapter: str, name: str = "measured") -> Callable | None:
    """``replicate.papers.<chapter>.scoreboard.<name>``, or None when the chapter has no such hook."""
    module = f"replicate.papers.{chapter}.scoreboard"
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name in (module, f"replicate.papers.{chapter}"):
            return None
        raise
    return getattr(mod, name, None)


def claims_of(chapter: str) -> dict[str, dict]:
    """The paper's claims listed in the chapter's reported.yaml: key -> {claim, source}."""
    import importlib.resources

    text = importlib.resources.files(f"replicate.papers.{chapter}").joinpath("reported.yaml").read_text()
    raw = (yaml.safe_load(text) or {}).get("claims") or {}
    out = {}
    for key, c in raw.items():
        if not isinstance(c, dict) or not c.get("claim"):
            raise ValueError(f"{chapter}: claim {key!r} of reported.yaml needs a `claim:` (and a `source:`)")
        out[str(key)] = {"claim": str(c["claim"]), "source": str(c.get("source", ""))}
    return out


def profiles_of(chapter: str) -> list[str]:
    """The chapter's profiles, the paper's setting first: paper, gpu, smoke, then any other."""
    have = list(chapters.get(chapter).profiles)
    return [p for p in PREFERENCE if p in have] + [p for p in have if p not in PREFERENCE]


def claims_table(roots: Iterable[Path] | None = None, records: list[dict] | None = None) -> pd.DataFrame:
    """One row per chapter, claim and profile: chapter, key, claim, source, profile, verdict, evidence, stale
    (some of that profile's records were made by code changed since), records (how many that profile has)."""
    from .results import is_stale

    recs = records if records is not None else _records(list(roots) if roots is not None else _default_roots())
    rows = []
    for ch in chapters.names():
        listed = claims_of(ch)
        hook = _hook(ch, "claims")
        for profile in profiles_of(ch):
            mine = [r for r in recs if r.get("chapter") == ch and r.get("profile") == profile]
            judged: dict = {}
            if mine and hook is not None:
                judged = dict(hook(mine))
                unknown = sorted(set(judged) - set(listed))
                if unknown:
                    raise KeyError(f"{ch}: the claims hook judged {unknown}, which reported.yaml's `claims:` does "
                                   f"not list")
            stale = bool(mine) and any(is_stale(r) for r in mine)
            for key, c in listed.items():
                if not mine:
                    verdict, evidence = "cannot speak", f"no `{profile}` records"
                elif hook is None:
                    verdict, evidence = "cannot speak", "the chapter does not judge its claims yet"
                elif key not in judged:
                    verdict, evidence = "cannot speak", "the chapter's scoreboard does not judge this claim"
                else:
                    verdict, evidence = judged[key]
                    if verdict not in VERDICTS:
                        raise ValueError(f"{ch}: claim {key!r} got the verdict {verdict!r}; valid: {', '.join(VERDICTS)}")
                rows.append({"chapter": ch, "key": key, "claim": c["claim"], "source": c["source"],
                             "profile": profile, "verdict": verdict, "evidence": str(evidence), "stale": stale,
                             "records": len(mine)})
    return pd.DataFrame(rows, columns=["chapter", "key", "claim", "source", "profile", "verdict", "evidence", "stale",
                                       "records"])


def table(roots: Iterable[Path] | None = None) -> pd.DataFrame:
    """One row per reported number: chapter, number, paper, ours, difference, unit, profile, device, date, verdict."""
    roots = list(roots) if roots is not None else _default_roots()
    recs = _records(roots)
    rows = []
    for ch in chapters.names():
        rep = reported.load(ch)
        hook = _hook(ch)
        best: dict[str, tuple] = {}
        for profile in PREFERENCE:
            mine = [r for r in recs if r.get("chapter") == ch and r.get("profile") == profile]
            if not mine or hook is None:
                continue
            for key, (value, rec) in hook(mine).items():
                if key not in rep:
                    raise KeyError(f"{ch}: the scoreboard hook gave {key!r}, which is not in reported.yaml")
                if key not in best and value is not None:
                    best[key] = (value, rec)
        for key, r in rep.items():
            paper = r.get("value")
            row = {"chapter": ch, "number": r.get("what", key), "paper": paper, "ours": None, "difference": None,
                   "unit": r.get("unit", ""), "profile": "", "device": "", "date": "", "verdict": "not run"}
            if key in best:
                value, rec = best[key]
                meta = rec["meta"]
                dev = meta.get("device", {})
                row.update(ours=value, difference=None if paper is None else value - paper, profile=rec["profile"],
                           device=dev.get("gpu") or dev.get("device", ""), date=str(meta.get("created", ""))[:10])
                if rec["profile"] == "paper":
                    row["verdict"] = reported.verdict(paper, value, r.get("tolerance"))
                else:
                    row["verdict"] = f"not run (closest: {rec['profile']}, not comparable)"
            rows.append(row)
    return pd.DataFrame(rows, columns=["chapter", "number", "paper", "ours", "difference", "unit", "profile",
                                       "device", "date", "verdict"])


def _number_kind(verdict: str) -> str:
    v = verdict.split(" (")[0]
    return {"shown": "run, no tolerance"}.get(v, v)


def best_verdicts(claims: pd.DataFrame) -> pd.DataFrame:
    """Per chapter and claim, the verdict of the first profile (paper, gpu, smoke, ...) whose records speak to
    it, and that profile ("" when none does)."""
    rows = []
    for (ch, key), part in claims.groupby(["chapter", "key"], sort=False):
        speaking = part[part["verdict"] != "cannot speak"]
        first = speaking.iloc[0] if len(speaking) else None
        rows.append({"chapter": ch, "key": key, "verdict": first["verdict"] if first is not None else "cannot speak",
                     "profile": first["profile"] if first is not None else ""})
    return pd.DataFrame(rows, columns=["chapter", "key", "verdict", "profile"])


def summary(numbers: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """One row per chapter: its claims counted once each by the most telling profile that speaks to them
    (``best_verdicts``), and its reported numbers counted by verdict."""
    best = best_verdicts(claims)
    rows = []
    for ch in chapters.names():
        row: dict = {"chapter": ch, "claims": 0}
        mine = best[best["chapter"] == ch]
        row["claims"] = len(mine)
        for v in VERDICTS:
            sel = mine[mine["verdict"] == v]
            by = sel[sel["profile"] != ""]["profile"].value_counts()
            row[v] = (len(sel), ", ".join(f"{p} {n}" for p, n in by.items()))
        nums = numbers[numbers["chapter"] == ch]["verdict"].map(_number_kind).value_counts() if len(numbers) else {}
        row["numbers"] = int(sum(nums.values)) if len(numbers) else 0
        for k in ("reproduced", "not reproduced", "run, no tolerance", "not run"):
            row[k] = int(nums.get(k, 0)) if len(numbers) else 0
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- markdown
def _cell(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("\n", " ").replace("|", "\\|")


def _row(cells: Iterable) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _count(pair: tuple[int, str]) -> str:
    n, by = pair
    return f"{n} ({by})" if n and by else str(n)


def _verdict_cell(verdict: str, stale: bool) -> str:
    text = {"supported": "supported", "contradicted": "**contradicted**", "cannot speak": "cannot speak"}[verdict]
    return text + (" †" if stale and verdict != "cannot speak" else "")


def _evidence(by: dict, profs: list[str]) -> str:
    """The evidence of the profiles that speak to a claim, else why those with records cannot."""
    said = [f"{p}: {by[p]['evidence']}" for p in profs if by[p]["verdict"] != "cannot speak"]
    return "; ".join(said or [f"{p}: {by[p]['evidence']}" for p in profs])


def claims_markdown(claims: pd.DataFrame, chapter: str, evidence: bool = True) -> list[str]:
    """The claims table of one chapter (MyST markdown lines): claim, source, a verdict for each profile that has
    records (the others, which cannot speak to any claim, named below the table), evidence."""
    part = claims[claims["chapter"] == chapter]
    if not len(part):
        return ["The chapter's `reported.yaml` lists no claims yet.", ""]
    every = list(dict.fromkeys(part["profile"]))
    profs = [p for p in every if part[part["profile"] == p]["records"].max() > 0]
    empty = [p for p in every if p not in profs]
    head = ["the paper's claim", "source", *(profs or ["verdict"])] + (["evidence"] if evidence and profs else [])
    lines = [_row(head), "| " + " | ".join(["---"] * len(head)) + " |"]
    for key, c in part.groupby("key", sort=False):
        by = {r["profile"]: r for _, r in c.iterrows()}
        first = c.iloc[0]
        verdicts = [_verdict_cell(by[p]["verdict"], by[p]["stale"]) for p in profs] or ["cannot speak"]
        cells = [first["claim"], first["source"], *verdicts]
        if evidence and profs:
            cells.append(_evidence(by, profs))
        lines.append(_row(cells))
    lines.append("")
    if empty:
        names = ", ".join(f"`{p}`" for p in empty)
        lines += [(f"No records of the profile{'s' if len(empty) > 1 else ''} {names} yet: "
                   f"{'they cannot' if len(empty) > 1 else 'it cannot'} speak to any claim."), ""]
    if (part["stale"] & (part["verdict"] != "cannot speak")).any():
        lines += ["† judged from records some of which were made by code that has changed since (a CPU build "
                  "cannot remake GPU records; each notebook names the commit that made them).", ""]
    return lines


def short_title(chapter: str) -> str:
    """The chapter's title up to its first colon."""
    return chapters.get(chapter).title.split(":")[0].strip()


def markdown(numbers: pd.DataFrame, claims: pd.DataFrame | None = None) -> str:
    """The scoreboard page (MyST markdown), written before the book is built."""
    claims = claims if claims is not None else claims_table()
    lines = [
        "# Replication scoreboard",
        "",
        "What our records say about each paper: first a summary per chapter, then the paper's claims judged for "
        "each profile (`supported`, `contradicted`, or `cannot speak` when the records do not bear on the claim), "
        "then every number the paper reports beside ours. This page is generated from the result records "
        "(`results/`) each time the book is built; nothing in it is typed by hand. Claims are judged on any "
        "profile's records, whatever their data: a verdict from `smoke` or `gpu` (generated data, small models) "
        "says what holds in that setting, not on the paper's data. Numbers are judged only from runs of the "
        "`paper` profile (the paper's data, models and settings).",
        "",
        "## Summary",
        "",
        "Each claim is counted once, by the first profile whose records speak to it (`paper`, then `gpu`, then "
        "`smoke`; the profiles are named in brackets).",
        "",
    ]
    summ = summary(numbers, claims)
    kinds = [k for k in ("reproduced", "not reproduced", "run, no tolerance", "not run")
             if k != "run, no tolerance" or summ[k].sum() > 0]
    head = ["chapter", "claims", *VERDICTS, "numbers", *kinds]
    lines += [_row(head), "| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |"]
    for _, r in summ.iterrows():
        lines.append(_row([short_title(r["chapter"]), r["claims"], *(_count(r[v]) for v in VERDICTS),
                           r["numbers"], *(r[k] for k in kinds)]))
    lines += ["", "## The papers' claims", ""]
    for ch in chapters.names():
        lines += [f"### {chapters.get(ch).title}", ""] + claims_markdown(claims, ch)
    lines += ["## The papers' numbers", "",
              "Every number each paper reports, with ours where a record measures it in the paper's setting "
              "(collapsed: open a chapter's list).", ""]
    for ch, part in numbers.groupby("chapter", sort=False):
        kinds = part["verdict"].map(_number_kind).value_counts()
        counts = ", ".join(f"{k} {v}" for k, v in kinds.items())
        lines += [f":::{{dropdown}} {chapters.get(ch).title}: {len(part)} numbers ({counts})", "",
                  "| number | paper | ours | difference | unit | profile | device | date | verdict |",
                  "| --- | ---: | ---: | ---: | --- | --- | --- | --- | --- |"]
        for _, r in part.iterrows():
            lines.append(_row(r[c] for c in ("number", "paper", "ours", "difference", "unit", "profile", "device",
                                             "date", "verdict")))
        lines += ["", ":::", ""]
    return "\n".join(lines)


def glance_markdown(claims: pd.DataFrame, chapter: str) -> str:
    """The at-a-glance block of a chapter page: the paper's claims and our verdict per profile."""
    lines = [":::{admonition} At a glance: the paper's claims and what our records say",
             ":class: replicate-glance", ""]
    lines += claims_markdown(claims, chapter, evidence=False)
    if len(claims[claims["chapter"] == chapter]):
        lines += ["Verdicts computed from the result records when this book was built; the evidence for each is "
                  "on the {doc}`scoreboard </book/scoreboard>`."]
    lines += [":::", ""]
    return "\n".join(lines)


def write(root: Path | None = None, roots: Iterable[Path] | None = None) -> Path:
    """Write ``book/scoreboard.md`` and ``book/_generated/<chapter>_glance.md``; return the scoreboard's path."""
    root = root or paths.project_root()
    roots = list(roots) if roots is not None else _default_roots()
    claims = claims_table(roots)
    out = root / "book" / "scoreboard.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(table(roots), claims), encoding="utf-8")
    gen = root / "book" / "_generated"
    gen.mkdir(parents=True, exist_ok=True)
    for ch in chapters.names():
        (gen / f"{ch}_glance.md").write_text(glance_markdown(claims, ch), encoding="utf-8")
    return out
