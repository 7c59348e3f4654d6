"""The chapter's experiments, each one record made through ``replicate.results.record`` (key: the experiment, the
full parameters, ``extra`` and the chapter's code fingerprint):

``train``          (optional span-corruption pre-training, then) fine-tuning: the loss curves and validation ROUGE;
                   the model itself is saved in the data cache, in a folder named by the same identity (full
                   parameters + code fingerprint), so the experiments below re-use it
``finetune``       test-set ROUGE P/R/F with the report's 20-token cap and a longer cap (Table 3), distinct share
``baselines``      Lead-1, Lead-3, Random-1, Random-3, the best single sentence, the randomly initialised
                   (untrained) model and the fine-tuned model on the test set (section 3.3)
``xsum_baselines`` the same extractive baselines on the real XSum test sample, beside Narayan et al. (2018), and
                   our model's summaries of real XSum documents
``sweep_point``    one (learning rate, batch size) cell of the hyperparameter study (objective 5)
``robustness``     ROUGE under typos, dropped and shuffled sentences at several strengths (section 2.3.5)
``attention``      cross-attention maps and the most attended source words (section 2.3.4)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import torch

from replicate import paths
from replicate.config import as_dict
from replicate.results import code_fingerprint, record
from replicate.train import Checkpointer, pick_device, resolve_precision, seed_everything, set_threads

from . import baselines as B
from . import data as D
from . import noise as N
from .metrics import flat, rouge
from .model import build_model, count_parameters, cross_attention, load_tokenizer
from .train import distinct_share, evaluate, finetune, generate, pretrain

CHAPTER = "t5_xsum"
_CTX: dict = {}
_MODELS: dict = {}


def setup(params):
    """(device, precision) for this run; CPU threads set to the machine's cores."""
    device = pick_device(params.device)
    if device.type == "cpu":
        set_threads(params.cpu_threads or None)
    return device, resolve_precision(params.precision, device)


def _data_fields(params) -> dict:
    """The parameters that decide the splits and the tokenizer: the key of a per-process memo (not of a record)."""
    names = ("dataset_name", "data_dir", "max_train_samples", "max_eval_samples", "max_predict_samples",
             "synth_sentences", "seed", "model_name_or_path", "vocab_size", "source_prefix")
    return {k: getattr(params, k) for k in names}


def context(params) -> dict:
    """Splits and tokenizer of a profile, built once per process."""
    key = json.dumps(_data_fields(params), sort_keys=True, default=str)
    if key not in _CTX:
        splits = D.load_splits(params)
        texts = [params.source_prefix + r["document"] for r in splits["train"]] + [r["summary"] for r in splits["train"]]
        _CTX[key] = {"splits": splits, "tokenizer": load_tokenizer(params, texts)}
    return _CTX[key]


def identity(params) -> str:
    """What names a training run's model and checkpoint in the data cache: the full parameters and the chapter's
    code fingerprint (as a record's key), so a changed parameter or line of code never re-uses an old model."""
    blob = json.dumps({"params": as_dict(params), "code": code_fingerprint(CHAPTER)}, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def model_dir(params, profile: str) -> Path:
    return paths.data_dir() / CHAPTER / "models" / profile / identity(params)


def _train_and_save(params, profile: str) -> dict:
    """Pre-train (if asked) and fine-tune a model; save it in ``model_dir``; return the history."""
    device, precision = setup(params)
    ctx = context(params)
    tok = ctx["tokenizer"]
    seed_everything(params.seed)
    model = build_model(params, tok)
    name = identity(params)
    hist_pre = None
    if params.pretrain_steps:
        hist_pre = pretrain(model, tok, [r["document"] for r in ctx["splits"]["train"]], params, device, precision,
                            checkpoint=Checkpointer(paths.checkpoint_path(CHAPTER, profile, f"{name}-pretrain")))
    ck = Checkpointer(paths.checkpoint_path(CHAPTER, profile, name))
    hist = finetune(model, tok, ctx["splits"], params, device, precision, checkpoint=ck)
    folder = model_dir(params, profile)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    model.save_pretrained(tmp)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    ck.clear()
    Checkpointer(paths.checkpoint_path(CHAPTER, profile, f"{name}-pretrain")).clear()
    model.to(device).eval()
    _MODELS[str(folder)] = (model, tok)
    return {"history": hist, "pretrain": hist_pre, "parameters": count_parameters(model), "device": str(device),
            "precision": precision}


def run_train(params, profile: str) -> dict:
    """The ``train`` record: loss curves (pre-training, fine-tuning), validation ROUGE per epoch, wall time."""
    def fn():
        out = _train_and_save(params, profile)
        h = out["history"]
        mean_tgt = None
        if params.dataset_name == "synthetic":
            labels = D.encode(context(params)["splits"]["train"][:512], context(params)["tokenizer"],
                              params.source_prefix, params.max_source_length, params.max_target_length)
            mean_tgt = sum(len(e["labels"]) for e in labels) / max(1, len(labels))
        return {"metrics": {"final_loss": h["loss"][-1] if h["loss"] else None, "steps": h["step"][-1] if h["step"] else 0,
                            "seconds": h["seconds"], "tokens": h["tokens"], "pad_fraction": h["pad_fraction"],
                            "best_epoch": h.get("best_epoch"), "parameters": out["parameters"],
                            "device": out["device"], "precision": out["precision"],
                            # the loss of a model that ignores the document (generated data only)
                            "blind_loss": D.synthetic_blind_loss(mean_tgt) if mean_tgt else None,
                            "pretrain_final_loss": (out["pretrain"]["loss"][-1] if out["pretrain"] else None),
                            "pretrain_seconds": (out["pretrain"]["seconds"] if out["pretrain"] else None)},
                "curves": {"step": h["step"], "loss": h["loss"], "epoch_val": h["epoch_val"],
                           "pretrain": out["pretrain"] and {"step": out["pretrain"]["step"],
                                                            "loss": out["pretrain"]["loss"]}}}
    return record(CHAPTER, profile, "train", params, fn)


def finetuned(params, profile: str):
    """(model, tokenizer, train record) of the parameters' training run: the model from the data cache when its
    run was made before (its ``train`` record re-used), else trained (resuming a checkpoint if one is there)."""
    rec = run_train(params, profile)
    folder = model_dir(params, profile)
    key = str(folder)
    if key not in _MODELS:
        device, _ = setup(params)
        if not (folder / "config.json").is_file():  # the record is here but its model is not: train it again
            print(f"the model of {profile} record {rec['key'][:12]} is not in the data cache: training it again")
            _train_and_save(params, profile)
        else:
            from transformers import AutoModelForSeq2SeqLM

            model = AutoModelForSeq2SeqLM.from_pretrained(folder).to(device).eval()
            _MODELS[key] = (model, context(params)["tokenizer"])
    model, tok = _MODELS[key]
    return model, tok, rec


# ------------------------------------------------------------------------------------------------ experiments


def _examples(test, short, long, params, n: int = 8) -> list[dict]:
    return [{"id": r["id"], "document": r["document"][:400] + ("..." if len(r["document"]) > 400 else ""),
             "reference": r["summary"], f"generated ({params.max_new_tokens} tokens)": a,
             f"generated ({params.long_max_new_tokens} tokens)": b}
            for r, a, b in list(zip(test, short["predictions"], long["predictions"]))[:n]]


def run_finetune(params, profile: str) -> dict:
    """Test-set ROUGE with the 20-token cap (the report's setting) and the longer cap; distinct share; examples."""
    def fn():
        device, precision = setup(params)
        model, tok, train = finetuned(params, profile)
        test = context(params)["splits"]["test"]
        short = evaluate(model, tok, test, params, device, precision, params.max_new_tokens, "test ROUGE (cap)")
        long = evaluate(model, tok, test, params, device, precision, params.long_max_new_tokens, "test ROUGE (long)")
        return {"metrics": {"capped": short["flat"], "long": long["flat"],
                            "distinct_share": {"capped": short["distinct_share"], "long": long["distinct_share"],
                                               "reference": distinct_share([r["summary"] for r in test])},
                            "test_documents": len(test),
                            "mean_gen_tokens": {"capped": short["mean_gen_tokens"], "long": long["mean_gen_tokens"]},
                            "mean_gen_words": {"capped": short["mean_gen_words"], "long": long["mean_gen_words"],
                                               "reference": sum(len(r["summary"].split()) for r in test) / len(test)}},
                "curves": train["curves"], "training": train["metrics"], "train_record": train["key"][:12],
                "data_sha256": _data_sha256(params), "examples": _examples(test, short, long, params)}
    return record(CHAPTER, profile, "finetune", params, fn)


def _data_sha256(params) -> dict | None:
    if params.dataset_name == "debian":
        return D.dataset_sha256(params.data_dir, "debian-summaries")
    if params.dataset_name == "xsum" and params.data_dir:
        return D.dataset_sha256(params.data_dir, "xsum")
    return None


def extractive(test: list[dict], seed: int, by_line: bool = False) -> dict[str, dict]:
    """ROUGE P/R/F of the extractive baselines: Lead-1 and Random-1 (one sentence: Narayan et al.'s LEAD and
    RANDOM on XSum), Lead-3 and Random-3 (the report's, section 3.3), and the oracle sentence (the single sentence
    of highest ROUGE against the reference: an upper bound for one extracted sentence)."""
    refs = [r["summary"] for r in test]
    docs = [r["document"] for r in test]
    rng1, rng3 = random.Random(f"{seed}-1"), random.Random(f"{seed}-3")
    return {"Lead-1": flat(rouge([B.lead_k(d, 1, by_line) for d in docs], refs)),
            "Lead-3": flat(rouge([B.lead_k(d, 3, by_line) for d in docs], refs)),
            "Random-1": flat(rouge([B.random_k(d, 1, rng1, by_line) for d in docs], refs)),
            "Random-3": flat(rouge([B.random_k(d, 3, rng3, by_line) for d in docs], refs)),
            "Oracle sentence": flat(rouge([B.oracle_sentence(d, s, by_line) for d, s in zip(docs, refs)], refs))}


def run_baselines(params, profile: str) -> dict:
    """The extractive baselines, the model before training (a random initialisation here unless a checkpoint is
    given) and the fine-tuned model, on the test set (ROUGE P/R/F, the report's 20-token cap)."""
    def fn():
        device, precision = setup(params)
        ctx = context(params)
        test = ctx["splits"]["test"]
        out = extractive(test, params.seed, by_line=params.dataset_name == "xsum")
        seed_everything(params.seed)
        raw = build_model(params, ctx["tokenizer"]).to(device)
        name = "pre-trained, not fine-tuned" if params.model_name_or_path else "random init, untrained"
        out[name] = evaluate(raw, ctx["tokenizer"], test, params, device, precision, params.max_new_tokens,
                             "untrained")["flat"]
        del raw
        model, tok, _ = finetuned(params, profile)
        out["fine-tuned"] = evaluate(model, tok, test, params, device, precision, params.max_new_tokens,
                                     "fine-tuned")["flat"]
        return {"metrics": out, "test_documents": len(test)}
    return record(CHAPTER, profile, "baselines", params, fn)


def run_xsum_baselines(params, profile: str) -> dict | None:
    """The extractive baselines on real XSum test documents (the 1,000 of ``xsum-sample``), beside Narayan et al.
    (2018), and a few real XSum documents with our model's summary (a model trained on the profile's data, which
    is not XSum unless ``dataset_name == "xsum"``). None when ``xsum_sample_dir`` is '' (skipped)."""
    if params.xsum_sample_dir == "":
        return None

    def fn():
        device, precision = setup(params)
        sample = D.load_xsum_sample(params.xsum_sample_dir)
        test = sample["test"]
        out = extractive(test, params.seed, by_line=True)  # XSum stores one sentence per line
        model, tok, _ = finetuned(params, profile)
        ev = evaluate(model, tok, test, params, device, precision, params.max_new_tokens, "XSum sample")
        out[f"our model (trained on {params.dataset_name})"] = ev["flat"]
        rng = random.Random(params.seed)
        shown = []
        for r, g in list(zip(test, ev["predictions"]))[:6]:
            shown.append({"id": r["id"], "document": r["document"][:500] + ("..." if len(r["document"]) > 500 else ""),
                          "reference": r["summary"], "Lead-1": B.lead_k(r["document"], 1, by_line=True),
                          "Random-1": B.random_k(r["document"], 1, rng, by_line=True), "our model": g})
        words = [len(r["document"].split()) for r in test]
        return {"metrics": out, "documents": len(test), "distinct_share": ev["distinct_share"],
                "mean_document_words": sum(words) / len(words),
                "mean_summary_words": sum(len(r["summary"].split()) for r in test) / len(test),
                "official_split_sizes": sample["split_sizes"], "sha256": sample["sha256"], "examples": shown}
    return record(CHAPTER, profile, "xsum_baselines", params, fn)


def sweep_params(params, learning_rate: float, batch_size: int):
    """The parameters of one sweep cell: the profile's, with the cell's learning rate and batch size and the
    sweep's epochs and training examples."""
    return dataclasses.replace(params, learning_rate=learning_rate, per_device_train_batch_size=batch_size,
                               num_train_epochs=params.sweep_num_train_epochs,
                               max_train_samples=params.sweep_max_train_samples)


def run_sweep(params, profile: str) -> list[dict]:
    """The learning-rate x batch-size grid, one record per cell: validation ROUGE after ``sweep_num_train_epochs``
    epochs on ``sweep_max_train_samples`` training examples, final training loss, wall time. A sweep over another
    grid is the same call with other ``sweep_learning_rates`` / ``sweep_batch_sizes``: cells already run are
    re-used."""
    records = []
    for lr in params.sweep_learning_rates:
        for bs in params.sweep_batch_sizes:
            cell = sweep_params(params, lr, bs)

            def fn(cell=cell):
                device, precision = setup(cell)
                model, tok, train = finetuned(cell, profile)
                val = context(cell)["splits"]["validation"]
                ev = evaluate(model, tok, val, cell, device, precision, cell.max_new_tokens, "sweep ROUGE")
                _MODELS.pop(str(model_dir(cell, profile)), None)
                m = train["metrics"]
                return {"metrics": {**ev["flat"], "final_loss": m["final_loss"], "seconds": m["seconds"],
                                    "steps": m["steps"], "distinct_share": ev["distinct_share"]},
                        "curves": {"step": train["curves"]["step"], "loss": train["curves"]["loss"]}}
            rec = record(CHAPTER, profile, "sweep_point", params, fn,
                         extra={"learning_rate": lr, "batch_size": bs})
            records.append(rec)
    return records


def run_pretrain_comparison(params, profile: str) -> dict | None:
    """Does T5's span-corruption pre-training on the training documents help a model from random init? Two runs at
    the sweep's size (``sweep_max_train_samples``, ``sweep_num_train_epochs``) with the profile's learning rate and
    batch, without and with ``compare_pretrain_steps`` of pre-training; validation ROUGE of each. None when
    ``compare_pretrain_steps`` is 0."""
    if not params.compare_pretrain_steps or params.model_name_or_path:
        return None

    def fn():
        out = {}
        for steps in (0, params.compare_pretrain_steps):
            cell = dataclasses.replace(params, num_train_epochs=params.sweep_num_train_epochs,
                                       max_train_samples=params.sweep_max_train_samples, pretrain_steps=steps)
            device, precision = setup(cell)
            model, tok, train = finetuned(cell, profile)
            ev = evaluate(model, tok, context(cell)["splits"]["validation"], cell, device, precision,
                          cell.max_new_tokens, f"pre-training {steps}")
            _MODELS.pop(str(model_dir(cell, profile)), None)
            m = train["metrics"]
            out[str(steps)] = {**ev["flat"], "distinct_share": ev["distinct_share"], "final_loss": m["final_loss"],
                               "pretrain_final_loss": m["pretrain_final_loss"], "seconds": m["seconds"],
                               "pretrain_seconds": m["pretrain_seconds"], "steps": m["steps"],
                               "curves": train["curves"]}
        return {"metrics": out}
    return record(CHAPTER, profile, "pretrain_comparison", params, fn)


def noisy_documents(documents: list[str], kind: str, strength: float, seed: int) -> list[str]:
    rng = random.Random(f"{seed}-{kind}-{strength}")
    return [N.apply(kind, d, strength, rng) for d in documents]


def run_robustness(params, profile: str) -> dict:
    """ROUGE P/R/F of the fine-tuned model on ``robust_samples`` test documents, clean and under each noise."""
    def fn():
        device, precision = setup(params)
        model, tok, _ = finetuned(params, profile)
        test = context(params)["splits"]["test"]
        test = test[: params.robust_samples] if params.robust_samples else test
        rows = []
        for kind, strength in [("clean", 0.0)] + [(k, s) for k in N.KINDS for s in params.noise_strengths]:
            docs = [r["document"] for r in test] if kind == "clean" else \
                noisy_documents([r["document"] for r in test], kind, strength, params.seed)
            recs = [{"document": d, "summary": r["summary"]} for d, r in zip(docs, test)]
            ev = evaluate(model, tok, recs, params, device, precision, params.max_new_tokens, f"{kind} {strength}")
            lead = flat(rouge([B.lead_k(d, 3) for d in docs], [r["summary"] for r in test]))
            rows.append({"noise": kind, "strength": strength, **ev["flat"], "distinct_share": ev["distinct_share"],
                         "Lead-3 rouge1/fmeasure": lead["rouge1/fmeasure"]})
        return {"metrics": {"rows": rows, "documents": len(test)}}
    return record(CHAPTER, profile, "robustness", params, fn)


def _words(tokens: list[str], weights: torch.Tensor) -> list[tuple[str, float]]:
    """Merge SentencePiece pieces into words (a piece starting with "▁" starts a word), summing attention."""
    out: list[list] = []
    for t, w in zip(tokens, weights.tolist()):
        if t in ("</s>", "<pad>"):
            continue
        if t.startswith("▁") or not out:
            out.append([t.lstrip("▁"), w])
        else:
            out[-1][0] += t
            out[-1][1] += w
    return [(a, b) for a, b in out if a]


def run_attention(params, profile: str) -> dict:
    """Cross-attention (averaged over layers and heads) of generated summaries over their sources, and the
    source words that receive the most attention mass (per example, and over ``robust_samples`` test documents)."""
    def fn():
        device, precision = setup(params)
        model, tok, _ = finetuned(params, profile)
        test = context(params)["splits"]["test"]
        pool = test[: max(params.attention_samples, params.robust_samples or len(test))]
        gens = generate(model, tok, [r["document"] for r in pool], params.source_prefix, params.max_source_length,
                        params.max_new_tokens, params.per_device_eval_batch_size, device, precision, params.num_beams)
        examples, totals = [], {}
        n_prefix = len(tok(params.source_prefix.strip(), add_special_tokens=False)["input_ids"])
        for i, (r, g) in enumerate(zip(pool, gens)):
            src = tok(params.source_prefix + r["document"], truncation=True, max_length=params.max_source_length,
                      return_tensors="pt")["input_ids"].to(device)
            tgt = tok(g, return_tensors="pt")["input_ids"].to(device)
            dec = torch.cat([torch.full((1, 1), model.config.decoder_start_token_id, device=device), tgt], 1)[:, :-1]
            att = cross_attention(model, src, dec)  # [target, source]
            src_tokens = tok.convert_ids_to_tokens(src[0].tolist())
            words = _words(src_tokens[n_prefix:], att.sum(0)[n_prefix:])  # the task prefix is not a source word
            for w, m in words:
                totals[w.lower()] = totals.get(w.lower(), 0.0) + m
            if i < params.attention_samples:
                examples.append({"id": r["id"], "generated": g, "reference": r["summary"],
                                 "source_tokens": src_tokens, "target_tokens": tok.convert_ids_to_tokens(tgt[0].tolist()),
                                 "attention": att.tolist(),
                                 "top_words": sorted(words, key=lambda x: -x[1])[:10]})
        top = sorted(totals.items(), key=lambda x: -x[1])[:20]
        return {"metrics": {"top_words_overall": top, "documents": len(pool)}, "examples": examples}
    return record(CHAPTER, profile, "attention", params, fn)
