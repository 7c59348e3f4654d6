"""The chapter's experiments and tables: Table 1 (data), Table 2 (P@k vs baselines), Table 3 (ablation),
Table 4 (raw names vs one-hot label input), Figure 3 (feature loss per epoch), plus nDCG@k / PSP@k.

Every run is a result record (``ResultStore``) keyed by its config, so the book re-uses GPU runs on a CPU."""
from __future__ import annotations

import os

import pandas as pd

from replicate import paths, reported
from replicate.results import ResultStore, committed_records
from replicate.train import Checkpointer, set_threads

from . import data as gdata
from .train import _is_dist, experiment_config, fit

CHAPTER = "gudn"
DATASET_TITLES = {"generated": "generated corpus", "eurlex4k": "Eurlex-4K", "wiki10_31k": "Wiki10-31K",
                  "amazoncat13k": "AmazonCat-13K", "wiki500k": "Wiki-500K"}
MODULES = {"bert": "BERT", "gud_f": "BERT+GUD-F", "gud_l": "BERT+GUD-L", "gudn": "GUDN"}
BASELINES = ("XML-CNN", "DXML", "AttentionXML", "RankAE", "X-Transformer", "LightXML")
KS = (1, 3, 5)

_cache: dict = {}


def paper_dataset(params) -> str:
    """The paper's data set our numbers stand beside: the real one, or Eurlex-4K (the semantically rich set the
    generated corpus imitates) for the generated corpus."""
    return "eurlex4k" if params.dataset == "generated" else params.dataset


def prepare(params):
    """(data, tokenizer) for a profile, made once per process."""
    key = (params.dataset, params.data_dir, params.bert, params.vocab_size, *gdata.generated_key(params).values())
    if key not in _cache:
        set_threads()
        data = gdata.load(params)
        _cache[key] = (data, gdata.tokenizer_for(params, data))
    return _cache[key]


def run_variant(params, profile: str, variant: str, force: bool = False, log=print) -> dict:
    """Train and evaluate one variant, or re-use its stored record."""
    store = ResultStore(CHAPTER, profile)
    cfg = experiment_config(params, variant)
    exp = f"train-{variant}"
    if not force:
        rec = store.get(exp, cfg)
        if rec is not None:
            log(f"[{profile}] re-using record {store.path_for(exp, cfg).name}")
            return rec
    data, tok = prepare(params)
    # checkpoints live in the data cache, never under results/ (which is committed)
    ck = Checkpointer(paths.data_dir() / CHAPTER / "checkpoints" / profile / (store.path_for(exp, cfg).stem + ".pt"))
    import time

    t0 = time.perf_counter()
    result = fit(params, data, tok, variant, ck, log=log)
    rank = int(os.environ.get("RANK", "0")) if _is_dist() else 0
    if rank != 0:
        return {"metrics": {}, "curves": result["curves"]}
    rec = store.put(exp, cfg, result, seed=params.seed, wall_time_s=time.perf_counter() - t0, force=True)
    ck.clear()
    return rec


def run_all(params, profile: str, variants=None) -> dict[str, dict]:
    return {v: run_variant(params, profile, v) for v in (variants or params.variants)}


# ---------------------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------------------
def table1(data: gdata.XMLData, params) -> pd.DataFrame:
    """Table 1's columns for the data set in use, beside the paper's row for the data set it stands for."""
    ours = data.stats()
    pd_ = paper_dataset(params)
    rep = reported.load(CHAPTER)
    rows = [{"data set": f"{DATASET_TITLES[params.dataset]} (ours)", **ours}]
    rows.append({"data set": f"{DATASET_TITLES[pd_]} (paper)",
                 **{k: rep[f"table1/{pd_}/{k}"]["value"] for k in ours}})
    return pd.DataFrame(rows).set_index("data set")


def examples(data: gdata.XMLData, n: int = 3, chars: int = 160) -> pd.DataFrame:
    return pd.DataFrame([{"text (head)": data.train.texts[i][:chars] + " ...",
                          "label names (the label side's input)": data.train.label_texts()[i]} for i in range(n)])


def _m(rec, key):
    return None if rec is None else rec.get("metrics", {}).get(key)


def table2(records: dict, params, profile: str) -> pd.DataFrame:
    """P@1/3/5 of our GUDN beside the paper's GUDN and the baselines it reports (Table 2)."""
    d = paper_dataset(params)
    keys = [f"table2/{d}/GUDN/P@{k}" for k in KS]
    measured = {f"table2/{d}/GUDN/P@{k}": _m(records.get("gudn"), f"P@{k}") for k in KS}
    df = reported.compare(CHAPTER, measured, profile, keys)
    rep = reported.load(CHAPTER)
    df.insert(0, "P@k", [f"P@{k}" for k in KS])
    for i, b in enumerate(BASELINES):
        df.insert(1 + i, b, [rep.get(f"table2/{d}/{b}/P@{k}", {}).get("value") for k in KS])
    df = df.rename(columns={"paper": "GUDN (paper)", "ours": f"GUDN (ours, {DATASET_TITLES[params.dataset]})"})
    return df.drop(columns=["quantity", "unit"]).set_index("P@k")


def table3(records: dict, params, profile: str) -> pd.DataFrame:
    """Ablation (Table 3): BERT, +GUD-F, +GUD-L and GUDN; paper beside ours for each P@k."""
    d = paper_dataset(params)
    rep = reported.load(CHAPTER)
    rows = []
    for v, name in MODULES.items():
        row = {"modules": name}
        for k in KS:
            key = f"table2/{d}/GUDN/P@{k}" if v == "gudn" else f"table3/{d}/{name}/P@{k}"
            row[f"P@{k} paper"] = rep.get(key, {}).get("value")
            row[f"P@{k} ours"] = _m(records.get(v), f"P@{k}")
        rows.append(row)
    df = pd.DataFrame(rows).set_index("modules")
    df["profile"] = profile
    return df


def table4(records: dict, params, profile: str) -> pd.DataFrame:
    """Gain in P@k over plain BERT with raw label names vs one-hot label vectors as the label input (Table 4)."""
    d = paper_dataset(params)
    d4 = d if d in ("eurlex4k", "wiki10_31k") else "eurlex4k"
    base = records.get("bert")
    measured = {}
    for inp, v in (("raw", "gudn"), ("onehot", "gudn_onehot")):
        for k in KS:
            a, b = _m(records.get(v), f"P@{k}"), _m(base, f"P@{k}")
            measured[f"table4/{d4}/{inp}/P@{k}"] = None if a is None or b is None else a - b
    keys = [f"table4/{d4}/{inp}/P@{k}" for inp in ("raw", "onehot") for k in KS]
    df = reported.compare(CHAPTER, measured, profile, keys)
    df.insert(0, "label input", ["raw label names"] * 3 + ["one-hot vectors"] * 3)
    df.insert(1, "P@k", [f"P@{k}" for k in KS] * 2)
    return df.drop(columns=["quantity"]).set_index(["label input", "P@k"])


def extras(records: dict, profile: str) -> pd.DataFrame:
    """nDCG@k and PSP@k of every variant (not in the paper)."""
    cols = [f"{m}@{k}" for m in ("P", "nDCG", "PSP") for k in KS]
    rows = [{"variant": v, **{c: r.get("metrics", {}).get(c) for c in cols}} for v, r in records.items()]
    df = pd.DataFrame(rows).set_index("variant")
    df["profile"] = profile
    return df


def figure3(records: dict, profile: str, ax=None):
    """Figure 3: the feature loss L_feature per epoch with raw label names vs one-hot label vectors."""
    import matplotlib.pyplot as plt

    from replicate.plots import profile_title

    ax = ax or plt.subplots()[1]
    for v, name in (("gudn", "raw label names"), ("gudn_onehot", "one-hot vectors")):
        r = records.get(v)
        if r is None:
            continue
        c = r["curves"]
        ax.plot(c["epoch"], c["loss_feature"], marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("feature loss $L_{feature}$ (MSE)")
    ax.legend()
    profile_title(ax, "Figure 3: feature loss per epoch", profile)
    return ax


def training_curves(records: dict, profile: str, ax=None):
    """Test P@1 per epoch of every variant."""
    import matplotlib.pyplot as plt

    from replicate.plots import profile_title

    ax = ax or plt.subplots()[1]
    for v, r in records.items():
        ax.plot(r["curves"]["epoch"], r["curves"]["P@1"], marker=".", label=v)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test P@1 (%)")
    ax.legend()
    profile_title(ax, "Test P@1 per epoch", profile)
    return ax


def gpu_records() -> dict[str, dict]:
    """The committed records of the `gpu` profile, newest per variant."""
    out = {}
    for r in committed_records(CHAPTER, "gpu"):
        if r.get("experiment", "").startswith("train-"):
            out[r["experiment"][len("train-"):]] = r
    return out


def chapter_params(profile: str):
    """The resolved parameters of a profile (e.g. to label the committed gpu records)."""
    from replicate import chapters

    return chapters.get(CHAPTER).resolve(profile)
