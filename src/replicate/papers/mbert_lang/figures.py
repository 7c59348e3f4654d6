"""Figures and paper-shaped tables of the chapter, drawn from result records (no computation here)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from replicate.plots import profile_title

from . import experiment as E


def lm_curve(rec: dict, profile: str):
    """The masked-LM loss of the small BERT on the generated languages."""
    loss = rec.get("curves", {}).get("loss")
    if not loss:
        print(f"model {rec['metrics'].get('model')}: pre-trained, no training curve")
        return None
    fig, ax = plt.subplots()
    k = max(1, len(loss) // 50)
    smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
    ax.plot(loss, alpha=0.3, label="per step")
    ax.plot(np.arange(len(smooth)) + k - 1, smooth, label=f"mean of {k}")
    ax.set(xlabel="step", ylabel="MLM cross-entropy")
    ax.legend()
    profile_title(ax, "Masked-LM pre-training on the generated languages", profile)
    return fig


def means_figure(rec: dict, profile: str, layer: int):
    """(a) cosine similarity of the language means R_L^l at ``layer``; (b) |R_L - R_en| / |R_en| over layers."""
    means = {k: np.asarray(v) for k, v in rec["means"].items()}
    langs = list(means)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    M = np.stack([means[k][layer] for k in langs])
    Mn = M / np.linalg.norm(M, axis=1, keepdims=True)
    import seaborn as sns

    sns.heatmap(pd.DataFrame(Mn @ Mn.T, index=langs, columns=langs), annot=len(langs) <= 8, fmt=".2f",
                cmap="viridis", ax=axes[0])
    profile_title(axes[0], f"cos(R_L1, R_L2) at layer {layer}", profile)
    n_layers = M.shape[1] if M.ndim == 1 else next(iter(means.values())).shape[0]
    for k in langs:
        if k == "en":
            continue
        rel = [np.linalg.norm(means[k][l] - means["en"][l]) / np.linalg.norm(means["en"][l]) for l in range(n_layers)]
        axes[1].plot(range(n_layers), rel, marker="o", label=f"{k}")
    axes[1].set(xlabel="layer (0 = embeddings)", ylabel="|R_L - R_en| / |R_en|")
    axes[1].legend(ncol=2, fontsize="small")
    profile_title(axes[1], "How far apart the language means are", profile)
    fig.tight_layout()
    return fig


def table1_wide(rec: dict) -> pd.DataFrame:
    """Table 1's shape: rows BLEU-1 / convert rate per alpha, columns directions, cells 'ours (paper)'."""
    return E.wide(rec["metrics"], "table1/",
                  row_of=lambda k: f"{'BLEU-1' if k.split('/')[1] == 'bleu1' else 'convert rate'} (alpha={k.split('/')[2]})",
                  col_of=lambda k: k.split("/")[0])


def table6(rec: dict) -> pd.DataFrame:
    """Table 6: |V_lang| and |V_en & V_lang| of the test sentences, cells 'ours (paper)'."""
    rep = E.reported.load(E.CHAPTER)
    cells = {}
    for r in rec["token_sets"]:
        k = r["lang"]
        cell = {}
        for row, key, val in (("|V_lang|", "size", r["size"]), ("|V_en & V_lang|", "overlap", r["overlap_en"])):
            p = rep.get(f"table6/{k}/{key}", {}).get("value")
            cell[row] = f"{val}" + (f" ({p:g})" if p is not None else "")
        cells[k] = cell
    return pd.DataFrame(cells)


def table7(rec: dict, direction: str | None = None) -> pd.DataFrame:
    rows = [s for s in rec["samples"] if direction is None or s["direction"] == direction]
    if not rows:
        return pd.DataFrame()
    first = rows[0]
    src, tgt = first["direction"].split("-")
    out = [(f"Input ({src})", first["input"]), (f"Ground truth ({tgt})", first["ground_truth"])]
    out += [(f"{s['direction'].replace('-', '→')}, alpha = {s['alpha']:g}", s["output"]) for s in rows]
    return pd.DataFrame(out, columns=["", "text"]).set_index("")


def figure1(rec: dict, profile: str, shift_layer: int, direction: str, alphas_for_layers=(1.0, 2.0, 3.0)):
    """Figure 1: BLEU-1 of ``direction`` (a) over alpha at ``shift_layer``, (b) over layers for a few alphas."""
    g = pd.DataFrame(rec["grid"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    at = g[g.layer == shift_layer].sort_values("alpha")
    axes[0].plot(at.alpha, at.bleu1, marker="o")
    axes[0].set(xlabel="alpha", ylabel="BLEU-1")
    profile_title(axes[0], f"(a) {direction}, layer {shift_layer}", profile)
    for a in alphas_for_layers:
        s = g[g.alpha == a].sort_values("layer")
        if len(s):
            axes[1].plot(s.layer, s.bleu1, marker="o", label=f"alpha={a:g}")
    axes[1].set(xlabel="layer (0 = embeddings)", ylabel="BLEU-1")
    axes[1].legend()
    profile_title(axes[1], f"(b) {direction} over layers", profile)
    fig.tight_layout()
    return fig


def figure2(rec: dict, profile: str, direction: str):
    """Figure 2: convert rate of ``direction`` over alpha x layer."""
    import seaborn as sns

    g = pd.DataFrame(rec["grid"]).pivot(index="layer", columns="alpha", values="convert")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    sns.heatmap(g, annot=True, fmt=".0f", cmap="magma", vmin=0, vmax=100, ax=ax, cbar_kws={"label": "convert rate (%)"})
    profile_title(ax, f"Convert rate, {direction}, alpha x layer", profile)
    return fig


def table_methods(measured: dict, prefix: str) -> pd.DataFrame:
    """Tables 2-4's shape: rows Original / Zero-mean / MDS, columns languages, cells 'ours (paper)'."""
    return E.wide(measured, prefix, row_of=lambda k: k.split("/")[0], col_of=lambda k: k.split("/")[1])


def paper_table(prefix: str) -> pd.DataFrame:
    """The paper's own numbers under ``prefix`` (rows Original / Zero-mean / MDS, columns languages), as reported
    data: for tables whose languages the generated profiles do not have (Table 5)."""
    from replicate import reported

    cells: dict = {}
    for k, r in reported.load(E.CHAPTER).items():
        if k.startswith(prefix):
            meth, lang = k[len(prefix):].split("/")
            cells.setdefault(meth, {})[lang] = r["value"]
    return pd.DataFrame(cells).T
