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


def real(config: dict) -> bool:
    """Whether a record was made with the real m-BERT on the real data (not the generated languages)."""
    name = config.get("model_name")
    return isinstance(name, str) and name != "generated" and MBERT in name.lower()


def _keys(record: dict) -> set[str] | None:
    """Which metric-key prefixes this record measures in the paper's setting (None: none)."""
    cfg = record.get("config", {})
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
