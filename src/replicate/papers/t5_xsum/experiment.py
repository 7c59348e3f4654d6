"""The chapter's experiments, each stored as a result record (re-used when its config has not changed):

``finetune``      fine-tune, then test-set ROUGE P/R/F with the report's 20-token cap and a longer cap (Table 3)
``baselines``     Lead-1, Lead-3, Random-3 and the model before fine-tuning (section 3.3)
``sweep_point``   one (learning rate, batch size) cell of the hyperparameter study (objective 5)
``robustness``    ROUGE under typos, dropped and shuffled sentences at several strengths (section 2.3.5)
``attention``     cross-attention maps and the most attended source words (section 2.3.4)

A fine-tuned model is kept in the data cache (``$REPLICATE_DATA/t5_xsum/runs/<hash>``) so later notebooks re-use it.
"""
from __future__ import annotations

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
from replicate.results import ResultStore
from replicate.train import Checkpointer, pick_device, resolve_precision, seed_everything, set_threads

from . import baselines as B
from . import data as D
from . import noise as N
from .metrics import flat, rouge
from .model import build_model, count_parameters, cross_attention, load_tokenizer
from .train import evaluate, finetune

CHAPTER = "t5_xsum"
#: fields that do not change a fine-tuned model
EVAL_ONLY = ("gen_max_new_tokens", "gen_long_max_new_tokens", "num_beams", "eval_batch_size", "sweep_lrs",
             "sweep_batch_sizes", "sweep_epochs", "sweep_n_train", "noise_strengths", "n_robust", "n_attention",
             "n_test", "device", "compile", "cpu_threads")
_CTX: dict = {}
_MODELS: dict = {}


def _hash(d) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def setup(params):
    """(device, precision) for this run; CPU threads set to the machine's cores."""
    device = pick_device(params.device)
    if device.type == "cpu":
        set_threads(params.cpu_threads or None)
    return device, resolve_precision(params.precision, device)


def context(params) -> dict:
    """Splits and tokenizer of a profile, built once per process."""
    key = _hash({k: v for k, v in as_dict(params).items() if k in (
        "data", "data_dir", "n_train", "n_val", "n_test", "synth_sentences", "seed", "checkpoint", "vocab_size")})
    if key not in _CTX:
        splits = D.load_splits(params)
        texts = [params.prefix + r["document"] for r in splits["train"]] + [r["summary"] for r in splits["train"]]
        _CTX[key] = {"splits": splits, "tokenizer": load_tokenizer(params, texts)}
    return _CTX[key]


def train_config(params, **changes) -> dict:
    cfg = {k: v for k, v in as_dict(params).items() if k not in EVAL_ONLY}
    cfg.update(changes)
    return cfg


def run_dir(params, **changes) -> Path:
    return paths.data_dir() / CHAPTER / "runs" / _hash(train_config(params, **changes))


def finetuned(params, **changes):
    """(model, tokenizer, history) of the profile's fine-tuning run (``changes``: lr, batch_size, epochs, n_train
    for the sweep): loaded from the cache if it was trained before, else trained (resuming a checkpoint if any)."""
    device, precision = setup(params)
    folder = run_dir(params, **changes)
    key = str(folder)
    if key in _MODELS:
        return _MODELS[key]
    ctx = context(params)
    tok = ctx["tokenizer"]
    if (folder / "model" / "config.json").is_file():
        from transformers import AutoModelForSeq2SeqLM

        model = AutoModelForSeq2SeqLM.from_pretrained(folder / "model").to(device)
        hist = json.loads((folder / "history.json").read_text())
    else:
        seed_everything(params.seed)
        model = build_model(params, tok)
        hist = finetune(model, tok, ctx["splits"], params, device, precision,
                        checkpoint=Checkpointer(folder / "state.pt"), validate=not changes.get("no_validate"),
                        **{k: v for k, v in changes.items() if k in ("lr", "batch_size", "epochs", "n_train")})
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".model.", dir=folder))
        model.save_pretrained(tmp)
        if (folder / "model").exists():
            shutil.rmtree(folder / "model")
        os.replace(tmp, folder / "model")
        (folder / "history.json").write_text(json.dumps(hist))
        Checkpointer(folder / "state.pt").clear()
    model.to(device).eval()
    _MODELS[key] = (model, tok, hist)
    return _MODELS[key]


def store(params, profile: str) -> ResultStore:
    return ResultStore(CHAPTER, profile)


def _cfg(params, *extra) -> dict:
    keep = set(extra)
    return {k: v for k, v in as_dict(params).items() if k not in EVAL_ONLY or k in keep}


# ------------------------------------------------------------------------------------------------ experiments


def run_finetune(params, profile: str, force: bool = False) -> dict:
    """Fine-tune; test-set ROUGE with the 20-token cap (the report's setting) and the longer cap; examples."""
    def fn():
        device, precision = setup(params)
        model, tok, hist = finetuned(params)
        test = context(params)["splits"]["test"]
        short = evaluate(model, tok, test, params, device, precision, params.gen_max_new_tokens, "test ROUGE (cap)")
        long = evaluate(model, tok, test, params, device, precision, params.gen_long_max_new_tokens, "test ROUGE (long)")
        examples = [{"id": r["id"], "document": r["document"][:400] + ("..." if len(r["document"]) > 400 else ""),
                     "reference": r["summary"], f"generated ({params.gen_max_new_tokens} tokens)": a,
                     f"generated ({params.gen_long_max_new_tokens} tokens)": b}
                    for r, a, b in list(zip(test, short["predictions"], long["predictions"]))[:5]]
        return {"metrics": {"capped": short["flat"], "long": long["flat"],
                            "mean_gen_tokens": {"capped": short["mean_gen_tokens"], "long": long["mean_gen_tokens"]},
                            "mean_gen_words": {"capped": short["mean_gen_words"], "long": long["mean_gen_words"],
                                               "reference": sum(len(r["summary"].split()) for r in test) / len(test)}},
                "curves": {"step": hist["step"], "loss": hist["loss"], "epoch_val": hist["epoch_val"]},
                "training": {"seconds": hist["seconds"], "tokens": hist["tokens"], "pad_fraction": hist["pad_fraction"],
                             "parameters": count_parameters(model), "best_epoch": hist.get("best_epoch"),
                             "device": str(device), "precision": precision},
                "examples": examples}
    return store(params, profile).run("finetune", _cfg(params, "n_test", "gen_max_new_tokens",
                                                         "gen_long_max_new_tokens", "num_beams"),
                                      fn, seed=params.seed, force=force)


def run_baselines(params, profile: str, force: bool = False) -> dict:
    """Lead-1, Lead-3, Random-3 and the model without fine-tuning, on the test set (ROUGE P/R/F)."""
    def fn():
        device, precision = setup(params)
        test = context(params)["splits"]["test"]
        refs = [r["summary"] for r in test]
        rng = random.Random(params.seed)
        out = {"Lead-1": flat(rouge([B.lead_k(r["document"], 1) for r in test], refs)),
               "Lead-3": flat(rouge([B.lead_k(r["document"], 3) for r in test], refs)),
               "Random-3": flat(rouge([B.random_k(r["document"], 3, rng) for r in test], refs))}
        seed_everything(params.seed)
        raw = build_model(params, context(params)["tokenizer"]).to(device)
        name = "pre-trained, not fine-tuned" if params.checkpoint else "initial model (random init, not trained)"
        out[name] = evaluate(raw, context(params)["tokenizer"], test, params, device, precision,
                             params.gen_max_new_tokens, "no fine-tuning")["flat"]
        del raw
        model, tok, _ = finetuned(params)
        out["fine-tuned"] = evaluate(model, tok, test, params, device, precision, params.gen_max_new_tokens,
                                     "fine-tuned")["flat"]
        return {"metrics": out}
    return store(params, profile).run("baselines", _cfg(params, "n_test", "gen_max_new_tokens", "num_beams"), fn,
                                      seed=params.seed, force=force)


def run_sweep(params, profile: str, force: bool = False) -> list[dict]:
    """The learning-rate x batch-size grid, one record per cell: validation ROUGE after ``sweep_epochs`` epochs on
    ``sweep_n_train`` training examples, final training loss, wall time."""
    records = []
    for lr in params.sweep_lrs:
        for bs in params.sweep_batch_sizes:
            changes = {"lr": lr, "batch_size": bs, "epochs": params.sweep_epochs, "n_train": params.sweep_n_train}

            def fn(changes=changes):
                device, precision = setup(params)
                model, tok, hist = finetuned(params, **changes)
                val = context(params)["splits"]["validation"]
                ev = evaluate(model, tok, val, params, device, precision, params.gen_max_new_tokens, "sweep ROUGE")
                _MODELS.pop(str(run_dir(params, **changes)), None)
                return {"metrics": {**ev["flat"], "final_loss": hist["loss"][-1], "seconds": hist["seconds"],
                                    "steps": hist["step"][-1]},
                        "curves": {"step": hist["step"], "loss": hist["loss"]}}
            cfg = {**train_config(params, **changes), "gen_max_new_tokens": params.gen_max_new_tokens}
            rec = store(params, profile).run("sweep_point", cfg, fn, seed=params.seed, force=force)
            records.append({"lr": lr, "batch_size": bs, **rec["metrics"], "curves": rec.get("curves", {})})
    return records


def noisy_documents(documents: list[str], kind: str, strength: float, seed: int) -> list[str]:
    rng = random.Random(f"{seed}-{kind}-{strength}")
    return [N.apply(kind, d, strength, rng) for d in documents]


def run_robustness(params, profile: str, force: bool = False) -> dict:
    """ROUGE P/R/F of the fine-tuned model on ``n_robust`` test documents, clean and under each noise."""
    def fn():
        device, precision = setup(params)
        model, tok, _ = finetuned(params)
        test = context(params)["splits"]["test"]
        test = test[: params.n_robust] if params.n_robust else test
        rows = []
        for kind, strength in [("clean", 0.0)] + [(k, s) for k in N.KINDS for s in params.noise_strengths]:
            docs = [r["document"] for r in test] if kind == "clean" else \
                noisy_documents([r["document"] for r in test], kind, strength, params.seed)
            recs = [{"document": d, "summary": r["summary"]} for d, r in zip(docs, test)]
            ev = evaluate(model, tok, recs, params, device, precision, params.gen_max_new_tokens, f"{kind} {strength}")
            lead = flat(rouge([B.lead_k(d, 3) for d in docs], [r["summary"] for r in test]))
            rows.append({"noise": kind, "strength": strength, **ev["flat"],
                         "Lead-3 rouge1/fmeasure": lead["rouge1/fmeasure"]})
        return {"metrics": {"rows": rows}}
    return store(params, profile).run("robustness", _cfg(params, "n_test", "gen_max_new_tokens", "num_beams",
                                                           "noise_strengths", "n_robust"), fn, seed=params.seed,
                                      force=force)


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


def run_attention(params, profile: str, force: bool = False) -> dict:
    """Cross-attention (averaged over layers and heads) of generated summaries over their sources, and the
    source words that receive the most attention mass (per example, and over ``n_robust`` test documents)."""
    def fn():
        device, precision = setup(params)
        model, tok, _ = finetuned(params)
        test = context(params)["splits"]["test"]
        pool = test[: max(params.n_attention, params.n_robust or len(test))]
        from .train import generate

        gens = generate(model, tok, [r["document"] for r in pool], params.prefix, params.max_source_length,
                        params.gen_max_new_tokens, params.eval_batch_size, device, precision, params.num_beams)
        examples, totals = [], {}
        for i, (r, g) in enumerate(zip(pool, gens)):
            src = tok(params.prefix + r["document"], truncation=True, max_length=params.max_source_length,
                      return_tensors="pt")["input_ids"].to(device)
            tgt = tok(g, return_tensors="pt")["input_ids"].to(device)
            dec = torch.cat([torch.full((1, 1), model.config.decoder_start_token_id, device=device), tgt], 1)[:, :-1]
            att = cross_attention(model, src, dec)  # [target, source]
            src_tokens = tok.convert_ids_to_tokens(src[0].tolist())
            n_prefix = len(tok(params.prefix.strip(), add_special_tokens=False)["input_ids"])
            words = _words(src_tokens[n_prefix:], att.sum(0)[n_prefix:])  # the task prefix is not a source word
            for w, m in words:
                totals[w.lower()] = totals.get(w.lower(), 0.0) + m
            if i < params.n_attention:
                examples.append({"id": r["id"], "generated": g, "reference": r["summary"],
                                 "source_tokens": src_tokens, "target_tokens": tok.convert_ids_to_tokens(tgt[0].tolist()),
                                 "attention": att.tolist(),
                                 "top_words": sorted(words, key=lambda x: -x[1])[:10]})
        top = sorted(totals.items(), key=lambda x: -x[1])[:20]
        return {"metrics": {"top_words_overall": top, "documents": len(pool)}, "examples": examples}
    return store(params, profile).run("attention", _cfg(params, "n_test", "gen_max_new_tokens", "num_beams",
                                                          "n_attention", "n_robust"), fn, seed=params.seed, force=force)


def papermill_sweep(params, profile: str, out_dir: str | Path | None = None) -> list[dict]:
    """The sweep as a papermill sweep: ``02_sweep`` executed once per (lr, batch size) cell, each execution writing
    that cell's record; returns the records of the whole grid (re-used, nothing is trained twice)."""
    from replicate.runner import execute, source_notebook

    out = Path(out_dir or paths.executed_dir() / CHAPTER / "sweep")
    out.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in as_dict(params).items()}
    for lr in params.sweep_lrs:
        for bs in params.sweep_batch_sizes:
            ov = {**base, "sweep_lrs": [lr], "sweep_batch_sizes": [bs]}
            execute(source_notebook(CHAPTER, "02_sweep"), out / f"02_sweep-lr{lr:g}-bs{bs}.ipynb",
                    {"profile": profile, "overrides": ov}, progress=False, cwd=out)
    return run_sweep(params, profile)
