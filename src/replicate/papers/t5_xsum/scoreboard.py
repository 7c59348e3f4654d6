"""Which reported numbers the chapter's records measure, and which claims they support (see
``replicate.scoreboard``). JSON records only: no torch.

``table3/<rouge>/<part>`` (test-set ROUGE-1/2/L precision, recall and F1 of t5-small fine-tuned on XSum) come from
the newest ``finetune`` record whose parameters are the report's setting:

- ``dataset_name == "xsum"`` (the real data set; generated data and the Debian descriptions measure nothing),
- a pre-trained t5-small checkpoint (``model_name_or_path`` names ``t5-small``: the hub id or a local copy whose
  path says so; a T5 built from a config and trained from scratch is not the report's model),
- the report's decoding: greedy (``num_beams == 1``) with the 20-new-token cap (``max_new_tokens == 20``).

The value is ``metrics["capped"]["<rouge>/<part>"]``, a fraction in [0, 1] as the report prints it (0.283). A run on
fewer test documents (``max_predict_samples``) still measures the same quantity, more noisily, and is mapped.

``narayan2018/<system>/<rouge>`` (the extractive baselines on XSum's test set) come from the newest
``xsum_baselines`` record, whatever the profile: those baselines do not depend on a model, and the record computes
them on real XSum test documents (1,000 of the 11,334, so a sample of the paper's set; ROUGE by ``rouge-score``
rather than the paper's pyrouge). LEAD is our Lead-1, RANDOM our Random-1, EXT-ORACLE our oracle sentence.

``public_run/mean_gen_tokens`` (18.8, the mean generated length of the public run that matches Table 3) comes from
the same record: ``metrics["mean_gen_tokens"]["capped"]``.

``sec5.1/rouge1/fmeasure_longer_run`` (0.30673, "a longer run") is never mapped: the report states neither how
long that run trained nor how it decoded.
"""
from __future__ import annotations

import math

#: the Table 3 keys (as ``report.TABLE3``; written out here so that the hook imports neither matplotlib nor ROUGE)
TABLE3 = [f"table3/{t}/{p}" for t in ("rouge1", "rouge2", "rougeL") for p in ("precision", "recall", "fmeasure")]
NARAYAN = {"random": "Random-1", "lead": "Lead-1", "oracle": "Oracle sentence"}
#: the report's generation cap (the old ``generate()`` default) and decoding
CAP = 20
BEAMS = 1


def _params(rec: dict) -> dict:
    cfg = rec.get("config", {})
    return cfg.get("params", cfg)


def _newest(records: list[dict], experiment: str, where=lambda p: True) -> dict | None:
    runs = [r for r in records if r.get("experiment") == experiment and isinstance(r.get("metrics"), dict)
            and where(_params(r))]
    return max(runs, key=lambda r: r.get("meta", {}).get("created", "")) if runs else None


def paper_setting(params: dict) -> bool:
    """Whether a ``finetune`` record's parameters are the report's setting (real XSum, t5-small, 20-token greedy)."""
    ckpt = params.get("model_name_or_path")
    return (params.get("dataset_name") == "xsum" and isinstance(ckpt, str) and "t5-small" in ckpt.lower()
            and params.get("max_new_tokens") == CAP and params.get("num_beams", BEAMS) == BEAMS)


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    out = {}
    rec = _newest(records, "finetune", paper_setting)
    if rec is not None and isinstance(rec["metrics"].get("capped"), dict):
        for key in TABLE3:
            value = rec["metrics"]["capped"].get(key.split("/", 1)[1])
            if isinstance(value, (int, float)) and math.isfinite(value):
                out[key] = (float(value), rec)
        n = rec["metrics"].get("mean_gen_tokens", {}).get("capped")
        if isinstance(n, (int, float)):
            out["public_run/mean_gen_tokens"] = (float(n), rec)
    xb = _newest(records, "xsum_baselines")
    if xb is not None:
        for system, ours in NARAYAN.items():
            m = xb["metrics"].get(ours, {})
            for t in ("rouge1", "rouge2", "rougeL"):
                v = m.get(f"{t}/fmeasure")
                if isinstance(v, (int, float)) and math.isfinite(v):
                    out[f"narayan2018/{system}/{t}"] = (float(v), xb)
    return out


def _f(m: dict, t: str = "rouge1") -> float | None:
    v = (m or {}).get(f"{t}/fmeasure")
    return float(v) if isinstance(v, (int, float)) else None


def _beats(metrics: dict, system: str, baseline: str, where: str) -> tuple[str, str]:
    """Supported when the system's ROUGE-1, -2 and -L F1 all exceed the baseline's, contradicted when all fall
    below, otherwise cannot speak (mixed)."""
    a, b = metrics.get(system), metrics.get(baseline)
    if not a or not b:
        return "cannot speak", f"no {system} / {baseline} scores in the {where} record"
    diffs = {t: _f(a, t) - _f(b, t) for t in ("rouge1", "rouge2", "rougeL")}
    ev = f"{system} minus {baseline}, {where}: " + ", ".join(f"{t} F1 {d:+.3f}" for t, d in diffs.items())
    if all(d > 0 for d in diffs.values()):
        return "supported", ev
    if all(d < 0 for d in diffs.values()):
        return "contradicted", ev
    return "cannot speak", ev + " (mixed)"


def claims(records: list[dict]) -> dict[str, tuple[str, str]]:
    out = {}
    base = _newest(records, "baselines")
    if base is None:
        none = ("cannot speak", "no baselines record in this profile")
        out.update(beats_lead3=none, beats_random3=none, beats_not_finetuned=none)
    else:
        p = _params(base)
        where = f"{p.get('dataset_name')} test set ({base.get('test_documents', '?')} documents"
        where += ", model from random init)" if not p.get("model_name_or_path") else f", {p.get('model_name_or_path')})"
        m = base["metrics"]
        out["beats_lead3"] = _beats(m, "fine-tuned", "Lead-3", where)
        out["beats_random3"] = _beats(m, "fine-tuned", "Random-3", where)
        if p.get("model_name_or_path"):
            out["beats_not_finetuned"] = _beats(m, "fine-tuned", "pre-trained, not fine-tuned", where)
        else:
            out["beats_not_finetuned"] = ("cannot speak", "no pre-trained checkpoint here: the untrained model is a "
                                          "random initialisation, not the pre-trained T5 the claim is about")
    xb = _newest(records, "xsum_baselines")
    if xb is None:
        none = ("cannot speak", "no xsum_baselines record (real XSum test documents) in this profile")
        out.update(xsum_lead_near_random=none, xsum_oracle_far_above_lead=none)
    else:
        m, n = xb["metrics"], xb.get("documents", "?")
        lead, rand, orac = _f(m.get("Lead-1")), _f(m.get("Random-1")), _f(m.get("Oracle sentence"))
        d = lead - rand
        out["xsum_lead_near_random"] = (
            "supported" if abs(d) < 0.02 else "contradicted",
            f"{n} real XSum test documents: Lead-1 ROUGE-1 F1 {lead:.4f}, Random-1 {rand:.4f} (difference {d:+.4f}; "
            f"the claim holds within 0.02)")
        g = orac - lead
        out["xsum_oracle_far_above_lead"] = (
            "supported" if g > 0.10 else "contradicted",
            f"{n} real XSum test documents: oracle sentence ROUGE-1 F1 {orac:.4f}, Lead-1 {lead:.4f} "
            f"(gap {g:+.4f}; the claim needs more than 0.10)")
    return out
