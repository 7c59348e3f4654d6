"""Which reported numbers the chapter's records measure, and which of the paper's claims they support (see
``replicate.scoreboard``). JSON records only: no torch.

``measured``:

* ``top1`` / ``top5`` (and ``acc/causal``, Table 2's copy of the top-1): the newest ``train-causal`` record whose
  parameters say the real UCF101 (``dataset_name: ucf101``); the generated videos of ``smoke`` / ``gpu`` measure none
  of them. Accuracies are stored in percent, the paper's unit.
* ``acc/<baseline>``: the newest ``train-baseline`` record on UCF101 scored by the Efficient-3DCNNs protocol
  (``baseline_eval: centre``), against the baseline's own Table 2 figure.
* ``params/*`` (M), ``mflops/*`` and ``mflops2019/*`` (MFLOPs under the corrected and the 2019 Efficient-3DCNNs
  counter): the newest ``counts`` record made at the reference configuration ``report.COUNTS_CONFIG`` (its
  ``extra``). The counts do not depend on data, so this record maps from any profile.

``claims``: judged from the records of one profile, whatever its data.
"""
from __future__ import annotations

from .report import CHAPTER, COUNTS_CONFIG

#: the causal model's parameters may exceed the 0.5x baseline's by this factor and still count as "barely"
BARELY = 1.25


def _newest(records: list[dict]) -> dict | None:
    return max(records, key=lambda r: str(r.get("meta", {}).get("created", "")), default=None)


def _params(rec: dict) -> dict:
    cfg = rec.get("config", {})
    return cfg.get("params", cfg)


def _has(rec: dict, *metrics: str) -> bool:
    return all(isinstance(rec.get("metrics", {}).get(m), (int, float)) for m in metrics)


def _counts(records: list[dict]) -> dict | None:
    return _newest([r for r in records if r.get("experiment") == "counts"
                    and r.get("config", {}).get("extra") == COUNTS_CONFIG])


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    from replicate import reported

    rep = reported.load(CHAPTER)
    out: dict[str, tuple[float, dict]] = {}
    causal = _newest([r for r in records if r.get("experiment") == "train-causal"
                      and _params(r).get("dataset_name") == "ucf101" and _has(r, "top1", "top5")])
    if causal is not None:
        m = causal["metrics"]
        out.update({"top1": (float(m["top1"]), causal), "top5": (float(m["top5"]), causal),
                    "acc/causal": (float(m["top1"]), causal)})
    base = _newest([r for r in records if r.get("experiment") == "train-baseline"
                    and _params(r).get("dataset_name") == "ucf101" and _params(r).get("baseline_eval") == "centre"
                    and _has(r, "top1")])
    if base is not None and f"acc/{_params(base).get('baseline')}" in rep:
        out[f"acc/{_params(base)['baseline']}"] = (float(base["metrics"]["top1"]), base)
    counts = _counts(records)
    if counts is not None:
        for key, value in counts.get("metrics", {}).items():
            if key.split("/")[0] in ("params", "mflops", "mflops2019") and key in rep and isinstance(value, (int, float)):
                out[key] = (float(value), counts)
    return out


def _same_setting(a: dict, b: dict) -> bool:
    """Records of the causal model and the baseline trained on the same data with the same schedule."""
    keep = ("dataset_name", "data_dir", "num_classes", "videos_per_class", "video_size", "size", "T", "seed",
            "num_train_epochs", "per_device_train_batch_size", "learning_rate")
    pa, pb = _params(a), _params(b)
    return all(pa.get(k) == pb.get(k) for k in keep)


def claims(records: list[dict]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    causal = _newest([r for r in records if r.get("experiment") == "train-causal" and _has(r, "top1")])
    base = None if causal is None else _newest([r for r in records if r.get("experiment") == "train-baseline"
                                                 and _has(r, "top1") and _same_setting(causal, r)])
    if causal is not None and base is not None:
        a, b = causal["metrics"]["top1"], base["metrics"]["top1"]
        data = _params(causal).get("dataset_name")
        ev = (f"top-1 {a:.1f}% (causal) vs {b:.1f}% ({base.get('model', 'baseline')}, scored "
              f"{base.get('scoring', 'mean')}) on the {data} videos, one seed, {len(causal.get('classes', []))} classes")
        out["causal_beats_baseline"] = ("supported" if a > b else "contradicted" if a < b else "cannot speak", ev)
    counts = _counts(records)
    if counts is not None and "like101/ratio/params" in counts.get("metrics", {}):
        m = counts["metrics"]
        r_p, r_m = m["like101/ratio/params"], m["like101/ratio/macs"]
        ev = (f"with 101 classes each: {m['like101/params/causal']:.3f}M vs {m['like101/params/shufflenet_0.5x']:.3f}M "
              f"parameters (x{r_p:.2f}), x{r_m:.2f} the multiply-adds (the authors' configuration"
              + (f"; the paper's buffer reading: x{m['like101/ratio_paper/macs']:.2f}" if "like101/ratio_paper/macs" in m
                 else "")
              + "); the paper's 0.61M vs 0.55M sets a 101-class model beside a 600-class one")
        out["barely_more_complexity"] = ("supported" if r_p <= BARELY else "contradicted", ev)
    stream = _newest([r for r in records if r.get("experiment") == "streaming"
                      and _has(r, "max_gap_before_change")])
    if stream is not None:
        gap = stream["metrics"]["max_gap_before_change"]
        gaps = stream.get("causality_gaps", [])
        out["outputs_never_look_ahead"] = (
            "supported" if gap == 0.0 and gaps and gaps[-1] > 0 else "contradicted" if gap > 0 else "cannot speak",
            f"max |change| of the outputs of subclips before the changed one: {gap:g}; of the changed one: "
            f"{gaps[-1] if gaps else float('nan'):.3g}")
        mem = stream.get("memory", [])
        if len(mem) >= 2:
            s0, s1 = mem[0]["streamed peak (MiB)"], mem[-1]["streamed peak (MiB)"]
            w0, w1 = mem[0]["whole video held (MiB)"], mem[-1]["whole video held (MiB)"]
            n0, n1 = mem[0]["subclips"], mem[-1]["subclips"]
            flat = s1 - s0 <= max(0.05 * s0, 1.0)
            out["memory_flat_in_stream_length"] = (
                "supported" if flat else "contradicted",
                f"streamed peak {s0:.1f} -> {s1:.1f} MiB from {n0} to {n1} subclips (holding the whole video: "
                f"{w0:.1f} -> {w1:.1f} MiB), on {stream.get('meta', {}).get('device', {}).get('device', '?')}")
    return out
