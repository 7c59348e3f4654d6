"""Figures and paper-shaped tables of the chapter, drawn from result records (no computation here)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from replicate import reported
from replicate.plots import profile_title

from .data import LANGUAGE_NAMES

CHAPTER = "mbert_lang"


def compare(measured: dict, profile: str, prefix: str) -> pd.DataFrame:
    """reported.compare over the paper's numbers whose key starts with ``prefix`` and that we measured."""
    keys = [k for k in reported.load(CHAPTER) if k.startswith(prefix) and k in measured]
    if not keys:
        return pd.DataFrame(columns=["key", "paper", "ours"])
    df = reported.compare(CHAPTER, measured, profile, keys)
    df.insert(0, "key", [k[len(prefix):] for k in keys])
    return df.drop(columns=["quantity"])


def ours_only(measured: dict, prefix: str) -> pd.DataFrame:
    """Our numbers that the paper does not report (e.g. generated-only languages)."""
    rep = reported.load(CHAPTER)
    rows = [{"key": k[len(prefix):], "ours": v} for k, v in measured.items() if k.startswith(prefix) and k not in rep]
    return pd.DataFrame(rows)


def wide(measured: dict, prefix: str, row_of, col_of) -> pd.DataFrame:
    """Our numbers under ``prefix`` as a paper-shaped table: 'ours (paper)' per cell."""
    rep = reported.load(CHAPTER)
    cells: dict = {}
    for k, v in measured.items():
        if not k.startswith(prefix) or not isinstance(v, (int, float)):
            continue
        rest = k[len(prefix):]
        paper = rep.get(k, {}).get("value")
        cells.setdefault(row_of(rest), {})[col_of(rest)] = f"{v:.1f}" + (f" ({paper:g})" if paper is not None else "")
    return pd.DataFrame(cells).T


def name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def head_summary(rec: dict) -> pd.DataFrame:
    """The MLM head trained on the frozen encoder: its masked-token accuracy before and after training."""
    m = rec["metrics"]
    rows = [("masked-token top-1 accuracy, trained head (%)", m.get("head_accuracy")),
            ("masked-token top-1 accuracy, untrained head (%)", m.get("head_accuracy_untrained")),
            ("held-out cross-entropy", m.get("head_cross_entropy")),
            ("training sentences", m.get("train_sentences")), ("held-out sentences", m.get("heldout_sentences")),
            ("trainable head parameters", m.get("head_params")),
            ("word pieces in the model's vocabulary", rec.get("model", {}).get("pieces_kept"))]
    return pd.DataFrame([r for r in rows if r[1] is not None], columns=["", "value"]).set_index("")


def similarity_mds_figure(rec: dict, profile: str, layer: int):
    """(a) cosine similarity of the language means at ``layer`` with language names; (b) a 2-D metric MDS
    (scikit-learn) of the same means (distances 1 - cosine)."""
    import seaborn as sns

    means = {k: np.asarray(v) for k, v in rec["means"].items()}
    langs = list(means)
    X = np.stack([means[k][layer] for k in langs])
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn @ Xn.T
    labels = [name(k) for k in langs]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    sns.heatmap(pd.DataFrame(S, index=labels, columns=labels), cmap="viridis", ax=axes[0],
                annot=len(langs) <= 10, fmt=".2f")
    profile_title(axes[0], f"cos(R_L1, R_L2), layer {layer}", profile)
    D = np.clip(1 - S, 0, None)
    import warnings

    try:
        from sklearn.manifold import MDS

        with warnings.catch_warnings():  # scikit-learn 1.8 announces renamed arguments; these still mean the same
            warnings.simplefilter("ignore", FutureWarning)
            xy = MDS(n_components=2, dissimilarity="precomputed", random_state=0, n_init=4).fit_transform(D)
        kind = "metric MDS"
    except ImportError:  # an image without scikit-learn: classical (Torgerson) MDS of the same distances
        J = np.eye(len(D)) - 1.0 / len(D)
        w, v = np.linalg.eigh(-0.5 * J @ (D ** 2) @ J)
        xy = v[:, -2:] * np.sqrt(np.clip(w[-2:], 0, None))
        kind = "classical MDS"
    axes[1].scatter(xy[:, 0], xy[:, 1])
    for (a, b), lab in zip(xy, labels):
        axes[1].annotate(lab, (a, b), fontsize=8)
    axes[1].set(xticks=[], yticks=[])
    profile_title(axes[1], f"{kind} of the language means, layer {layer}", profile)
    fig.tight_layout()
    return fig


def tatoeba_layers_figure(rec: dict, profile: str, languages):
    """Table 2's average top-1 over ``languages`` at every layer, per method (the paper reports layer 8)."""
    lay = rec["layers"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for meth in ("Original", "Zero-mean", "MDS"):
        n = len(lay[languages[0]][meth])
        ax.plot(range(n), [np.mean([lay[x][meth][l] for x in languages]) for l in range(n)], marker="o", label=meth)
    ax.set(xlabel="layer (0 = embeddings)", ylabel="Tatoeba top-1 (%)")
    ax.legend()
    profile_title(ax, "Tatoeba top-1 over layers (mean of Table 2's languages)", profile)
    return fig


def tatoeba_all_table(rec: dict, layer: int) -> pd.DataFrame:
    """Every language's top-1 at ``layer`` by method, with which method is best (the claim 'in which languages')."""
    rows = []
    for lang, per in rec["layers"].items():
        r = {"language": name(lang), **{m: per[m][layer] for m in ("Original", "Zero-mean", "MDS")}}
        r["MDS - Original"] = r["MDS"] - r["Original"]
        rows.append(r)
    return pd.DataFrame(rows).sort_values("MDS - Original", ascending=False).set_index("language")


def table2_best(rec: dict) -> pd.DataFrame:
    """Table 2's average at the paper's layer and at the best layer of each method."""
    m = rec["metrics"]
    return pd.DataFrame([{"method": meth, "paper's layer": m.get(f"table2/{meth}/Average"),
                          "best layer": m.get(f"best/{meth}/layer"), "at best layer": m.get(f"best/{meth}/Average")}
                         for meth in ("Original", "Zero-mean", "MDS")]).set_index("method")


def third_language_table(rec: dict) -> pd.DataFrame:
    """Share of output tokens (percent) that belong to a third language's sentences only (Sec. 3's claim that the
    shift decodes the target, not any other language)."""
    df = pd.DataFrame(rec.get("third_language", []))
    return df.pivot(index="direction", columns="alpha", values="third_language_share") if len(df) else df


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
    return wide(rec["metrics"], "table1/",
                  row_of=lambda k: f"{'BLEU-1' if k.split('/')[1] == 'bleu1' else 'convert rate'} (alpha={k.split('/')[2]})",
                  col_of=lambda k: k.split("/")[0])


def table6(rec: dict) -> pd.DataFrame:
    """Table 6: |V_lang| and |V_en & V_lang| of the test sentences, cells 'ours (paper)'."""
    rep = reported.load(CHAPTER)
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
    return wide(measured, prefix, row_of=lambda k: k.split("/")[0], col_of=lambda k: k.split("/")[1])


def paper_table(prefix: str) -> pd.DataFrame:
    """The paper's own numbers under ``prefix`` (rows Original / Zero-mean / MDS, columns languages), as reported
    data: for tables whose languages the generated profiles do not have (Table 5)."""
    cells: dict = {}
    for k, r in reported.load(CHAPTER).items():
        if k.startswith(prefix):
            meth, lang = k[len(prefix):].split("/")
            cells.setdefault(meth, {})[lang] = r["value"]
    return pd.DataFrame(cells).T


#: dense bf16 peak of the GPUs the bench runs on (vendor data sheets), FLOP/s
PEAK_BF16 = {"H200": 989e12, "H100": 989e12}


def bench_table(rec: dict) -> pd.DataFrame:
    """A bench record's routes with the fraction of the GPU's dense bf16 peak each reaches (tokens/s x the forward
    FLOPs per token that the bench's config states; not shown for records made before it stated them)."""
    from replicate import bench

    df = bench.record_table(rec)
    flops = rec["bench"].get("config", {}).get("forward_flops_per_token")
    gpu = str(rec.get("meta", {}).get("device", {}).get("gpu") or "")
    peak = next((v for k, v in PEAK_BF16.items() if k in gpu), None)
    if flops and peak:
        df["fraction of bf16 peak"] = df.iloc[:, 0] * flops / peak
    return df
