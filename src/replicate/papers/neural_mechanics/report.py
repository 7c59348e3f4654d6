"""Tables and figures of the chapter, drawn from records (no training here)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .scoreboard import diverged, overall, run_of  # noqa: F401 - re-exported for the notebooks


# ------------------------------------------------------------------------------------------------------------
# Part 2

def drift_table(records: list[dict]) -> pd.DataFrame:
    """Per learning rate and group kind: the drift max_t |X(t) - X(0)| / max_t |X| of the 'conserved'
    quantities, and the error of the discrete law in the same units."""
    rows = []
    for r in records:
        c = run_of(r)
        for g in r["curves"]["groups"].values():
            rows.append({"net": c["net"], "eta": c["eta"], "steps": c["steps"], "kind": g["kind"],
                         "drift": g["rel_conserved"], "discrete law error": g["rel_disc"]})
    df = pd.DataFrame(rows)
    return df.groupby(["kind", "eta"]).agg(drift=("drift", "max"), discrete_law_error=("discrete law error", "max"),
                                           steps=("steps", "first")).reset_index()


def drift_slopes(records: list[dict], smallest: int = 2) -> dict[str, float]:
    """Log-log slope of the max drift against eta per kind over the ``smallest`` learning rates (the discrete
    law predicts ~1 for scale/rescale when the gradients are similar along the runs)."""
    df = drift_table(records)
    out = {}
    for kind, d in df.groupby("kind"):
        d = d[d["drift"] > 0].nsmallest(smallest, "eta")
        if len(d) >= 2:
            out[kind] = float(np.polyfit(np.log(d["eta"]), np.log(d["drift"]), 1)[0])
    return out


def plot_drift(records: list[dict], profile: str | None = None):
    """Drift of the gradient-flow 'conserved' quantities against the learning rate (same time t)."""
    import matplotlib.pyplot as plt

    from replicate.plots import profile_title

    df = drift_table(records)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for kind, d in df.groupby("kind"):
        ax.loglog(d["eta"], d["drift"].clip(lower=1e-18), "o-", label=kind)
    etas = sorted(df["eta"].unique())
    ax.set_xticks(etas, [f"{e:g}" for e in etas])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("learning rate eta (same t = eta * steps)")
    ax.set_ylabel("max_t |X(t) - X(0)| / max_t |X|")
    ax.legend()
    profile_title(ax, "Gradient flow: drift of conserved quantities", profile)
    return fig


# ------------------------------------------------------------------------------------------------------------
# Part 3

def modified_flow_table(rec: dict) -> pd.DataFrame:
    """Largest distance of gradient descent's iterates from gradient flow and from the modified flow, per eta."""
    m = rec["metrics"]
    etas = sorted(float(k.split("/")[1]) for k in m if k.startswith("err_flow/"))
    df = pd.DataFrame([{"eta": e, "gradient flow": m[f"err_flow/{e}"], "modified flow": m[f"err_modified/{e}"],
                        "ratio": m[f"err_flow/{e}"] / m[f"err_modified/{e}"]} for e in etas])
    slope = {"eta": "log-log slope", "gradient flow": m["slope_flow"], "modified flow": m["slope_modified"],
             "ratio": float("nan")}
    return pd.concat([df.astype({"eta": object}), pd.DataFrame([slope])], ignore_index=True)


def plot_modified_flow(rec: dict, profile: str | None = None):
    """The talk's Part 3 picture on a quadratic: GD's steps (dots), gradient flow (blue), modified flow (red)."""
    import matplotlib.pyplot as plt

    from replicate.plots import profile_title

    runs = rec["runs"]
    eta = max(runs, key=float)
    r = runs[eta]
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    ax = axes[0]
    flow, mod, gd = (np.asarray(r[k]) for k in ("flow", "modified", "gd"))
    ax.plot(flow[:, 0], flow[:, 1], color="tab:blue", label="gradient flow")
    ax.plot(mod[:, 0], mod[:, 1], color="tab:red", label="modified flow  -g - (eta/2) H g")
    ax.plot(gd[:, 0], gd[:, 1], "k.", ms=5, label=f"gradient descent, eta = {float(eta):g}")
    ax.set_xlabel("theta_1")
    ax.set_ylabel("theta_2")
    ax.legend(fontsize=8)
    profile_title(ax, "Part 3: the modified equation", profile)
    ax = axes[1]
    etas = sorted(runs, key=float)
    ax.loglog([float(e) for e in etas], [runs[e]["err_flow"] for e in etas], "o-", color="tab:blue",
              label="gradient flow")
    ax.loglog([float(e) for e in etas], [runs[e]["err_modified"] for e in etas], "o-", color="tab:red",
              label="modified flow")
    ax.set_xticks([float(e) for e in etas], [f"{float(e):g}" for e in etas])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("learning rate eta")
    ax.set_ylabel("max_k |theta_k - theta(k eta)|")
    ax.legend(fontsize=8)
    ax.set_title("distance of the iterates from each flow", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------------------
# Part 4

def error_table(records: list[dict], by_group: bool = True) -> pd.DataFrame:
    """Max relative error of the continuous theory and of the discrete law vs the empirics, per run and group
    (errors: max over time of the error norm over the group's elements, divided by the max norm of the
    quantity, and by the max norm of its change since step 0)."""
    rows = []
    for r in records:
        c = run_of(r)
        for name, g in r["curves"]["groups"].items():
            rows.append({"net": c["net"], "lambda": c["lam"], "beta": c["beta"], "group": name, "kind": g["kind"],
                         "theory (continuous)": g["rel_cont"], "discrete law": g["rel_disc"],
                         "conservation (Part 2)": g["rel_conserved"],
                         "theory / change": g["rel_change_cont"], "discrete / change": g["rel_change_disc"]})
    df = pd.DataFrame(rows)
    if by_group:
        return df
    return df.groupby(["net", "lambda", "beta", "kind"]).max(numeric_only=True).reset_index()


def pick(records: list[dict], net: str, lam: float, beta: float) -> dict:
    return [r for r in records if run_of(r)["net"] == net and run_of(r)["lam"] == lam and run_of(r)["beta"] == beta][0]


def plot_run(record: dict, kinds=("translation", "scale", "rescale"), max_groups: int = 8, axes_per_row: int = 4,
             law: str = "cont", profile: str | None = None):
    """Per layer: the empirical quantity of a few elements (coloured) and the theory (black dashed)."""
    import matplotlib.pyplot as plt

    cur = record["curves"]
    groups = [(n, g) for n, g in cur["groups"].items() if g["kind"] in kinds][:max_groups]
    rows = math.ceil(len(groups) / axes_per_row)
    cols = min(axes_per_row, len(groups))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    steps = np.asarray(cur["steps"])
    for ax, (name, g) in zip(axes.ravel(), groups):
        emp, th = np.asarray(g["emp"]), np.asarray(g[law])
        colors = plt.cm.viridis(np.linspace(0.05, 0.9, emp.shape[1]))
        for i in range(emp.shape[1]):
            ax.plot(steps, emp[:, i], color=colors[i], lw=1.6)
            ax.plot(steps, th[:, i], "k--", lw=0.9)
        ax.set_title(name.replace("->", "\n->"), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    c = run_of(record)
    fig.suptitle(f"{c['net']} net, eta={c['eta']}, lambda={c['lam']}, beta={c['beta']}: empirics (colour), "
                 f"{'theory' if law == 'cont' else 'discrete law'} (black dashed)"
                 + (f"  [profile: {profile}]" if profile else ""), fontsize=9)
    fig.supxlabel("step", fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------------------
# The paper profile's slice and the resume check

def slice_table(rec: dict) -> pd.DataFrame:
    """Steps/s of each route of the timed slice, and the tracked laws' largest errors there."""
    m = rec["metrics"]
    rows = []
    for name, r in rec["runs"].items():
        rows.append({"route": name, "net": r["net"], "batch": r["batch"], "beta": r["beta"],
                     "tracked": r["tracked"], "steps/s": m[f"{name}/steps_per_s"],
                     "discrete law (max rel. error)": m.get(f"{name}/max_rel_disc"),
                     "theory (max rel. error)": m.get(f"{name}/max_rel_cont"),
                     "CUDA graph": r.get("cuda_graph"), "peak GiB": r.get("peak_memory_gib")})
    return pd.DataFrame(rows)


def slice_projection(rec: dict) -> pd.DataFrame:
    m = rec["metrics"]
    p = rec["config"]["params"]
    return pd.DataFrame([{"SGD runs": m["sgd_runs"], "steps each": p["max_steps"],
                          "SGD hours": m["projected_sgd_hours"], "GD steps (Part 2)": m["gd_steps"],
                          "GD hours (scaled by batch)": m["projected_gd_hours"], "total hours": m["projected_hours"],
                          "tracking overhead": m["tracking_overhead"]}])


def resume_table(rec: dict) -> pd.DataFrame:
    m = rec["metrics"]
    rows = []
    for what in ("resumed_vs_straight", "straight_vs_straight"):
        if what not in m:
            continue
        c = m[what]
        rows.append({"compared": what.replace("_", " "), "values compared": c["compared_values"],
                     "identical": c["identical"], "max abs difference": c["max_abs_diff"]})
    return pd.DataFrame(rows)
