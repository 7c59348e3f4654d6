"""Which reported numbers the chapter's records measure (see ``replicate.scoreboard``).

* ``top1`` / ``top5`` (and ``acc/causal``, Table 2's copy of the top-1): the newest ``train-causal`` record whose
  config says the real UCF101 (``dataset: ucf101``); the generated videos of ``smoke`` / ``gpu`` measure none of
  them. Accuracies are stored in percent, the paper's unit.
* ``params/*`` (M) and ``mflops/*`` (M multiply-adds): the newest ``counts`` record (``experiment.counts``, written by
  notebook 01) whose config is the reference configuration ``report.COUNTS_CONFIG`` (600-class baselines, the
  101-class causal model, 16x112x112). The counts do not depend on data, so this record maps from any profile;
  a count at any other configuration (e.g. the shrunk smoke model) never does.
* The baselines' accuracies (``acc/shufflenet_0.5x`` ...) are not mapped: where the paper's figures come from
  (trained from scratch as ours, or fine-tuned) is not stated, so our ``train-baseline`` run is not known to be in
  their setting. The reported-only models (ResNet-50, I3D, R(2+1)D) are never run.
"""
from __future__ import annotations

from .report import CHAPTER, COUNTS_CONFIG


def _newest(records: list[dict]) -> dict | None:
    return max(records, key=lambda r: str(r.get("meta", {}).get("created", "")), default=None)


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    from replicate import reported

    rep = reported.load(CHAPTER)
    out: dict[str, tuple[float, dict]] = {}
    causal = _newest([r for r in records if r.get("experiment") == "train-causal"
                      and r.get("config", {}).get("dataset") == "ucf101" and r.get("config", {}).get("kind") == "causal"
                      and all(isinstance(r.get("metrics", {}).get(m), (int, float)) for m in ("top1", "top5"))])
    if causal is not None:
        m = causal["metrics"]
        out.update({"top1": (float(m["top1"]), causal), "top5": (float(m["top5"]), causal),
                    "acc/causal": (float(m["top1"]), causal)})
    counts = _newest([r for r in records if r.get("experiment") == "counts" and r.get("config") == COUNTS_CONFIG])
    if counts is not None:
        for key, value in counts.get("metrics", {}).items():
            if key.split("/")[0] in ("params", "mflops") and key in rep and isinstance(value, (int, float)):
                out[key] = (float(value), counts)
    return out
