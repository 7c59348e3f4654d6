"""Tables and figures of the chapter, built from result records (notebooks stay thin)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from replicate import reported
from replicate.plots import profile_title

CHAPTER = "causal_shufflenet"


def table2() -> pd.DataFrame:
    """Table 2's efficiency columns counted by code beside the reported figures: parameters with 101 and 600
    classes, plain multiply-adds (MMACs) and the Efficient-3DCNNs counter's FLOPs at 16x112x112 in its 2019 version
    (what the paper printed) and its corrected 2021 version (what its authors stand by now)."""
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
            "MMACs (101 cl.)": round(r["MMACs"], 1),
            "MFLOPs E3D-2021 counter (600 cl.)": round(c600[key]["MFLOPs E3D 2021"], 1),
            "Efficient-3DCNNs 2021 table": rep.get(f"mflops/{base}", {}).get("value"),
            "MFLOPs E3D-2019 counter (600 cl.)": round(c600[key]["MFLOPs E3D 2019"], 1),
            "paper (2019 table)": rep.get(f"mflops2019/{base}", {}).get("value"),
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
    """Our counts at ``config``, keyed as reported.yaml: ``params/<model>`` (M), ``mflops/<model>`` (the corrected
    Efficient-3DCNNs counter, M), ``mflops2019/<model>`` (its 2019 version, M), ``macs/<model>`` (plain
    multiply-adds, M); ``*/causal`` beside them (the paper gives no FLOPs for it). ``like101/...``: every model
    with 101 classes, like for like (``params``, ``macs``, ``mflops``), and the causal model's ratios to the 0.5x
    baseline there."""
    from .model import table2_counts

    shape = tuple(config["shape"])
    base = {r["key"]: r for r in table2_counts(config["baseline_classes"], shape) if not r["key"].startswith("causal")}
    c101 = {r["key"]: r for r in table2_counts(config["causal_classes"], shape)}
    rows = {**base, "causal": c101[f"causal_{config['causal_buffer_mode']}"]}
    ours: dict[str, float] = {}
    for k, r in rows.items():
        ours[f"params/{k}"] = r["params"] / 1e6
        ours[f"mflops/{k}"] = r["MFLOPs E3D 2021"]
        ours[f"mflops2019/{k}"] = r["MFLOPs E3D 2019"]
        ours[f"macs/{k}"] = r["MMACs"]
    like = {k: c101[k] for k in ("shufflenet_0.5x", "shufflenet_1.0x", "mobilenet_1.0x")}
    like["causal"] = rows["causal"]  # the authors' configuration (the code's buffer)
    like["causal_paper"] = c101["causal_paper"]  # the paper's reading of the buffer (the chapter's default)
    for k, r in like.items():
        ours[f"like101/params/{k}"] = r["params"] / 1e6
        ours[f"like101/macs/{k}"] = r["MMACs"]
        ours[f"like101/mflops/{k}"] = r["MFLOPs E3D 2021"]
    for q in ("params", "macs", "mflops"):
        ours[f"like101/ratio/{q}"] = ours[f"like101/{q}/causal"] / ours[f"like101/{q}/shufflenet_0.5x"]
        ours[f"like101/ratio_paper/{q}"] = ours[f"like101/{q}/causal_paper"] / ours[f"like101/{q}/shufflenet_0.5x"]
    return ours


def counts_vs_reported(record: dict | None = None) -> pd.DataFrame:
    """Our counted parameters (M) and FLOPs (M, both counter versions) against the figures reported (see
    ``COUNTS_CONFIG``): from a ``counts`` record (``experiment.run_counts``) when given, else counted here."""
    ours = record["metrics"] if record is not None else reference_counts()
    rep = reported.load(CHAPTER)
    return reported.compare(CHAPTER, ours, "paper", [k for k in ours if k in rep])


def like_for_like(record: dict | None = None) -> pd.DataFrame:
    """Every model with UCF101's 101 classes: parameters, plain multiply-adds, Efficient-3DCNNs (2021) FLOPs, and
    each as a multiple of 3D-ShuffleNetV1 0.5x (the paper's 0.61M vs 0.55M sets a 101-class model beside a
    600-class one)."""
    ours = record["metrics"] if record is not None else reference_counts()
    rows = []
    names = {"causal": "causal (authors' code: code's buffer)", "causal_paper": "causal (paper's buffer)"}
    for k in ("causal", "causal_paper", "shufflenet_0.5x", "shufflenet_1.0x", "mobilenet_1.0x"):
        if f"like101/params/{k}" not in ours:
            continue
        row = {"model": names.get(k, k)}
        for q, name in (("params", "params (M)"), ("macs", "MMACs"), ("mflops", "MFLOPs (E3D 2021)")):
            v = ours[f"like101/{q}/{k}"]
            row[name] = v
            row[f"{name.split(' ')[0]} x 0.5x"] = v / ours[f"like101/{q}/shufflenet_0.5x"]
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_table(records: dict, profile: str) -> pd.DataFrame:
    """Our top-1 / top-5 of each model beside the paper's figure for that model: the causal model's 70.12 / 91.51,
    the baseline's own Table 2 accuracy (64.39 for 3D-ShuffleNetV1 0.5x; the paper gives no top-5 for it). The
    baseline's row says how it was scored (``scoring``: centre 16 frames or the mean over subclips)."""
    rep = reported.load(CHAPTER)
    rows = []
    for kind, rec in records.items():
        m = rec["metrics"]
        model = rec.get("model", kind)
        if kind == "causal":
            df = reported.compare(CHAPTER, {"top1": m["top1"], "top5": m["top5"]}, profile, ["top1", "top5"])
            df.insert(1, "scoring", "last subclip, streamed")
        else:
            key = f"acc/{model}"
            df = reported.compare(CHAPTER, {key: m["top1"]}, profile, [key]) if key in rep else pd.DataFrame(
                [{"quantity": f"{model} top-1", "paper": None, "ours": m["top1"]}])
            df.insert(1, "scoring", rec.get("scoring", "mean"))
            extra = [{"quantity": f"{model} top-5 (the paper gives none)", "scoring": rec.get("scoring", "mean"),
                      "paper": None, "ours": m["top5"], "profile": profile}]
            for h in ("centre", "mean"):
                if f"top1_{h}" in m and h != rec.get("scoring"):
                    extra.append({"quantity": f"{model} top-1, other scoring", "scoring": h, "paper": None,
                                  "ours": m[f"top1_{h}"], "profile": profile})
            df = pd.concat([df, pd.DataFrame(extra)], ignore_index=True)
        df.insert(0, "model", model)
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
