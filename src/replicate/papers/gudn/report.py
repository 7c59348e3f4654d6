"""Tables and figures of the GUDN chapter, drawn from records: Table 1 (data), Table 2 (P@k beside the paper and
its baselines), Table 3 (ablation), Table 4 (raw label names vs one-hot label input), Figure 3 (feature loss per
epoch), nDCG@k / PSP@k. No training here.

Records come as ``{variant: [record, ...]}`` (one record per seed; ``group`` makes that from a list). Every
table shows the mean over the seeds and, with more than one seed, their standard deviation (``sd``, ddof=1) and
the number of seeds; Table 4's gains are paired by seed (variant minus plain BERT with the same seed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from replicate import reported

from .profiles import KS, MODULES, PAPER_DATASETS

CHAPTER = "gudn"
DATASET_TITLES = {"generated": "generated corpus", "debtags": "Debian debtags", "eurlex4k": "Eurlex-4K",
                  "wiki10_31k": "Wiki10-31K", "amazoncat13k": "AmazonCat-13K", "wiki500k": "Wiki-500K"}
BASELINES = ("XML-CNN", "DXML", "AttentionXML", "RankAE", "X-Transformer", "LightXML")


def paper_dataset(params) -> str:
    """The paper's data set our numbers stand beside: the real one, or Eurlex-4K (the set with the most
    natural-language label names) for the generated and the debtags corpora, which the paper did not use."""
    return params.dataset_name if params.dataset_name in PAPER_DATASETS else "eurlex4k"


def comparable_note(params) -> str:
    if params.dataset_name in PAPER_DATASETS:
        return ""
    return (f"Our numbers are measured on the {DATASET_TITLES[params.dataset_name]}; the paper's columns are its "
            f"{DATASET_TITLES[paper_dataset(params)]} results: not comparable, shown for scale.")


def variant_of(rec: dict) -> str:
    return str(rec.get("experiment", ""))[len("train-"):]


def group(records: list[dict]) -> dict[str, list[dict]]:
    """Training records by variant, oldest first; for a (variant, seed) made more than once, the newest."""
    out: dict[str, dict] = {}
    for r in sorted(records, key=lambda r: str(r.get("meta", {}).get("created", ""))):
        if not str(r.get("experiment", "")).startswith("train-"):
            continue
        out.setdefault(variant_of(r), {})[r.get("meta", {}).get("seed")] = r
    return {v: list(by_seed.values()) for v, by_seed in out.items()}


def _as_list(x) -> list[dict]:
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def _values(recs, key) -> list[float]:
    return [float(r["metrics"][key]) for r in _as_list(recs) if isinstance(r.get("metrics", {}).get(key), (int, float))]


def _mean(vals: list[float]) -> float | None:
    return float(np.mean(vals)) if vals else None


def _sd(vals: list[float]) -> float | None:
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else None


def by_seed(recs) -> dict:
    return {r.get("meta", {}).get("seed"): r for r in _as_list(recs)}


def gains(records: dict, variant: str, key: str) -> list[float]:
    """``variant`` minus plain BERT at ``key``, paired by seed."""
    a, b = by_seed(records.get(variant)), by_seed(records.get("bert"))
    return [float(a[s]["metrics"][key]) - float(b[s]["metrics"][key]) for s in sorted(set(a) & set(b), key=str)
            if key in a[s].get("metrics", {}) and key in b[s].get("metrics", {})]


def n_seeds(records: dict) -> int:
    return max((len(_as_list(v)) for v in records.values()), default=0)


# ---------------------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------------------
def table1(data, params) -> pd.DataFrame:
    """Table 1's columns for the data set in use, beside the paper's row for the data set it stands for."""
    ours = data.stats()
    pd_ = paper_dataset(params)
    rep = reported.load(CHAPTER)
    rows = [{"data set": f"{DATASET_TITLES[params.dataset_name]} (ours)", **ours}]
    rows.append({"data set": f"{DATASET_TITLES[pd_]} (paper)",
                 **{k: rep[f"table1/{pd_}/{k}"]["value"] for k in ours}})
    return pd.DataFrame(rows).set_index("data set")


def examples(data, n: int = 3, chars: int = 160) -> pd.DataFrame:
    lt = data.train.label_texts()
    return pd.DataFrame([{"text (head)": data.train.texts[i][:chars] + " ...",
                          "label names": " ".join(data.train.label_names[i]),
                          "label text (the label side's input)": lt[i]} for i in range(n)])


def table2(records: dict, params, profile: str) -> pd.DataFrame:
    """P@1/3/5 of our GUDN (mean over seeds) beside the paper's GUDN and the baselines it reports (Table 2)."""
    d = paper_dataset(params)
    keys = [f"table2/{d}/GUDN/P@{k}" for k in KS]
    vals = {k: _values(records.get("gudn"), f"P@{k}") for k in KS}
    measured = {f"table2/{d}/GUDN/P@{k}": _mean(vals[k]) for k in KS}
    df = reported.compare(CHAPTER, measured, profile, keys)
    rep = reported.load(CHAPTER)
    df.insert(0, "P@k", [f"P@{k}" for k in KS])
    for i, b in enumerate(BASELINES):
        df.insert(1 + i, b, [rep.get(f"table2/{d}/{b}/P@{k}", {}).get("value") for k in KS])
    df = df.rename(columns={"paper": "GUDN (paper)", "ours": f"GUDN (ours, {DATASET_TITLES[params.dataset_name]})"})
    if n_seeds(records) > 1:
        df.insert(df.columns.get_loc("difference"), "ours sd", [_sd(vals[k]) for k in KS])
        df.insert(df.columns.get_loc("difference"), "seeds", [len(vals[k]) for k in KS])
    return df.drop(columns=["quantity", "unit"]).set_index("P@k")


def table3(records: dict, params, profile: str) -> pd.DataFrame:
    """Ablation (Table 3): BERT, +GUD-F, +GUD-L and GUDN; the paper's P@k beside ours (mean, sd over seeds)."""
    d = paper_dataset(params)
    rep = reported.load(CHAPTER)
    many = n_seeds(records) > 1
    rows = []
    for v, name in MODULES.items():
        row = {"modules": name}
        for k in KS:
            key = f"table2/{d}/GUDN/P@{k}" if v == "gudn" else f"table3/{d}/{name}/P@{k}"
            vals = _values(records.get(v), f"P@{k}")
            row[f"P@{k} paper"] = rep.get(key, {}).get("value")
            row[f"P@{k} ours"] = _mean(vals)
            if many:
                row[f"P@{k} sd"] = _sd(vals)
        if many:
            row["seeds"] = len(_values(records.get(v), "P@1"))
        rows.append(row)
    df = pd.DataFrame(rows).set_index("modules")
    df["profile"] = profile
    return df


def table4(records: dict, params, profile: str) -> pd.DataFrame:
    """Gain in P@k over plain BERT with raw label names vs one-hot label vectors as the label input (Table 4),
    paired by seed; mean (and sd over seeds) beside the paper's."""
    d = paper_dataset(params)
    d4 = d if d in ("eurlex4k", "wiki10_31k") else "eurlex4k"
    measured, sds = {}, []
    for inp, v in (("raw", "gudn"), ("onehot", "gudn_onehot")):
        for k in KS:
            g = gains(records, v, f"P@{k}")
            measured[f"table4/{d4}/{inp}/P@{k}"] = _mean(g)
            sds.append(_sd(g))
    keys = [f"table4/{d4}/{inp}/P@{k}" for inp in ("raw", "onehot") for k in KS]
    df = reported.compare(CHAPTER, measured, profile, keys)
    df.insert(0, "label input", ["raw label names"] * 3 + ["one-hot vectors"] * 3)
    df.insert(1, "P@k", [f"P@{k}" for k in KS] * 2)
    if n_seeds(records) > 1:
        df.insert(df.columns.get_loc("difference"), "ours sd", sds)
    return df.drop(columns=["quantity"]).set_index(["label input", "P@k"])


def extras(records: dict, profile: str) -> pd.DataFrame:
    """P@k, nDCG@k and PSP@k of every variant (nDCG and PSP are not in the paper), mean over seeds."""
    cols = [f"{m}@{k}" for m in ("P", "nDCG", "PSP") for k in KS]
    rows = []
    for v, recs in records.items():
        row = {"variant": v, **{c: _mean(_values(recs, c)) for c in cols}}
        if n_seeds(records) > 1:
            row["P@1 sd"] = _sd(_values(recs, "P@1"))
            row["seeds"] = len(_as_list(recs))
        rows.append(row)
    df = pd.DataFrame(rows).set_index("variant")
    df["profile"] = profile
    return df


# ---------------------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------------------
def _curve(recs, key):
    """(epochs, mean, min, max) of a per-epoch curve over the seeds' records."""
    rs = [r for r in _as_list(recs) if r.get("curves", {}).get(key)]
    if not rs:
        return None
    n = min(len(r["curves"][key]) for r in rs)
    arr = np.array([[np.nan if x is None else x for x in r["curves"][key][:n]] for r in rs], dtype=float)
    return rs[0]["curves"]["epoch"][:n], arr.mean(0), arr.min(0), arr.max(0)


def figure3(records: dict, profile: str, ax=None):
    """Figure 3: the feature loss L_feature per epoch with raw label names vs one-hot label vectors (mean over
    seeds, the band spans their minimum and maximum)."""
    import matplotlib.pyplot as plt

    from replicate.plots import profile_title

    ax = ax or plt.subplots()[1]
    for v, name in (("gudn", "raw label names"), ("gudn_onehot", "one-hot vectors")):
        c = _curve(records.get(v), "loss_feature")
        if c is None:
            continue
        ep, m, lo, hi = c
        ax.plot(ep, m, marker="o", label=name)
        if len(_as_list(records.get(v))) > 1:
            ax.fill_between(ep, lo, hi, alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("feature loss $L_{feature}$ (MSE)")
    ax.legend()
    profile_title(ax, "Figure 3: feature loss per epoch", profile)
    return ax


def training_curves(records: dict, profile: str, ax=None):
    """Test P@1 per epoch of every variant (mean over seeds)."""
    import matplotlib.pyplot as plt

    from replicate.plots import profile_title

    ax = ax or plt.subplots()[1]
    for v, recs in records.items():
        c = _curve(recs, "P@1")
        if c is not None:
            ax.plot(c[0], c[1], marker=".", label=v)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test P@1 (%)")
    ax.legend()
    profile_title(ax, "Test P@1 per epoch", profile)
    return ax


def chapter_params(profile: str):
    """The resolved parameters of a profile (e.g. to label committed records)."""
    from replicate import chapters

    return chapters.get(CHAPTER).resolve(profile)


def show_all(records: dict, params, profile: str) -> None:
    """Every table and figure of notebook 2 for one profile's records (used for the committed GPU records)."""
    from replicate.notebook import table

    note = comparable_note(params)
    table(table2(records, params, profile), f"Table 2 ({profile}): P@k (%)", profile, floatfmt="{:.2f}", note=note)
    table(table3(records, params, profile), f"Table 3 ({profile}): ablation, P@k (%)", profile, floatfmt="{:.2f}",
          note=note)
    table(table4(records, params, profile), f"Table 4 ({profile}): gain over BERT (points)", profile,
          floatfmt="{:+.2f}", note=note)
    table(extras(records, profile), f"P@k, nDCG@k, PSP@k ({profile}, %)", profile, floatfmt="{:.2f}")
    figure3(records, profile)
    training_curves(records, profile)
