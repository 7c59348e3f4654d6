"""Tests of the T5/XSum chapter: loaders on XSum-format fixtures (and on the real XSum sample when it is here), the
Debian pairs, ROUGE against rouge-score, baselines, noise, tokenizer and model, span corruption, generation
lengths, training and its kill-and-resume, the sweep, the bench's quick mode, profiles and preflight."""
import json
import random

import pytest

from replicate import chapters
from replicate.config import UsageError
from replicate.data import DataMissing
from replicate.papers.t5_xsum import baselines as B
from replicate.papers.t5_xsum import data as D
from replicate.papers.t5_xsum import noise as N
from replicate.papers.t5_xsum.metrics import flat, rouge

DOC = ("The council has voted to close the library. Campaigners said it was a sad day! "
       "\"We will fight on,\" said Ms Jones. Figures show 3,000 visitors a year.")
TINY = dict(max_train_samples=48, max_eval_samples=8, max_predict_samples=8, synth_sentences=3, max_source_length=48,
            max_target_length=16, vocab_size=300, d_model=32, d_ff=64, num_layers=1, num_heads=2, d_kv=16,
            num_train_epochs=1, per_device_train_batch_size=8, sweep_learning_rates=(1e-3, 5e-3),
            sweep_batch_sizes=(8,), sweep_num_train_epochs=1, sweep_max_train_samples=24, robust_samples=4,
            noise_strengths=(0.5,), attention_samples=1, per_device_eval_batch_size=8, long_max_new_tokens=24)


def _tiny(**kw):
    return chapters.get("t5_xsum").resolve("smoke", {**TINY, **kw})


# ---------------------------------------------------------------- loader on fixtures in XSum's schema
def _xsum_fixture(folder, fmt):
    rows = {s: [{"document": f"{s} article {i}. It has two sentences.", "summary": f"{s} summary {i}.",
                 "id": str(30000000 + i)} for i in range(3)] for s in D.SPLITS}
    folder.mkdir(parents=True, exist_ok=True)
    for s, rs in rows.items():
        if fmt == "jsonl":
            (folder / f"{s}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
        else:  # the hub's parquet layout
            import pandas as pd

            (folder / "data").mkdir(exist_ok=True)
            pd.DataFrame(rs).to_parquet(folder / "data" / f"{s}-00000-of-00001.parquet")
    return rows


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_load_xsum_local_copy(tmp_path, fmt):
    rows = _xsum_fixture(tmp_path / fmt, fmt)
    ds = D.load_xsum(str(tmp_path / fmt))
    for s in D.SPLITS:
        assert ds[s].column_names == ["document", "summary", "id"] or set(ds[s].column_names) == set(D.FIELDS)
        assert ds[s]["summary"] == [r["summary"] for r in rows[s]]
        assert ds[s]["id"] == [r["id"] for r in rows[s]]
    p = _tiny(dataset_name="xsum", data_dir=str(tmp_path / fmt), max_train_samples=2, max_eval_samples=0,
              max_predict_samples=0)
    sp = D.load_splits(p)
    assert len(sp["train"]) == 2 and len(sp["test"]) == 3


def test_load_xsum_missing_split(tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps({"document": "a", "summary": "b", "id": "1"}) + "\n")
    with pytest.raises(DataMissing, match="validation, test"):
        D.load_xsum(str(tmp_path))


def test_synthetic_schema_and_determinism():
    a = D.synthetic_pairs(5, seed=1, sentences=4)
    assert a == D.synthetic_pairs(5, seed=1, sentences=4)
    assert all(set(r) == {"document", "summary", "id"} for r in a)
    assert all(len(D.sentences(r["document"])) == 4 for r in a)
    assert len({r["id"] for r in a}) == 5


def test_sentences():
    assert D.sentences(DOC) == ["The council has voted to close the library.", "Campaigners said it was a sad day!",
                                "\"We will fight on,\" said Ms Jones.", "Figures show 3,000 visitors a year."]


# ---------------------------------------------------------------- ROUGE against rouge-score directly
def test_rouge_matches_rouge_score():
    from rouge_score import rouge_scorer

    preds = ["the cats were sitting on the mat", "police arrested two men in Leeds."]
    refs = ["a cat sat on the mat", "Two men have been arrested by police in Leeds."]
    ours = rouge(preds, refs)
    sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for t in ("rouge1", "rouge2", "rougeL"):
        s = [sc.score(r, p)[t] for p, r in zip(preds, refs)]
        assert ours[t]["precision"] == pytest.approx(sum(x.precision for x in s) / 2)
        assert ours[t]["recall"] == pytest.approx(sum(x.recall for x in s) / 2)
        assert ours[t]["fmeasure"] == pytest.approx(sum(x.fmeasure for x in s) / 2)
    # stemming: "cats"/"cat" match; hand count for the first pair: unigrams p=3/7 (cat, on, mat + the), r = 4/6
    assert rouge(["cats on the mat"], ["a cat on the mat"])["rouge1"]["recall"] == pytest.approx(4 / 5)
    assert flat(ours)["rouge1/fmeasure"] == ours["rouge1"]["fmeasure"]
    with pytest.raises(ValueError):
        rouge(["a"], [])


# ---------------------------------------------------------------- baselines and noise
def test_lead_and_random_k():
    s = D.sentences(DOC)
    assert B.lead_k(DOC, 1) == s[0]
    assert B.lead_k(DOC, 3) == " ".join(s[:3])
    r = B.random_k(DOC, 3, random.Random(0))
    picked = D.sentences(r)
    assert len(picked) == 3 and all(x in s for x in picked)
    assert [s.index(x) for x in picked] == sorted(s.index(x) for x in picked)  # document order
    assert B.random_k("One sentence only.", 3) == "One sentence only."


def test_noise_functions():
    rng = random.Random(0)
    assert N.apply("typos", DOC, 0.0, rng) == DOC
    t = N.typos(DOC, 1.0, random.Random(0))
    assert t != DOC and len(t.split(" ")) == len(DOC.split(" "))
    d = N.drop_sentences(DOC, 0.5, random.Random(3))
    assert 1 <= len(D.sentences(d)) <= 4 and all(x in D.sentences(DOC) for x in D.sentences(d))
    assert len(D.sentences(N.drop_sentences(DOC, 1.0, random.Random(0)))) == 1
    sh = N.shuffle_sentences(DOC, 1.0, random.Random(0))
    assert sh != DOC and sorted(D.sentences(sh)) == sorted(D.sentences(DOC))
    with pytest.raises(ValueError):
        N.apply("bogus", DOC, 0.1, rng)


# ---------------------------------------------------------------- tokenizer, model, training
def test_tokenizer_and_model_shapes():
    import torch

    from replicate.papers.t5_xsum.model import build_model, count_parameters, cross_attention

    recs = D.synthetic_pairs(40, sentences=3)
    tok = D.train_tokenizer([r["document"] for r in recs], 200)
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    ids = tok("The Leeds Rovers is to close a food bank.")["input_ids"]
    assert ids[-1] == 1 and tok.decode(ids, skip_special_tokens=True) == "The Leeds Rovers is to close a food bank."
    p = _tiny()
    m = build_model(p, tok)
    assert m.config.d_model == 32 and m.config.num_layers == 1 and count_parameters(m) > 0
    ex = D.encode(recs[:4], tok, p.source_prefix, 48, 16)
    batch = D.collate(ex, [0, 1, 2, 3])
    assert batch["input_ids"].shape[1] % 8 == 0
    coarse = D.collate(ex, [0, 1, 2, 3], multiple=64)
    n = batch["input_ids"].shape[1]
    assert coarse["input_ids"].shape[1] == -(-n // 64) * 64 and coarse["labels"].shape[1] % 16 == 0
    assert torch.equal(coarse["input_ids"][:, :n], batch["input_ids"])  # only more padding
    assert int(coarse["attention_mask"].sum()) == int(batch["attention_mask"].sum())
    out = m(**batch)
    assert out.logits.shape[:2] == batch["labels"].shape and out.logits.shape[2] == len(tok)
    att = cross_attention(m, batch["input_ids"][:1], torch.zeros(1, 3, dtype=torch.long))
    assert att.shape == (3, batch["input_ids"].shape[1])
    assert torch.allclose(att.sum(1), torch.ones(3), atol=1e-4)
    # the hooked read-out equals the weights eager attention returns through output_attentions
    m.set_attn_implementation("eager")
    src, dec = batch["input_ids"][:1], torch.tensor([[0, 5, 7]])
    ref = m(input_ids=src, attention_mask=torch.ones_like(src), decoder_input_ids=dec, output_attentions=True)
    ref = torch.stack([a[0] for a in ref.cross_attentions]).mean(dim=(0, 1))
    assert torch.allclose(cross_attention(m, src, dec), ref, atol=1e-5)


def test_bucketed_batches_cover_epoch_and_pad_less():
    recs = D.synthetic_pairs(200, sentences=4)
    tok = D.train_tokenizer([r["document"] for r in recs], 300)
    ex = D.encode(recs, tok, "summarize: ", 200, 32)
    for bucket in (True, False):
        b = D.batches(ex, 8, 0, bucket, chunk=10)
        assert sorted(i for x in b for i in x) == list(range(200))

    def waste(bs):
        return sum(max(len(ex[i]["input_ids"]) for i in x) * len(x) for x in bs)
    assert waste(D.batches(ex, 8, 0, True, chunk=10)) < waste(D.batches(ex, 8, 0, False))


def test_loader_pads_as_collate_in_workers_too():
    import torch

    rng = random.Random(0)
    ex = [{"input_ids": [rng.randrange(3, 50) for _ in range(rng.randrange(5, 90))] + [1],
           "labels": [rng.randrange(3, 50) for _ in range(rng.randrange(2, 20))] + [1]} for _ in range(40)]
    plan = D.batches(ex, 8, 0)
    for workers in (0, 2):
        got = list(D.loader(ex, plan, 0, 64, workers=workers))
        assert len(got) == len(plan)
        for ids, b in zip(plan, got):
            want = D.collate(ex, ids, 0, 64)
            assert all(torch.equal(b[k], want[k]) for k in want)


def test_sweep_rows_keep_the_newest_point_and_diversity_line():
    from replicate.papers.t5_xsum import report as R

    def rec(lr, bs, created, f1):
        return {"experiment": "sweep_point", "config": {"params": {}, "extra": {"learning_rate": lr, "batch_size": bs}},
                "meta": {"created": created}, "curves": {}, "metrics": {"rougeL/fmeasure": f1}}
    rows = R.sweep_rows([rec(1e-3, 8, "2026-02", 0.2), rec(1e-3, 8, "2026-01", 0.1), rec(1e-3, 16, "2026-01", 0.3)])
    assert sorted((r["batch_size"], r["rougeL/fmeasure"]) for r in rows) == [(8, 0.2), (16, 0.3)]
    fin = {"config": {"params": {"max_new_tokens": 20}}, "metrics": {
        "mean_gen_tokens": {"capped": 9.0}, "test_documents": 50,
        "distinct_share": {"capped": 0.02, "long": 0.04, "reference": 1.0}}, "examples": []}
    assert R.diversity(fin).startswith("distinct generated summaries: 2.0% of 50") and "collapsed" in R.diversity(fin)
    fin["metrics"]["distinct_share"]["capped"] = 0.9
    assert "collapsed" not in R.diversity(fin)
    # a record made before the share was measured: the shown examples are counted, and said so
    old = {"config": {"gen_max_new_tokens": 20}, "metrics": {"mean_gen_tokens": {"capped": 9.0}},
           "examples": [{"generated (20 tokens)": "Same.", "generated (64 tokens)": x} for x in ("a", "b")]}
    assert R.diversity(old).startswith("1 distinct summaries among the 2 shown")


def test_distinct_share_and_blind_loss():
    import math

    from replicate.papers.t5_xsum.train import distinct_share

    assert distinct_share(["a", "a", "b", "c"]) == 0.75 and distinct_share([]) == 0
    assert D.synthetic_blind_loss(10.0) == pytest.approx(math.log(20 * 12 * 8 * 14) / 10)


def test_finetune_loss_decreases_and_a_finished_run_resumes_at_its_end(tmp_path):
    import torch

    from replicate.papers.t5_xsum.model import build_model
    from replicate.papers.t5_xsum.train import finetune
    from replicate.train import Checkpointer, seed_everything

    p = _tiny(num_train_epochs=3, learning_rate=5e-3, warmup_ratio=0.1)
    sp = D.load_splits(p)
    tok = D.train_tokenizer([r["document"] for r in sp["train"]], 300)
    seed_everything(0)
    m = build_model(p, tok)
    h = finetune(m, tok, sp, p, torch.device("cpu"), "fp32", checkpoint=Checkpointer(tmp_path / "s.pt"))
    assert h["loss"][-1] < h["loss"][0] - 0.5
    assert len(h["epoch_val"]) == 3 and "rougeL/fmeasure" in h["epoch_val"][0]
    m2 = build_model(p, tok)
    h2 = finetune(m2, tok, sp, p, torch.device("cpu"), "fp32", checkpoint=Checkpointer(tmp_path / "s.pt"))
    assert h2["step"] == h["step"]


RESUME = """
import hashlib, json, os
import torch
from replicate import chapters
from replicate.papers.t5_xsum import data as D
from replicate.papers.t5_xsum.model import build_model
from replicate.papers.t5_xsum.train import finetune, pretrain
from replicate.train import Checkpointer, seed_everything
p = chapters.get("t5_xsum").resolve("smoke", dict(max_train_samples=96, max_eval_samples=8, max_predict_samples=8,
    synth_sentences=3, max_source_length=48, max_target_length=16, vocab_size=300, d_model=32, d_ff=64, num_layers=1,
    num_heads=2, d_kv=16, num_train_epochs=2, per_device_train_batch_size=8, per_device_eval_batch_size=8,
    learning_rate=3e-3, warmup_ratio=0.1, save_steps=10, pretrain_steps=20))
sp = D.load_splits(p)
tok = D.train_tokenizer([r["document"] for r in sp["train"]], 300)
seed_everything(0)
m = build_model(p, tok)
ck = os.environ["CHECKPOINT"]
pre = pretrain(m, tok, [r["document"] for r in sp["train"]], p, torch.device("cpu"), "fp32",
               checkpoint=Checkpointer(ck + ".pre"))
h = finetune(m, tok, sp, p, torch.device("cpu"), "fp32", checkpoint=Checkpointer(ck))
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in m.state_dict().values())).hexdigest()
print(json.dumps({"pre": pre["loss"], "loss": h["loss"], "val": h["epoch_val"], "weights": digest}))
"""


def test_kill_mid_training_and_resume_gives_the_uninterrupted_numbers(tmp_path):
    from tests.resume import kill_and_resume

    straight, resumed = kill_and_resume(RESUME, tmp_path)
    assert resumed == straight


def test_span_corruption_reconstructs_the_sequence():
    rng = random.Random(0)
    sentinels = [1000 + i for i in range(32)]
    for n in (4, 30, 200):
        ids = list(range(3, 3 + n))
        inp, tgt = D.span_corrupt(ids, rng, 0.15, 3.0, sentinels, eos=1)
        assert inp[-1] == tgt[-1] == 1
        spans = {}
        cur = None
        for t in tgt[:-1]:
            if t in sentinels:
                cur = t
                spans[cur] = []
            else:
                spans[cur].append(t)
        rebuilt = [x for t in inp[:-1] for x in (spans[t] if t in sentinels else [t])]
        assert rebuilt == ids
        masked = sum(len(v) for v in spans.values())
        assert masked == max(1, min(n - 1, round(n * 0.15)))
    tok = D.train_tokenizer([r["document"] for r in D.synthetic_pairs(20, sentences=2)], 200)
    assert len(D.sentinel_ids(tok)) == D.N_SENTINELS


def test_generation_lengths_are_set_one_way_and_warn_nothing(caplog):
    import logging

    import torch

    from replicate.papers.t5_xsum.model import build_model
    from replicate.papers.t5_xsum.train import generate_ids, generation_kwargs

    tok = D.train_tokenizer([r["document"] for r in D.synthetic_pairs(20, sentences=2)], 200)
    m = build_model(_tiny(), tok)
    # what Seq2SeqTrainer.predict leaves in the model's generation config after its first batch
    m.generation_config.update(max_length=20, min_length=0)
    enc = [[5, 6, 7, 1], [8, 9, 1]]
    with caplog.at_level(logging.WARNING):
        ys = generate_ids(m, enc, 0, 7, 2, torch.device("cpu"), "fp32", min_new_tokens=7)
    assert not [r for r in caplog.records if "seem to have been set" in r.getMessage()]
    assert all(len(y) == 8 for y in ys)  # the start token and exactly 7 new tokens
    assert generation_kwargs(20, 1) == {"max_length": 21, "min_length": 1, "num_beams": 1, "do_sample": False}


def test_sweep_runner_records_and_reuse():
    from replicate.papers.t5_xsum import experiment as E

    p = _tiny()
    recs = E.run_sweep(p, "smoke")
    assert [(r["config"]["extra"]["learning_rate"], r["config"]["extra"]["batch_size"]) for r in recs] == \
        [(1e-3, 8), (5e-3, 8)]
    assert all(0 <= r["metrics"]["rougeL/fmeasure"] <= 1 and r["metrics"]["steps"] == 3 for r in recs)
    again = E.run_sweep(p, "smoke")  # re-used from the records
    assert [r["metrics"]["final_loss"] for r in again] == [r["metrics"]["final_loss"] for r in recs]


def test_experiments_end_to_end_tiny():
    from replicate.papers.t5_xsum import experiment as E
    from replicate.papers.t5_xsum import report as R

    p = _tiny()
    fin = E.run_finetune(p, "smoke")
    t3 = R.table3(fin)
    assert list(t3["paper"][:3]) == [0.274, 0.312, 0.283] and t3["ours"].notna().all()
    assert fin["metrics"]["mean_gen_tokens"]["capped"] <= p.max_new_tokens
    assert 0 < fin["metrics"]["distinct_share"]["capped"] <= 1
    assert "randomly initialised" in R.setting_note(fin) and "test" in R.setting_note(fin)
    base = E.run_baselines(p, "smoke")
    assert {"Lead-1", "Lead-3", "Random-1", "Random-3", "Oracle sentence", "random init, untrained",
            "fine-tuned"} <= set(base["metrics"])
    rob = E.run_robustness(p, "smoke")
    assert [r["noise"] for r in rob["metrics"]["rows"]] == ["clean", *N.KINDS]
    att = E.run_attention(p, "smoke")
    assert len(att["examples"]) == 1 and att["metrics"]["top_words_overall"]
    assert not any(w.startswith("summar") for w, _ in att["metrics"]["top_words_overall"])
    assert E.run_xsum_baselines(p, "smoke") is None  # the smoke profile skips the XSum sample
    # the training run is one record, re-used by every experiment of the same parameters
    assert fin["train_record"] == E.run_train(p, "smoke")["key"][:12]


# ---------------------------------------------------------------- bench and profiles
def test_bench_quick_runs():
    from replicate.bench import measure
    from replicate.papers.t5_xsum.bench import routes

    r = measure(routes(quick=True))
    assert set(r["throughput"]) == {"seq2seq_trainer", "ours", "ours_cudagraphs"}
    assert all(v > 0 for v in r["throughput"].values())
    c = r["check"]
    # the loss curve comes from the CUDA-graph route, reset to the shared initial weights (not recompiled)
    assert c["loss_route"] == "ours_cudagraphs" and len(c["loss_curve_ref"]) == len(c["loss_curve_ours"]) == 8
    assert abs(c["loss_ours_first"] - c["loss_ref_first"]) < 0.5
    assert c["first_call_s"]["ours_cudagraphs"] > c["first_call_s"]["ours"] > 0
    assert c["shapes_captured"] >= 1 and c["flops_per_sample"] > 0
    assert c["generation_samples_per_s"]["ours"] > 0


def test_flops_per_sample_counts_the_matmuls():
    import torch

    from replicate.papers.t5_xsum.bench import TINY, _model, flops_per_sample, xsum_like

    ex = xsum_like(8, TINY["vocab_size"], 64, 16)
    f = flops_per_sample(_model(TINY, "cpu"), ex, 4, 8, torch.device("cpu"), "fp32", 1)
    # at least the forward + backward (3x) of the encoder's feed-forward matmuls on the sample's source tokens
    tokens = min(len(e["input_ids"]) for e in ex)
    assert f > 3 * 2 * tokens * 2 * TINY["d_model"] * TINY["d_ff"] * TINY["num_layers"]


def test_profiles_resolve_and_bad_parameters():
    ch = chapters.get("t5_xsum")
    for name in ("smoke", "gpu", "real", "paper"):
        ch.resolve(name)
    paper = ch.resolve("paper")
    assert paper.learning_rate == 2e-5 and paper.per_device_train_batch_size == 16
    assert ch.resolve("paper", {"learning_rate": "3e-4", "per_device_train_batch_size": "8",
                                "num_train_epochs": "5"}).num_train_epochs == 5
    with pytest.raises(UsageError, match="synthetic, debian, xsum"):
        ch.resolve("smoke", {"dataset_name": "cnn"})
    with pytest.raises(UsageError, match="valid parameters"):
        ch.resolve("smoke", {"lr": 1})
    with pytest.raises(UsageError):
        ch.resolve("smoke", {"noise_strengths": "1.5"})
    with pytest.raises(UsageError, match="config-built"):
        ch.resolve("paper", {"pretrain_steps": 10})
    with pytest.raises(UsageError, match="reduce-overhead"):
        ch.resolve("smoke", {"torch_compile_mode": "max"})


def test_preflight_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path))
    ch = chapters.get("t5_xsum")
    assert ch.missing(ch.resolve("smoke")) == []
    lines = ch.missing(ch.resolve("real"))
    assert any("debian" in m.lower() for m in lines) and any("xsum" in m.lower() for m in lines)
    assert all(":" in m for m in lines)
    lines = ch.missing(ch.resolve("paper", {"model_name_or_path": str(tmp_path / "nope")}))
    assert any("nope" in m for m in lines)
