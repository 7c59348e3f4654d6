"""Which reported numbers the chapter's records measure (see ``replicate.scoreboard``).

Only training records (``train-<variant>``) whose config names one of the paper's four data sets count; the
generated corpus of ``smoke`` / ``gpu`` measures none of the paper's numbers (it only imitates Eurlex-4K). Our
P@k are stored in percent, the paper's unit. Per data set, the newest record of each variant gives

* ``table2/<d>/GUDN/P@k`` (variant ``gudn``),
* ``table3/<d>/{BERT, BERT+GUD-F, BERT+GUD-L}/P@k`` (variants ``bert``, ``gud_f``, ``gud_l``; Table 3's GUDN row is
  Table 2's),
* ``table4/<d>/{raw, onehot}/P@k``: the gain in points of ``gudn`` / ``gudn_onehot`` over ``bert``, only from a pair
  of records trained with the same config apart from the variant (the newest such pair).

Table 1 (the data sets' statistics) is computed live by notebook 01 and has no record, so it is not mapped.
"""
from __future__ import annotations

from .experiment import KS, MODULES

REAL = ("eurlex4k", "wiki10_31k", "amazoncat13k", "wiki500k")
TABLE4_INPUTS = {"raw": "gudn", "onehot": "gudn_onehot"}


def _created(rec: dict) -> str:
    return str(rec.get("meta", {}).get("created", ""))


def _train(records: list[dict]) -> list[dict]:
    """Training records on a real data set, each with its variant and a finished P@1..5."""
    out = []
    for r in records:
        exp = str(r.get("experiment", ""))
        cfg = r.get("config", {})
        if not exp.startswith("train-") or cfg.get("dataset") not in REAL:
            continue
        if cfg.get("variant", exp[len("train-"):]) != exp[len("train-"):]:
            continue
        if any(not isinstance(r.get("metrics", {}).get(f"P@{k}"), (int, float)) for k in KS):
            continue  # a non-zero rank of a distributed run keeps no metrics
        out.append(r)
    return out


def _variant(rec: dict) -> str:
    return rec["experiment"][len("train-"):]


def _same_setting(a: dict, b: dict) -> bool:
    strip = lambda c: {k: v for k, v in c.items() if k != "variant"}  # noqa: E731
    return strip(a["config"]) == strip(b["config"])


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    from replicate import reported

    rep = reported.load("gudn")
    train = _train(records)
    out: dict[str, tuple[float, dict]] = {}
    for d in REAL:
        mine = sorted((r for r in train if r["config"]["dataset"] == d), key=_created)
        newest = {_variant(r): r for r in mine}  # sorted oldest first: the last one wins
        for v, name in MODULES.items():
            rec = newest.get(v)
            if rec is None:
                continue
            for k in KS:
                key = f"table2/{d}/GUDN/P@{k}" if v == "gudn" else f"table3/{d}/{name}/P@{k}"
                if key in rep:
                    out[key] = (float(rec["metrics"][f"P@{k}"]), rec)
        for inp, v in TABLE4_INPUTS.items():
            if f"table4/{d}/{inp}/P@1" not in rep:
                continue
            pairs = [(a, b) for a in mine if _variant(a) == v for b in mine
                     if _variant(b) == "bert" and _same_setting(a, b)]
            if not pairs:
                continue
            a, b = max(pairs, key=lambda p: (_created(p[0]), _created(p[1])))
            for k in KS:
                key = f"table4/{d}/{inp}/P@{k}"
                if key in rep:
                    out[key] = (float(a["metrics"][f"P@{k}"]) - float(b["metrics"][f"P@{k}"]), a)
    return out
