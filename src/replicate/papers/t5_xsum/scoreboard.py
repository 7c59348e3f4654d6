"""Which reported numbers the chapter's records measure (see ``replicate.scoreboard``).

``table3/<rouge>/<part>`` (test-set ROUGE-1/2/L precision, recall and F1 of t5-small fine-tuned on XSum) come from
the newest ``finetune`` record whose config is the report's setting:

- ``data == "xsum"`` (the real data set; ``smoke`` and ``gpu`` train on generated articles and measure nothing),
- a pre-trained t5-small checkpoint (``checkpoint`` names ``t5-small``: the hub id or a local copy whose path says
  so; a T5 built from a config and trained from scratch is not the report's model),
- the report's decoding: greedy (``num_beams == 1``) with the 20-new-token cap (``gen_max_new_tokens == 20``).

The value is ``metrics["capped"]["<rouge>/<part>"]``, a fraction in [0, 1] as the report prints it (0.283), so it
is taken as is. The whole test split is the report's; a run on fewer test documents (``n_test``) still measures
the same quantity, more noisily, and is mapped.

``sec5.1/rouge1/fmeasure_longer_run`` (0.30673, "a longer run") is never mapped: the report states neither how
long that run trained nor how it decoded, so no record of ours is known to measure it. In particular our "long"
metrics (``gen_long_max_new_tokens``, 64 tokens) change the *generation* cap of the same 1-epoch model, a setting
of our choosing; reading the report's "longer run" as that would be a guess.
"""
from __future__ import annotations

import math

#: the Table 3 keys (as ``report.TABLE3``; written out here so that the hook imports neither matplotlib nor ROUGE)
TABLE3 = [f"table3/{t}/{p}" for t in ("rouge1", "rouge2", "rougeL") for p in ("precision", "recall", "fmeasure")]
#: the report's generation cap (the old ``generate()`` default) and decoding
CAP = 20
BEAMS = 1


def paper_setting(config: dict) -> bool:
    """Whether a ``finetune`` record's config is the report's setting (real XSum, t5-small, 20-token greedy)."""
    ckpt = config.get("checkpoint")
    return (config.get("data") == "xsum" and isinstance(ckpt, str) and "t5-small" in ckpt.lower()
            and config.get("gen_max_new_tokens") == CAP and config.get("num_beams", BEAMS) == BEAMS)


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    runs = [r for r in records if r.get("experiment") == "finetune" and paper_setting(r.get("config", {}))
            and isinstance(r.get("metrics", {}).get("capped"), dict)]
    if not runs:
        return {}
    rec = max(runs, key=lambda r: r["meta"].get("created", ""))
    capped = rec["metrics"]["capped"]
    out = {}
    for key in TABLE3:
        value = capped.get(key.split("/", 1)[1])
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[key] = (float(value), rec)
    return out
