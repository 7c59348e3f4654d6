"""Which reported numbers the chapter's records measure, and which of the paper's claims they support
(see ``replicate.scoreboard``). JSON records only: no torch.

``measured``: only training records (``train-<variant>``) on one of the paper's four data sets count; the
generated and debtags corpora measure none of the paper's numbers. Our P@k are stored in percent, the paper's
unit. Per data set, the mean over the seeds of the records of each variant's newest setting (its newest record's parameters but the seed) gives ``table2/<d>/GUDN/P@k``
(``gudn``), ``table3/<d>/{BERT, BERT+GUD-F, BERT+GUD-L}/P@k`` and ``table4/<d>/{raw, onehot}/P@k`` (the gain of
``gudn`` / ``gudn_onehot`` over ``bert``, paired by seed among records with the same parameters but the variant).

``claims``: the paper's qualitative claims (reported.yaml ``claims:``) judged from the records of one profile,
whatever its data: an effect counts as seen when its mean over the seeds clears one standard error of the mean
(paired by seed; with one seed, when it has the claimed sign), as contradicted when it has the opposite sign by
as much, and otherwise the records cannot speak to it (the difference is inside the seeds' spread).
"""
from __future__ import annotations

import math

from .profiles import KS, MODULES, PAPER_DATASETS

TABLE4_INPUTS = {"raw": "gudn", "onehot": "gudn_onehot"}


def _created(rec: dict) -> str:
    return str(rec.get("meta", {}).get("created", ""))


def _params(rec: dict) -> dict:
    cfg = rec.get("config", {})
    return cfg.get("params", cfg)


def _variant(rec: dict) -> str:
    return rec["experiment"][len("train-"):]


def _train(records: list[dict]) -> list[dict]:
    """Training records, each with a finished P@1..5, oldest first."""
    out = []
    for r in records:
        if not str(r.get("experiment", "")).startswith("train-"):
            continue
        if any(not isinstance(r.get("metrics", {}).get(f"P@{k}"), (int, float)) for k in KS):
            continue
        out.append(r)
    return sorted(out, key=_created)


def _setting(rec: dict) -> str:
    """The parameters apart from the variant and the seed (records of one setting are compared)."""
    p = {k: v for k, v in _params(rec).items() if k not in ("variants", "seeds", "seed")}
    return repr(sorted(p.items())) + repr(rec.get("config", {}).get("extra", {}).get("world_size"))


def _of(train: list[dict], variant: str, setting: str | None = None) -> dict:
    """{seed: newest record} of ``variant`` in ``setting`` (default: the setting of its newest record)."""
    mine = [r for r in train if _variant(r) == variant]
    if not mine:
        return {}
    setting = setting if setting is not None else _setting(mine[-1])
    return {r.get("meta", {}).get("seed"): r for r in mine if _setting(r) == setting}


def _mean(xs):
    return sum(xs) / len(xs)


def _sem(xs):
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) / math.sqrt(len(xs))


def _paired(train: list[dict], a: str, b: str, key) -> list[float]:
    """``a`` minus ``b`` per seed at ``key`` (a metric name, or a function of a record), ``b``'s records taken
    from the setting of ``a``'s newest."""
    A = _of(train, a)
    if not A:
        return []
    B = _of(train, b, _setting(next(iter(A.values()))))
    get = key if callable(key) else (lambda r: r["metrics"].get(key))
    out = []
    for s in sorted(set(A) & set(B), key=str):
        x, y = get(A[s]), get(B[s])
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            out.append(float(x) - float(y))
    return out


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    from replicate import reported

    rep = reported.load("gudn")
    out: dict[str, tuple[float, dict]] = {}
    for d in PAPER_DATASETS:
        train = _train([r for r in records if _params(r).get("dataset_name") == d])
        for v, name in MODULES.items():
            recs = list(_of(train, v).values())
            if not recs:
                continue
            for k in KS:
                key = f"table2/{d}/GUDN/P@{k}" if v == "gudn" else f"table3/{d}/{name}/P@{k}"
                if key in rep:
                    out[key] = (_mean([float(r["metrics"][f"P@{k}"]) for r in recs]), recs[-1])
        for inp, v in TABLE4_INPUTS.items():
            for k in KS:
                key = f"table4/{d}/{inp}/P@{k}"
                g = _paired(train, v, "bert", f"P@{k}")
                if key in rep and g:
                    out[key] = (_mean(g), list(_of(train, v).values())[-1])
    return out


def _judge(diffs_by_k: dict[str, list[float]], what: str) -> tuple[str, str]:
    """Supported when every difference clears one standard error above 0, contradicted when a majority lies
    that far below 0, otherwise cannot speak."""
    if not diffs_by_k or not any(diffs_by_k.values()):
        return "cannot speak", f"no records of {what}"
    parts, up, down = [], 0, 0
    n = max(len(v) for v in diffs_by_k.values())
    for k, xs in diffs_by_k.items():
        if not xs:
            continue
        m, se = _mean(xs), _sem(xs)
        parts.append(f"{k} {m:+.2f}" + (f" ± {se:.2f}" if len(xs) > 1 else ""))
        up += m - se > 0
        down += m + se < 0
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    ev = f"{what}: " + ", ".join(parts) + f" ({seeds}; mean ± standard error, paired by seed)"
    if up == len(parts):
        return "supported", ev
    if down > len(parts) / 2:
        return "contradicted", ev
    return "cannot speak", ev + ": inside the seeds' spread or mixed across k"


def _final_feature_loss(rec: dict):
    c = rec.get("curves", {}).get("loss_feature") or []
    c = [x for x in c if x is not None]
    return c[-1] if c else None


def claims(records: list[dict]) -> dict[str, tuple[str, str]]:
    train = _train(records)
    pk = lambda a, b: {f"P@{k}": _paired(train, a, b, f"P@{k}") for k in KS}  # noqa: E731
    out = {
        "guide_raises_p_at_k": _judge(pk("gudn", "bert"), "GUDN minus BERT"),
        "feature_guide_helps": _judge(pk("gud_f", "bert"), "BERT+GUD-F minus BERT"),
        "link_guide_helps": _judge(pk("gud_l", "bert"), "BERT+GUD-L minus BERT"),
        "raw_names_beat_onehot": _judge(pk("gudn", "gudn_onehot"), "GUDN (raw names) minus GUDN (one-hot)"),
    }
    fl = _paired(train, "gudn_onehot", "gudn", _final_feature_loss)
    out["raw_names_lower_feature_loss"] = _judge({"last-epoch L_feature": fl},
                                                 "L_feature one-hot minus raw names")
    # Table 2's claim: only records on a paper data set, against the LightXML numbers the paper reports
    gudn = _of(train, "gudn")
    d = _params(next(iter(gudn.values()))).get("dataset_name") if gudn else None
    if d in PAPER_DATASETS:
        from replicate import reported

        rep = reported.load("gudn")
        diffs = {f"P@{k}": [float(r["metrics"][f"P@{k}"]) - rep[f"table2/{d}/LightXML/P@{k}"]["value"]
                            for r in gudn.values()] for k in KS if f"table2/{d}/LightXML/P@{k}" in rep}
        out["gudn_beats_lightxml"] = _judge(diffs, f"our GUDN minus the paper's LightXML on {d}")
    else:
        out["gudn_beats_lightxml"] = ("cannot speak", "needs GUDN records on one of the paper's data sets "
                                                      "(LightXML is not run here; its reported numbers are the bar)")
    return out
