"""Tables and figures of the chapter, built from result records (the notebooks only call these)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from replicate import reported
from replicate.plots import profile_title

from .metrics import PARTS

TABLE3 = [f"table3/{t}/{p}" for t in ("rouge1", "rouge2", "rougeL") for p in PARTS]


def table3(record: dict, which: str = "capped") -> pd.DataFrame:
    """Table 3 of the report beside ours: ROUGE-1/2/L precision, recall and F1 on the test set."""
    m = record["metrics"][which]
    measured = {k: m[k.split("/", 1)[1]] for k in TABLE3}
    return reported.compare("t5_xsum", measured, record["profile"], TABLE3)


def prf(record: dict) -> pd.DataFrame:
    """Our P/R/F grid for both generation caps (rows: cap x ROUGE type)."""
    rows = []
    cfg = record["config"]
    for which, cap in (("capped", cfg["gen_max_new_tokens"]), ("long", cfg["gen_long_max_new_tokens"])):
        m = record["metrics"][which]
        for t in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
            rows.append({"max new tokens": cap, "ROUGE": t, **{p: m[f"{t}/{p}"] for p in PARTS},
                         "mean generated tokens": record["metrics"]["mean_gen_tokens"][which]})
    return pd.DataFrame(rows).rename(columns={"fmeasure": "F1"})


def loss_curve(record: dict, ax=None):
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    c = record["curves"]
    ax.plot(c["step"], c["loss"], label="training loss (mean of 10 steps)")
    ax.set_xlabel("step")
    ax.set_ylabel("token cross-entropy")
    ev = c.get("epoch_val") or []
    if ev and "rougeL/fmeasure" in ev[0]:
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in ev], [r["rougeL/fmeasure"] for r in ev], "o--", color="C1",
                 label="validation ROUGE-L F1")
        ax2.set_ylabel("validation ROUGE-L F1")
        ax2.grid(False)
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    profile_title(ax, "Fine-tuning", record["profile"])
    return ax


def baselines_table(record: dict) -> pd.DataFrame:
    rows = []
    for name, m in record["metrics"].items():
        rows.append({"system": name, **{f"{t} {p.replace('fmeasure', 'F1')}": m[f"{t}/{p}"]
                                        for t in ("rouge1", "rouge2", "rougeL") for p in PARTS}})
    return pd.DataFrame(rows)


def sweep_rows(records: list[dict]) -> list[dict]:
    """Rows of committed ``sweep_point`` records for ``sweep_table``: the newest record of each (lr, batch size), so a
    grid re-run under a changed profile replaces its older points instead of doubling them."""
    newest: dict = {}
    for r in sorted(records, key=lambda r: r.get("meta", {}).get("created", "")):
        newest[(r["config"]["lr"], r["config"]["batch_size"])] = r
    return [{"lr": lr, "batch_size": bs, **r["metrics"], "curves": r["curves"]} for (lr, bs), r in newest.items()]


def sweep_table(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"lr": r["lr"], "batch size": r["batch_size"], "steps": r["steps"],
                          "final loss": r["final_loss"], "val ROUGE-1 F1": r["rouge1/fmeasure"],
                          "val ROUGE-2 F1": r["rouge2/fmeasure"], "val ROUGE-L F1": r["rougeL/fmeasure"],
                          "seconds": r["seconds"]} for r in records])


def sweep_plot(records: list[dict], profile: str):
    df = sweep_table(records)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    grid = df.pivot(index="batch size", columns="lr", values="val ROUGE-L F1")
    im = axes[0].imshow(grid.values, cmap="viridis", aspect="auto")
    axes[0].set_xticks(range(len(grid.columns)), [f"{v:g}" for v in grid.columns])
    axes[0].set_yticks(range(len(grid.index)), [str(v) for v in grid.index])
    for (i, j), v in np.ndenumerate(grid.values):
        axes[0].text(j, i, f"{v:.3f}", ha="center", va="center", color="w")
    axes[0].set_xlabel("learning rate")
    axes[0].set_ylabel("batch size")
    axes[0].grid(False)
    fig.colorbar(im, ax=axes[0], label="val ROUGE-L F1")
    profile_title(axes[0], "lr x batch size", profile)
    for r in records:
        axes[1].plot(r["curves"]["step"], r["curves"]["loss"], label=f"lr {r['lr']:g}, batch {r['batch_size']}")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("training loss")
    axes[1].legend(fontsize="small")
    profile_title(axes[1], "Loss curves", profile)
    fig.tight_layout()
    return fig


def robustness_table(record: dict) -> pd.DataFrame:
    df = pd.DataFrame(record["metrics"]["rows"])
    cols = ["noise", "strength", "rouge1/fmeasure", "rouge2/fmeasure", "rougeL/fmeasure", "Lead-3 rouge1/fmeasure"]
    return df[cols].rename(columns=lambda c: c.replace("/fmeasure", " F1"))


def robustness_plot(record: dict):
    df = pd.DataFrame(record["metrics"]["rows"])
    clean = df[df.noise == "clean"]["rougeL/fmeasure"].iloc[0]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for kind, g in df[df.noise != "clean"].groupby("noise"):
        ax.plot([0] + list(g.strength), [clean] + list(g["rougeL/fmeasure"]), "o-", label=kind)
    ax.set_xlabel("noise strength")
    ax.set_ylabel("ROUGE-L F1")
    ax.legend()
    profile_title(ax, "Robustness to noisy inputs", record["profile"])
    return fig


def attention_plot(record: dict, max_source: int = 80):
    ex = record["examples"]
    fig, axes = plt.subplots(len(ex), 1, figsize=(12, 2.6 * len(ex)), squeeze=False)
    for ax, e in zip(axes[:, 0], ex):
        att = np.array(e["attention"])[:, :max_source]
        ax.imshow(att, cmap="magma", aspect="auto")
        ax.set_yticks(range(len(e["target_tokens"])), e["target_tokens"], fontsize=7)
        src = e["source_tokens"][:max_source]
        ax.set_xticks(range(len(src)), src, rotation=90, fontsize=6)
        ax.grid(False)
        profile_title(ax, f"Cross-attention, {e['id']} (first {len(src)} source tokens)", record["profile"])
    fig.tight_layout()
    return fig


def top_words_table(record: dict) -> pd.DataFrame:
    rows = [{"example": e["id"], "generated": e["generated"],
             "most attended source words": ", ".join(f"{w} ({m:.2f})" for w, m in e["top_words"][:8])}
            for e in record["examples"]]
    rows.append({"example": f"all {record['metrics']['documents']} documents", "generated": "",
                 "most attended source words": ", ".join(f"{w} ({m:.1f})" for w, m in
                                                         record["metrics"]["top_words_overall"][:12])})
    return pd.DataFrame(rows)


def diversity(record: dict) -> str:
    """One line on how varied a fine-tuning record's summaries are: a model that has collapsed onto one summary for
    every article scores ROUGE from what that sentence shares with the references, and reads little of its input."""
    key = f"generated ({record['config']['gen_max_new_tokens']} tokens)"
    gen = [e[key] for e in record["examples"] if key in e]
    n, k = len(gen), len(set(gen))
    verdict = " -- the model gives the same summary whatever the article" if n > 1 and k == 1 else ""
    return (f"{k} distinct summaries among the {n} shown test articles; mean generated length "
            f"{record['metrics']['mean_gen_tokens']['capped']:.1f} tokens{verdict}")


def examples_table(record: dict) -> pd.DataFrame:
    return pd.DataFrame(record["examples"]).drop(columns=["id"])
