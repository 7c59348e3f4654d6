"""Which reported numbers the chapter's records measure, and the talk's claims judged (see ``replicate.scoreboard``).
JSON records only: no torch, no pandas.

The talk claims that theory and empirics match "exactly" for every symmetry kind; its setting is VGG-16 on Tiny
ImageNet, but the claim itself holds or fails on any net and data, so the largest relative error of the continuous
theory over all SGD runs of a profile is our value for ``<kind>/theory`` (diverged runs have no error and do not
count)."""
from __future__ import annotations

import math

#: A theory "matches" where its error stays under this fraction of the quantity's scale: below what a plotted
#: line can show, which is how the talk judges it ("theory (dotted) matches the empirics perfectly").
PLOT_TOLERANCE = 1e-2


def run_of(rec: dict) -> dict:
    """The run's own settings (net, eta, lam, beta, batch, steps ...): the record's ``extra`` (records made
    through ``replicate.results.record``), or the flat config of records made before the contract."""
    c = rec.get("config", {})
    return c.get("extra", c)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _groups(rec: dict) -> dict:
    return (rec.get("curves") or {}).get("groups") or {}


def overall(records: list[dict]) -> dict[str, float]:
    """The chapter's headline numbers: max relative errors (theory, discrete law) per kind over all runs/groups."""
    out: dict[str, float] = {}
    for r in records:
        for g in _groups(r).values():
            for key, name in (("rel_cont", "theory"), ("rel_disc", "discrete")):
                v = g.get(key)
                if _finite(v):
                    k = f"{g['kind']}/{name}"
                    out[k] = max(out.get(k, 0.0), float(v))
    return out


def diverged(records: list[dict]) -> list[tuple]:
    """(net, lambda, beta) of the runs whose tracked quantities went non-finite (no error can be computed)."""
    out = set()
    for r in records:
        m = r.get("metrics") or {}
        if m and not any(_finite(v) for v in m.values()):
            c = run_of(r)
            out.add((c["net"], c["lam"], c["beta"]))
    return sorted(out)


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    sgd = [r for r in records if r.get("experiment") == "sgd"]
    if not sgd:
        return {}
    newest = max(sgd, key=lambda r: r["meta"].get("created", ""))
    return {k: (v, newest) for k, v in overall(sgd).items() if k.endswith("/theory")}


def _of(records, experiment):
    return [r for r in records if r.get("experiment") == experiment]


def _geometry(records) -> tuple[str, str]:
    sym: dict[str, float] = {}
    ctl = math.inf
    for r in records:
        for row in r.get("rows", []):
            v = row["relative residual"]
            if not _finite(v):
                continue
            if row["control"]:
                if row["identity"].startswith("Hessian"):
                    ctl = min(ctl, v)
            else:
                sym[row["kind"]] = max(sym.get(row["kind"], 0.0), v)
    exact = max(sym.get("translation", 0.0), sym.get("rescale", 0.0))
    scale = sym.get("scale", 0.0)
    ok = exact < 1e-8 and scale < 1e-2 and ctl > 100 * max(exact, scale)
    ev = (f"largest residual: translation/rescale {exact:.1e}, scale {scale:.1e} (BatchNorm's eps); "
          f"smallest Hessian residual of the controls {ctl:.1e}")
    return ("supported" if ok else "contradicted"), ev


def _gradient_flow(records) -> tuple[str, str]:
    drift: dict[str, dict[float, float]] = {}
    for r in records:
        eta = run_of(r)["eta"]
        for g in _groups(r).values():
            v = g.get("rel_conserved")
            if _finite(v):
                d = drift.setdefault(g["kind"], {})
                d[eta] = max(d.get(eta, 0.0), float(v))
    if not drift or any(len(d) < 2 for d in drift.values()):
        return "cannot speak", "fewer than two learning rates"
    parts, ok = [], True
    for kind, d in sorted(drift.items()):
        etas = sorted(d)
        lo, hi = d[etas[0]], d[etas[-1]]
        if kind == "translation":
            ok &= hi < 1e-4
        else:
            ok &= lo < hi
        parts.append(f"{kind} drift {hi:.1e} at eta {etas[-1]:g} -> {lo:.1e} at eta {etas[0]:g}")
    return ("supported" if ok else "contradicted"), "; ".join(parts)


def _modified(records) -> tuple[str, str]:
    r = max(records, key=lambda r: r["meta"].get("created", ""))
    m = r["metrics"]
    etas = sorted(float(k.split("/")[1]) for k in m if k.startswith("err_flow/"))
    better = all(m[f"err_modified/{e}"] < m[f"err_flow/{e}"] for e in etas)
    ok = better and m["slope_modified"] > m["slope_flow"] + 0.5
    return ("supported" if ok else "contradicted"), (
        f"largest distance of GD's iterates at eta {etas[-1]:g}: gradient flow {m[f'err_flow/{etas[-1]}']:.1e}, "
        f"modified flow {m[f'err_modified/{etas[-1]}']:.1e}; log-log slopes in eta {m['slope_flow']:.2f} vs "
        f"{m['slope_modified']:.2f}")


def _sgd(records, momentum: bool) -> tuple[str, str]:
    recs = [r for r in records if (run_of(r)["beta"] > 0) == momentum]
    if not recs:
        return "cannot speak", "no such runs"
    worst = overall(recs)
    theory = {k.split("/")[0]: v for k, v in worst.items() if k.endswith("/theory")}
    lost = diverged(recs)
    if not theory:
        return "cannot speak", f"every run diverged ({len(lost)})"
    top = max(theory.values())
    ev = (", ".join(f"{k} {v:.1e}" for k, v in sorted(theory.items()))
          + f" (largest relative error of the theory over {len(recs) - len(lost)} runs; a plot shows {PLOT_TOLERANCE:g})")
    if lost:
        ev += f"; {len(lost)} runs diverged (net, lambda, beta): {lost}"
    return ("supported" if top <= PLOT_TOLERANCE else "contradicted"), ev


def claims(records: list[dict]) -> dict[str, tuple[str, str]]:
    """The talk's claims (reported.yaml ``claims:``) judged from the records of one profile."""
    judges = {
        "gradient_hessian_geometry": ("geometry", _geometry),
        "conservation_under_gradient_flow": ("gradient_flow", _gradient_flow),
        "modified_flow_models_gd": ("modified_flow", _modified),
        "theory_matches_weight_decay": ("sgd", lambda rs: _sgd(rs, False)),
        "theory_matches_momentum": ("sgd", lambda rs: _sgd(rs, True)),
    }
    out = {}
    for key, (experiment, judge) in judges.items():
        mine = _of(records, experiment)
        out[key] = judge(mine) if mine else ("cannot speak", f"no `{experiment}` records in this profile")
    return out
