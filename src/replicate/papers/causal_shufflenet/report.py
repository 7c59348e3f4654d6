"""Tables and figures of the chapter, built from result records (notebooks stay thin)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from replicate import reported
from replicate.plots import profile_title

CHAPTER = "causal_shufflenet"


def table2(num_classes_for_counts=(101, 600)) -> pd.DataFrame:
    """Table 2's efficiency columns counted by code next to the reported figures (params with 101 and 600 classes,
    multiply-adds at 16x112x112)."""
    from .model import table2_counts

    rep = reported.load(CHAPTER)
    c101 = {r["key"]: r for r in table2_counts(101)}
    c600 = {r["key"]: r for r in table2_counts(600)}
    rows = []
    for key, r in c101.items():
        base = key.split("_paper")[0].split("_code")[0]
        rows.append({
            "model": r["model"],
            "params (101 cl.)": r["params"],
            "params (600 cl.)": c600[key]["params"],
            "paper params (M)": rep.get(f"params/{base}", {}).get("value"),
            "MFLOPs ours (mult-adds)": round(r["MFLOPs (multiply-adds)"], 1),
            "MFLOPs Efficient-3DCNNs": rep.get(f"mflops/{base}", {}).get("value"),
            "paper accuracy (%)": rep.get(f"acc/{base}", {}).get("value"),
        })
    for key, name, params in (("resnet50", "ResNet-50", 44.54), ("i3d_two_stream", "TwoStream I3D", 25.0),
                              ("r2plus1d_two_stream", "R(2+1)D-TwoStream (pretrained)", 33.3)):
        rows.append({"model": name + " (reported only)", "paper params (M)": params,
                     "paper accuracy (%)": rep[f"acc/{key}"]["value"]})
    return pd.DataFrame(rows)


#: The configuration the reported counts refer to: the baselines with the 600-class head of Efficient-3DCNNs, the
#: causal model in the authors' configuration (code's buffer, 613,661 parameters) with UCF101's 101 classes, one
#: 16x112x112 clip; the models at their full (paper's) depth and width.
COUNTS_CONFIG = {"shape": [1, 3, 16, 112, 112], "baseline_classes": 600, "causal_classes": 101,
                 "causal_buffer_mode": "code"}


def reference_counts(config: dict = COUNTS_CONFIG) -> dict[str, float]:
    """Our parameters (M) and multiply-adds (M) keyed as reported.yaml (``params/<model>``, ``mflops/<model>``), at
    ``config`` (``mflops/causal`` is extra: the paper gives none)."""
    from .model import table2_counts

    shape = tuple(config["shape"])
    base = {r["key"]: r for r in table2_counts(config["baseline_classes"], shape) if not r["key"].startswith("causal")}
    causal = {r["key"]: r for r in table2_counts(config["causal_classes"], shape)}[f"causal_{config['causal_buffer_mode']}"]
    ours = {f"params/{k}": r["params"] / 1e6 for k, r in base.items()}
    ours["params/causal"] = causal["params"] / 1e6
    ours.update({f"mflops/{k}": r["MFLOPs (multiply-adds)"] for k, r in base.items()})
    ours["mflops/causal"] = causal["MFLOPs (multiply-adds)"]
    return ours


def counts_vs_reported(record: dict | None = None) -> pd.DataFrame:
    """Our counted parameters (M) and multiply-adds (M) against the figures the paper reports (see
    ``COUNTS_CONFIG``): from a ``counts`` record (``experiment.counts``) when given, else counted here."""
    ours = record["metrics"] if record is not None else reference_counts()
    rep = reported.load(CHAPTER)
    return reported.compare(CHAPTER, ours, "paper", [k for k in ours if k in rep])


def accuracy_table(records: dict, profile: str) -> pd.DataFrame:
    """Our top-1 / top-5 (per model) beside the paper's 70.12 / 91.51."""
    rows = []
    for kind, rec in records.items():
        df = reported.compare(CHAPTER, {"top1": rec["metrics"]["top1"], "top5": rec["metrics"]["top5"]}, profile,
                              ["top1", "top5"])
        df.insert(0, "model", rec.get("model", kind))
        rows.append(df)
    return pd.concat(rows, ignore_index=True)


def per_class(rec: dict) -> pd.DataFrame:
    return pd.DataFrame({"class": list(rec["per_class_accuracy"]),
                         "accuracy": list(rec["per_class_accuracy"].values())})


def confused_pairs(rec: dict) -> pd.DataFrame:
    """The most-confused (true, predicted) pairs of a record, by count."""
    return pd.DataFrame(rec["confused_pairs"], columns=["true", "predicted", "count", "share_of_true"])


def mirrored_table(records: dict) -> pd.DataFrame:
    """Share of videos of each mirrored pair predicted as the other member, per model (lower is better)."""
    out = None
    for kind, rec in records.items():
        df = pd.DataFrame(rec["mirrored"]).rename(columns={"confused_with_mirror": rec.get("model", kind)})
        out = df if out is None else out.merge(df, on="pair")
    return out


def plot_confusion(rec: dict, profile: str, ax=None, title: str = "Confusion matrix"):
    import matplotlib.pyplot as plt
    import seaborn as sns

    cm = np.asarray(rec["confusion"], dtype=float)
    classes = rec["classes"]
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(classes)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 0.45 * n + 2), max(4, 0.4 * n + 1.5)))
    sns.heatmap(norm, ax=ax, cmap="viridis", vmin=0, vmax=1, xticklabels=classes, yticklabels=classes,
                annot=n <= 12, fmt=".2f", cbar_kws={"label": "share of the true class"})
    ax.set_xlabel("predicted"); ax.set_ylabel("true")
    profile_title(ax, f"{title} ({rec.get('model')})", profile)
    return ax


def plot_curves(records: dict, profile: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for kind, rec in records.items():
        c = rec["curves"]
        axes[0].plot(c["epoch"], c["train_loss"], marker="o", label=rec.get("model", kind))
        acc = np.array([np.nan if a is None else a for a in c["val_acc"]], dtype=float)  # None: not validated
        ok = ~np.isnan(acc)
        axes[1].plot(np.asarray(c["epoch"])[ok], acc[ok], marker="o", label=rec.get("model", kind))
    axes[0].set_xlabel("epoch"); axes[0].set_ylabel("training loss"); axes[0].set_yscale("log")
    axes[1].set_xlabel("epoch"); axes[1].set_ylabel("validation top-1 (%)")
    profile_title(axes[0], "Training loss", profile); profile_title(axes[1], "Validation accuracy", profile)
    axes[1].legend()
    return fig


def timing_table(records: dict) -> pd.DataFrame:
    rows = []
    for kind, rec in records.items():
        t = rec["timing"]
        rows.append({"model": rec.get("model", kind), "waiting for data (s)": t["data_wait_s"],
                     "training steps (s)": t["step_s"], "evaluation (s)": t["eval_s"],
                     "data wait share": rec["metrics"]["data_wait_fraction"],
                     "decoding into cache (s)": rec.get("decode", {}).get("seconds"),
                     "device": rec["meta"]["device"].get("gpu", rec["meta"]["device"]["device"])})
    return pd.DataFrame(rows)
