"""Which reported numbers the chapter's records measure (see ``replicate.scoreboard``).

The ``translation``, ``tatoeba``, ``bucc``, ``pos`` and ``parse`` records already name their metrics by the keys of
``reported.yaml`` (``table1/en-de/bleu1/1``, ``table2/MDS/de``, ``table3/test/MDS/de``, ``table4/MDS/Average``,
``table5/MDS/kk``, ``table6/de/size``), in the paper's units: BLEU-1, convert rate, top-1 accuracy, BUCC F1, POS
accuracy and LAS are all computed in percent (``metrics.py``, ``train.pos_accuracy``,
``train.attachment_scores``), as the paper prints them (its Table 1 "601" is read as 60.1 in ``reported.yaml``);
Table 6 counts word pieces. So the values are taken as they are, only from records
made in the paper's setting:

- the real data and the real model: a record's config ``model_name`` is ``"generated"`` for the ``smoke`` / ``gpu``
  runs (a small BERT trained on generated languages, whose data sets are generated too: ``Workspace.root``), which
  measure none of the paper's numbers. Otherwise the data are the real XNLI / Tatoeba / BUCC / UD files, and the
  model must be the paper's m-BERT: ``model_name`` names ``bert-base-multilingual-cased`` (the hub id or a local copy
  whose path says so);
- the layer each table states: Table 1 shifts at layer 10 (``shift_layer == 10``), Tables 2 and 3 embed at layer 8
  (``retrieval_layer == 8``). The paper does not say at which layer the POS shift is applied, so ``pos_layer`` is
  our choice and does not gate Table 4; Table 5 states the last layer, so a ``parse`` record counts only with the
  shift there (``parse_layer`` -1 or 12);
- the size of the sets where the number depends on it: Table 6 (word-piece vocabularies of the XNLI test sentences)
  needs the whole test split (``n_translate >= 5010``); Table 2 (top-1 among the candidates) the 1,000 Tatoeba
  pairs per language (``n_tatoeba >= 1000``). BLEU-1 and the convert rate on fewer XNLI sentences are noisier
  estimates of the same quantity and are mapped.

Of several records measuring one key, the newest wins. Keys a record has that the paper does not report (e.g.
generated-only directions) are left out.
"""
from __future__ import annotations

import math

#: the paper's model
MBERT = "bert-base-multilingual-cased"
#: the layers Table 1 (token translation) and Tables 2-3 (retrieval) state
SHIFT_LAYER = 10
RETRIEVAL_LAYER = 8
#: m-BERT's last layer (Table 5 parses with it)
LAST_LAYER = 12
#: sentences of the XNLI test split, and Tatoeba pairs per language (the LASER test sets)
XNLI_TEST = 5010
TATOEBA = 1000


def params_of(record: dict) -> dict:
    """A record's parameters (``config.params``; older records kept them at the top of ``config``)."""
    cfg = record.get("config", {})
    return cfg.get("params", cfg)


def real(config: dict) -> bool:
    """Whether a record was made with the real m-BERT on the real data (not the generated languages, nor another
    model such as the ``real`` profile's multilingual-e5-small)."""
    name = config.get("model_name_or_path", config.get("model_name"))
    return isinstance(name, str) and name != "generated" and MBERT in name.lower()


def _keys(record: dict) -> set[str] | None:
    """Which metric-key prefixes this record measures in the paper's setting (None: none)."""
    cfg = params_of(record)
    if not real(cfg):
        return None
    exp = record.get("experiment")
    if exp == "translation":
        out = set()
        if cfg.get("shift_layer") == SHIFT_LAYER:
            out.add("table1/")
        if (cfg.get("n_translate") or 0) >= XNLI_TEST:
            out.add("table6/")
        return out
    if exp == "tatoeba":
        ok = cfg.get("retrieval_layer") == RETRIEVAL_LAYER and (cfg.get("n_tatoeba") or 0) >= TATOEBA
        return {"table2/"} if ok else None
    if exp == "bucc":
        return {"table3/"} if cfg.get("retrieval_layer") == RETRIEVAL_LAYER else None
    if exp == "pos":
        return {"table4/"}
    if exp == "parse":  # Table 5 parses "using the last layer of BERT": the shift must be at m-BERT's last layer
        return {"table5/"} if cfg.get("parse_layer") in (-1, LAST_LAYER) else None
    return None


def measured(records: list[dict]) -> dict[str, tuple[float, dict]]:
    from replicate import reported

    rep = reported.load("mbert_lang")
    out: dict[str, tuple[float, dict]] = {}
    for rec in sorted(records, key=lambda r: r.get("meta", {}).get("created", "")):  # oldest first: newest wins
        prefixes = _keys(rec)
        if not prefixes:
            continue
        for key, value in rec.get("metrics", {}).items():
            if key in rep and key.startswith(tuple(prefixes)) and isinstance(value, (int, float)) \
                    and not isinstance(value, bool) and math.isfinite(value):
                out[key] = (float(value), rec)
    return out


# ------------------------------------------------------------------------------------------------ claims
def _newest(records: list[dict], experiment: str) -> dict | None:
    recs = [r for r in records if r.get("experiment") == experiment]
    return max(recs, key=lambda r: r.get("meta", {}).get("created", "")) if recs else None


def _avg(m: dict, prefix: str, method: str) -> float | None:
    v = m.get(f"{prefix}/{method}/Average")
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _method_claim(rec, prefix: str, better: str, worse: str, what: str):
    if rec is None:
        return "cannot speak", f"no {what} record"
    a, b = _avg(rec["metrics"], prefix, better), _avg(rec["metrics"], prefix, worse)
    if a is None or b is None:
        return "cannot speak", f"the {what} record has no averages"
    verdict = "supported" if a > b else "contradicted"
    return verdict, f"{what} average: {better} {a:.1f} vs {worse} {b:.1f} ({rec['profile']})"


#: a third-language share of the output (percent) below which the claim "the shift decodes the target language,
#: not a third one" counts as supported
THIRD_LANGUAGE_MAX = 5.0


def claims(records: list[dict]) -> dict[str, tuple[str, str]]:
    """The paper's claims (reported.yaml ``claims:``) judged from the newest record of each experiment of one
    profile. Generated-language runs speak too: which method wins is evidence about the method, not the numbers."""
    out: dict[str, tuple[str, str]] = {}
    tat, pos, parse, tr = (_newest(records, e) for e in ("tatoeba", "pos", "parse", "translation"))
    out["mds_beats_original_tatoeba"] = _method_claim(tat, "table2", "MDS", "Original", "Tatoeba top-1")
    out["mds_beats_zero_mean_tatoeba"] = _method_claim(tat, "table2", "MDS", "Zero-mean", "Tatoeba top-1")
    if tat is None:
        out["mds_wins_most_languages"] = ("cannot speak", "no Tatoeba record")
    else:
        layer = params_of(tat).get("retrieval_layer")
        per = tat.get("layers") or {}
        if per and layer is not None:
            wins = [x for x, d in per.items() if d["MDS"][layer] > d["Original"][layer]]
            n = len(per)
        else:
            langs = {k.split("/")[2] for k in tat["metrics"] if k.startswith("table2/MDS/") and not k.endswith("Average")}
            wins = [x for x in langs if tat["metrics"][f"table2/MDS/{x}"] > tat["metrics"][f"table2/Original/{x}"]]
            n = len(langs)
        out["mds_wins_most_languages"] = ("supported" if 2 * len(wins) > n else "contradicted",
                                          f"MDS beats Original in {len(wins)} of {n} Tatoeba languages ({tat['profile']})")
    out["shifts_help_pos"] = _method_claim(pos, "table4", "MDS", "Original", "zero-shot POS accuracy")
    out["zero_mean_helps_pos"] = _method_claim(pos, "table4", "Zero-mean", "Original", "zero-shot POS accuracy")
    out["mds_helps_parsing"] = _method_claim(parse, "table5", "MDS", "Original", "zero-shot LAS")
    if tr is None:
        for k in ("convert_rises_with_alpha", "bleu_rises_with_alpha", "no_third_language"):
            out[k] = ("cannot speak", "no translation record")
        return out
    rows = tr.get("table1") or []
    alphas = sorted({r["alpha"] for r in rows})

    def mean(key, a):
        vals = [r[key] for r in rows if r["alpha"] == a and isinstance(r[key], (int, float)) and math.isfinite(r[key])]
        return sum(vals) / len(vals) if vals else float("nan")

    if len(alphas) < 2:
        out["convert_rises_with_alpha"] = out["bleu_rises_with_alpha"] = ("cannot speak", "one alpha only")
    else:
        lo, hi = alphas[0], alphas[-1]
        for key, name in (("convert", "convert_rises_with_alpha"), ("bleu1", "bleu_rises_with_alpha")):
            a, b = mean(key, lo), mean(key, hi)
            out[name] = ("supported" if b > a else "contradicted",
                         f"mean {key} over Table 1's directions: {a:.1f} at alpha {lo:g}, {b:.1f} at alpha {hi:g} "
                         f"({tr['profile']})")
    third = tr.get("third_language") or []
    if not third:
        out["no_third_language"] = ("cannot speak", "the record does not measure third-language tokens")
    else:
        worst = max(third, key=lambda r: r["third_language_share"])
        avg = sum(r["third_language_share"] for r in third) / len(third)
        out["no_third_language"] = (
            "supported" if worst["third_language_share"] < THIRD_LANGUAGE_MAX else "contradicted",
            f"output tokens found only in a third language's sentences: mean {avg:.1f} %, at most "
            f"{worst['third_language_share']:.1f} % ({worst['direction']}, alpha {worst['alpha']:g}); threshold "
            f"{THIRD_LANGUAGE_MAX:g} % ({tr['profile']})")
    return out
