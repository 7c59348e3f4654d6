"""Tests of the T5/XSum chapter: loader on XSum-format fixtures, ROUGE against rouge-score, baselines, noise,
tokenizer and model, training, the sweep runner, the bench's quick mode, profiles."""
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
TINY = dict(n_train=48, n_val=8, n_test=8, synth_sentences=3, max_source_length=48, max_target_length=16,
            vocab_size=300, d_model=32, d_ff=64, num_layers=1, num_heads=2, d_kv=16, epochs=1, batch_size=8,
            sweep_lrs=(1e-3, 5e-3), sweep_batch_sizes=(8,), sweep_epochs=1, sweep_n_train=24, n_robust=4,
            noise_strengths=(0.5,), n_attention=1, eval_batch_size=8, gen_long_max_new_tokens=24)


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
    p = _tiny(data="xsum", data_dir=str(tmp_path / fmt), n_train=2, n_val=0, n_test=0)
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
    ex = D.encode(recs[:4], tok, p.prefix, 48, 16)
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
        return {"config": {"lr": lr, "batch_size": bs}, "meta": {"created": created}, "curves": {},
                "metrics": {"rougeL/fmeasure": f1}}
    rows = R.sweep_rows([rec(1e-3, 8, "2026-02", 0.2), rec(1e-3, 8, "2026-01", 0.1), rec(1e-3, 16, "2026-01", 0.3)])
    assert sorted((r["batch_size"], r["rougeL/fmeasure"]) for r in rows) == [(8, 0.2), (16, 0.3)]
    fin = {"config": {"gen_max_new_tokens": 20}, "metrics": {"mean_gen_tokens": {"capped": 9.0}},
           "examples": [{"generated (20 tokens)": "Same.", "generated (64 tokens)": x} for x in ("a", "b")]}
    assert R.diversity(fin).startswith("1 distinct summaries among the 2") and "same summary" in R.diversity(fin)
    fin["examples"][1]["generated (20 tokens)"] = "Other."
    assert R.diversity(fin).startswith("2 distinct") and "same summary" not in R.diversity(fin)


def test_finetune_loss_decreases_and_resumes(tmp_path):
    import torch

    from replicate.papers.t5_xsum.model import build_model
    from replicate.papers.t5_xsum.train import finetune
    from replicate.train import Checkpointer, seed_everything

    p = _tiny(epochs=3, lr=5e-3)
    sp = D.load_splits(p)
    tok = D.train_tokenizer([r["document"] for r in sp["train"]], 300)
    seed_everything(0)
    m = build_model(p, tok)
    h = finetune(m, tok, sp, p, torch.device("cpu"), "fp32", checkpoint=Checkpointer(tmp_path / "s.pt"))
    assert h["loss"][-1] < h["loss"][0] - 0.5
    assert len(h["epoch_val"]) == 3 and "rougeL/fmeasure" in h["epoch_val"][0]
    # a finished run's checkpoint resumes at its end: nothing more is trained
    m2 = build_model(p, tok)
    h2 = finetune(m2, tok, sp, p, torch.device("cpu"), "fp32", checkpoint=Checkpointer(tmp_path / "s.pt"))
    assert h2["step"] == h["step"]


def test_sweep_runner_records_and_reuse():
    from replicate.papers.t5_xsum import experiment as E

    p = _tiny()
    recs = E.run_sweep(p, "smoke")
    assert [(r["lr"], r["batch_size"]) for r in recs] == [(1e-3, 8), (5e-3, 8)]
    assert all(0 <= r["rougeL/fmeasure"] <= 1 and r["steps"] == 3 for r in recs)
    again = E.run_sweep(p, "smoke")  # re-used from the records
    assert [r["final_loss"] for r in again] == [r["final_loss"] for r in recs]


def test_experiments_end_to_end_tiny():
    from replicate.papers.t5_xsum import experiment as E
    from replicate.papers.t5_xsum import report as R

    p = _tiny()
    fin = E.run_finetune(p, "smoke")
    t3 = R.table3(fin)
    assert list(t3["paper"][:3]) == [0.274, 0.312, 0.283] and t3["ours"].notna().all()
    assert fin["metrics"]["mean_gen_tokens"]["capped"] <= p.gen_max_new_tokens
    base = E.run_baselines(p, "smoke")
    assert {"Lead-1", "Lead-3", "Random-3", "fine-tuned"} <= set(base["metrics"])
    rob = E.run_robustness(p, "smoke")
    assert [r["noise"] for r in rob["metrics"]["rows"]] == ["clean", *N.KINDS]
    att = E.run_attention(p, "smoke")
    assert len(att["examples"]) == 1 and att["metrics"]["top_words_overall"]
    assert not any(w.startswith("summar") for w, _ in att["metrics"]["top_words_overall"])


# ---------------------------------------------------------------- bench and profiles
def test_bench_quick_runs():
    from replicate.bench import measure
    from replicate.papers.t5_xsum.bench import routes

    r = measure(routes(quick=True))
    assert set(r["throughput"]) == {"seq2seq_trainer", "ours", "ours_compiled"}
    assert all(v > 0 for v in r["throughput"].values())
    c = r["check"]
    # the loss curve comes from the compiled route, reset to the shared initial weights (not recompiled)
    assert c["loss_route"] == "ours_compiled" and len(c["loss_curve_ref"]) == len(c["loss_curve_ours"]) == 8
    assert abs(c["loss_ours_first"] - c["loss_ref_first"]) < 0.5
    assert c["first_call_s"]["ours_compiled"] > c["first_call_s"]["ours"] > 0
    assert c["generation_samples_per_s"]["ours"] > 0


def test_profiles_resolve_and_bad_parameters():
    ch = chapters.get("t5_xsum")
    for name in ("smoke", "gpu", "paper"):
        ch.resolve(name)
    assert ch.resolve("paper").lr == 2e-5 and ch.resolve("paper").batch_size == 16
    assert ch.resolve("paper", {"lr": "3e-4", "batch_size": "8", "epochs": "5"}).epochs == 5
    with pytest.raises(UsageError, match="synthetic, xsum"):
        ch.resolve("smoke", {"data": "cnn"})
    with pytest.raises(UsageError, match="valid parameters"):
        ch.resolve("smoke", {"learning_rate": 1})
    with pytest.raises(UsageError):
        ch.resolve("smoke", {"noise_strengths": "1.5"})
