"""Tests of the mbert_lang chapter: profiles, loaders on real-format fixtures, metrics against independent
computations, the shift hook, language means, retrieval on toy sets, training and the bench's quick mode."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from replicate.config import UsageError
from replicate.papers.mbert_lang import data as D
from replicate.papers.mbert_lang import metrics as MT
from replicate.papers.mbert_lang import model as M
from replicate.papers.mbert_lang import train as T
from replicate.papers.mbert_lang.profiles import CHAPTER


# ------------------------------------------------------------------------------------------------ profiles
def test_profiles_resolve_and_bad_parameters_fail():
    for name in ("smoke", "gpu", "paper"):
        assert CHAPTER.resolve(name).seed == 0
    p = CHAPTER.resolve("smoke", {"shift_layer": "2", "alphas": "1,2"})
    assert p.shift_layer == 2 and p.alphas == (1.0, 2.0)
    for bad in ({"shift_layer": 9}, {"languages": "de,fr"}, {"directions": "en-xx"}, {"pos_languages": "en"},
                {"device": "tpu"}, {"nonsense": 1}, {"n_translate": 0}):
        with pytest.raises(UsageError):
            CHAPTER.resolve("smoke", bad)


# ------------------------------------------------------------------------------------------------ loaders
def test_xnli_loader_aligns_pairs(tmp_path):
    rows = [("en", "1", "The cat sat.", "A cat sits."), ("de", "1", "Die Katze saß.", "Eine Katze sitzt."),
            ("en", "2", 'He said "no".', "He refused."), ("de", "2", 'Er sagte "nein".', "Er lehnte ab."),
            ("fr", "1", "Le chat.", "Un chat.")]
    lines = ["\t".join(D.XNLI_COLUMNS)]
    for lang, pid, s1, s2 in rows:
        row = dict.fromkeys(D.XNLI_COLUMNS, "( x )")
        row.update(language=lang, sentence1=s1, sentence2=s2, pairID=pid, promptID=pid, gold_label="neutral")
        lines.append("\t".join(row[c] for c in D.XNLI_COLUMNS))
    (tmp_path / "XNLI-1.0").mkdir()
    (tmp_path / "XNLI-1.0" / "xnli.test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = D.load_xnli(tmp_path, ["en", "de"])
    assert out["en"] == ["The cat sat. A cat sits.", 'He said "no". He refused.']
    assert out["de"][1] == 'Er sagte "nein". Er lehnte ab.'
    assert D.load_xnli(tmp_path, ["en", "fr"]) == {"en": ["The cat sat. A cat sits."], "fr": ["Le chat. Un chat."]}


def test_tatoeba_loader(tmp_path):
    (tmp_path / "tatoeba.deu-eng.deu").write_text("Hallo.\nDanke!\n", encoding="utf-8")
    (tmp_path / "tatoeba.deu-eng.eng").write_text("Hello.\nThanks!\n", encoding="utf-8")
    assert D.load_tatoeba(tmp_path, "de") == (["Hallo.", "Danke!"], ["Hello.", "Thanks!"])
    with pytest.raises(D.shared_data.DataMissing):
        D.load_tatoeba(tmp_path, "fr")


def test_bucc_loader(tmp_path):
    d = tmp_path / "bucc2018" / "fr-en"
    d.mkdir(parents=True)
    (d / "fr-en.sample.fr").write_text("fr-000000001\tBonjour le monde.\nfr-000000002\tAu revoir.\n", encoding="utf-8")
    (d / "fr-en.sample.en").write_text("en-000000007\tGoodbye.\nen-000000009\tHello world.\n", encoding="utf-8")
    (d / "fr-en.sample.gold").write_text("fr-000000001\ten-000000009\n", encoding="utf-8")
    b = D.load_bucc(tmp_path, "fr", "sample")
    assert b.src["fr-000000002"] == "Au revoir." and b.en["en-000000009"] == "Hello world."
    assert b.gold == {("fr-000000001", "en-000000009")}


CONLLU = """# sent_id = 1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No
3.1\tgone\tgo\tVERB\t_\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_

# sent_id = 3
1\tMy\tmy\tPRON\tPRP$\t_\t2\tnmod:poss\t_\t_
2\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\t_
"""


def test_conllu_reader_skips_ranges_and_empty_nodes(tmp_path):
    d = tmp_path / "UD_English-Test"
    d.mkdir()
    (d / "en_test-ud-train.conllu").write_text(CONLLU, encoding="utf-8")
    sents = D.load_ud(tmp_path, "en", "train")
    assert sents == [(["Do", "n't", "go", "."], ["AUX", "PART", "VERB", "PUNCT"]), (["Yes"], ["INTJ"]),
                     (["My", "cat"], ["PRON", "NOUN"])]
    trees = D.load_ud(tmp_path, "en", "train", trees=True)
    assert trees[0] == (["Do", "n't", "go", "."], ["AUX", "PART", "VERB", "PUNCT"], [3, 3, 0, 3],
                        ["aux", "advmod", "root", "punct"])
    assert trees[2][2:] == ([2, 0], ["nmod", "root"])  # the subtype is cut off, as CoNLL 2018's LAS does
    with pytest.raises(D.shared_data.DataMissing):
        D.load_ud(tmp_path, "de", "test")


def test_generated_data_goes_through_the_real_loaders(tmp_path):
    langs = ("en", "de", "zh")
    D.write_generated(tmp_path, langs, 40, 0, 50, 0.2, n_xnli=20, n_tatoeba=30, tatoeba_languages=("de",),
                      bucc_languages=("zh",), pos_languages=("de",), n_bucc=30, n_ud_train=10, n_ud_test=5)
    x = D.load_xnli(tmp_path, langs)
    assert all(len(v) == 20 for v in x.values())
    xs, ys = D.load_tatoeba(tmp_path, "de")
    assert len(xs) == len(ys) == 30
    b = D.load_bucc(tmp_path, "zh", "training")
    assert len(b.src) == len(b.en) == 30 and len(b.gold) == 10
    assert all(a in b.src and e in b.en for a, e in b.gold)
    ud = D.load_ud(tmp_path, "de", "test")
    assert len(ud) == 5 and all(len(w) == len(t) for w, t in ud)
    assert len(D.load_text(tmp_path / "wiki", "zh")) == 50


# ------------------------------------------------------------------------------------------------ metrics
def test_bleu1_matches_nltk():
    from nltk.translate.bleu_score import corpus_bleu

    hyp = [["the", "the", "cat", "sat"], ["a", "dog", "runs", "fast", "now"]]
    ref = [["the", "cat", "sat", "down"], ["the", "dog", "runs", "fast", "today", "ok"]]
    nltk = 100 * corpus_bleu([[r] for r in ref], hyp, weights=(1.0,))
    # by hand: clipped matches 3 + 3 = 6 of 9; brevity penalty exp(1 - 10/9)
    hand = 100 * 6 / 9 * math.exp(1 - 10 / 9)
    assert MT.bleu1(hyp, ref) == pytest.approx(nltk, abs=1e-6)
    assert MT.bleu1(hyp, ref) == pytest.approx(hand, abs=1e-6)


def test_convert_rate_formula():
    V_s, V_t = {"a", "b", "x"}, {"c", "d", "x"}
    out = [["a", "c", "x", "x"], ["d", "zz", "b"]]
    # shared token x excluded: outputs a c d zz b -> target-only c, d -> 2 / 5
    assert MT.convert_rate(out, V_s, V_t) == pytest.approx(40.0)
    assert math.isnan(MT.convert_rate([["x"]], V_s, V_t))


def test_retrieval_on_a_toy_set_with_known_answers():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 16, generator=g)
    perm = torch.randperm(50, generator=g)
    y = x[perm] + 0.01 * torch.randn(50, 16, generator=g)
    inv = torch.argsort(perm)
    assert MT.top1_accuracy(x, y[inv]) == 100.0
    j, s = MT.margin_candidates(x, y, k=3, chunk=7)
    assert torch.equal(j, inv)
    assert MT.top1_accuracy(x, torch.roll(y[inv], 1, 0)) == 0.0
    # the language shift: x lives around R_x, y around R_y; MDS and Zero-mean remove the offset
    R_x, R_y = torch.full((16,), 5.0), torch.full((16,), -5.0)
    a, b = MT.shifted(x + R_x, x + R_y, R_x, R_y, "MDS")
    assert torch.allclose(a, b, atol=1e-5)
    a, b = MT.shifted(x + R_x, x + R_y, R_x, R_y, "Zero-mean")
    assert torch.allclose(a, x, atol=1e-5) and torch.allclose(b, x, atol=1e-5)


def test_best_threshold_and_f1():
    pairs = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]
    scores = [0.9, 0.8, 0.7, 0.6]
    gold = {("a", "1"), ("c", "3"), ("e", "5")}
    thr, f = MT.best_threshold(pairs, scores, gold)
    # keeping 3 pairs: P = 2/3, R = 2/3 -> F1 2/3 (the best; 1 pair gives 1/2)
    assert thr == pytest.approx(0.7) and f == pytest.approx(200 / 3)
    assert MT.f1_at(pairs, scores, gold, thr) == pytest.approx(f)


# ------------------------------------------------------------------------------------------------ model
@pytest.fixture(scope="module")
def tiny():
    texts = ["ab cd ef .", "gh ij kl .", "ab ij ef gh .", "中文 字 ."] * 5
    tok = M.train_tokenizer(texts, 60)
    torch.manual_seed(0)
    mlm = M.small_bert(len(tok), 32, 3, 2, 16).eval()
    return tok, mlm, texts


def test_shift_hook(tiny):
    tok, mlm, texts = tiny
    enc = tok(texts[:3], padding=True, return_tensors="pt")
    layers = [M.encoder_of(mlm).embeddings, *M.encoder_of(mlm).encoder.layer]

    def run(layer, vec):
        caught = []
        with M.shift(mlm, layer, vec):
            hs = [m.register_forward_hook(lambda _m, _i, o: caught.append((o[0] if isinstance(o, tuple) else o).clone()))
                  for m in layers]
            logits = mlm(**enc).logits
            for h in hs:
                h.remove()
        return caught, logits

    base, logits0 = run(0, None)
    same, logits_zero = run(2, torch.zeros(32))
    assert torch.allclose(logits0, logits_zero)
    v = torch.randn(32)
    shifted, logits_v = run(2, v)
    for l in (0, 1):
        assert torch.allclose(shifted[l], base[l])
    assert torch.allclose(shifted[2], base[2] + v, atol=1e-5)
    assert not torch.allclose(shifted[3], base[3])
    assert not torch.allclose(logits_v, logits0)


def test_language_means_against_direct_computation(tiny):
    tok, mlm, texts = tiny
    enc = tok(texts[:6], padding=True, return_tensors="pt")
    with torch.no_grad():
        hs = mlm.bert(**enc, output_hidden_states=True).hidden_states
    keep = enc["attention_mask"].bool()
    # one batch, and small token budgets that split the six sentences into several length-sorted batches
    for budget in (None, 40, 1):
        R = M.language_means(mlm, tok, texts[:6], torch.device("cpu"), max_tokens=10**6, batch_size=4,
                             token_budget=budget)
        assert R.shape == (4, 32)
        for l in range(4):
            assert torch.allclose(R[l], hs[l][keep].mean(0), atol=1e-5)
    # max_tokens keeps the corpus's first sentences (whole ones) until the count is reached
    n0 = int(keep[0].sum())
    R1 = M.language_means(mlm, tok, texts[:6], torch.device("cpu"), max_tokens=n0)
    assert torch.allclose(R1[2], hs[2][0][keep[0]].mean(0), atol=1e-5)


def test_token_budget_batches():
    lengths = [5, 30, 7, 30, 12, 3, 3, 50]
    batches = M.token_budget_batches(lengths, token_budget=60)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 60
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)
    assert len(M.token_budget_batches(lengths, 10**6, max_batch=3)) == 3


def test_decode_and_embeddings_shapes(tiny):
    tok, mlm, texts = tiny
    out = M.decode(mlm, tok, texts[:3], torch.device("cpu"), 1, None)
    assert [len(o) for o in out] == [len(t) for t in M.tokens(tok, texts[:3])]
    e, n = M.sentence_embeddings(mlm, tok, texts[:5], torch.device("cpu"), 2)
    assert e.shape == (5, 32) and n.tolist() == [len(t) + 2 for t in M.tokens(tok, texts[:5])]


def test_mlm_loss_decreases(tiny):
    tok, _, texts = tiny
    torch.manual_seed(0)
    mlm = M.small_bert(len(tok), 32, 2, 2, 16)
    losses = T.pretrain_mlm(mlm, tok, texts * 4, torch.device("cpu"), steps=60, batch_size=16, lr=3e-3,
                            max_len=16, seed=0)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.5


def test_pos_labels_on_first_pieces(tiny):
    tok, _, _ = tiny
    ids, labels = T.encode_tagged(tok, [(["ab", "中文"], ["NOUN", "VERB"])], 16)
    lab = labels[0]
    assert lab[0] == -100 and lab[-1] == -100  # [CLS], [SEP]
    tagged = [x for x in lab if x != -100]
    assert tagged == [T.UPOS.index("NOUN"), T.UPOS.index("VERB")]


# ------------------------------------------------------------------------------------------------ bench
def test_bench_quick_runs():
    from replicate.papers.mbert_lang import bench

    b = bench.routes(quick=True)
    assert b.reference == "fp32_padded" and set(b.routes) >= {"fp32_padded", "ours"}
    ref, fast = b.routes["fp32_padded"](), b.routes["ours"]()
    assert torch.allclose(ref, fast, atol=1e-4)
    c = b.check()
    assert c["means_max_rel_diff_vs_fp32"] < 1e-3 and c["margin_mining_s"] > 0


# ------------------------------------------------------------------------------------------------ dependency parsing
def test_generated_trees_are_trees_with_ud_relations(tmp_path):
    D.write_generated(tmp_path, ("en", "de", "hi"), 40, 0, 20, 0.2, n_xnli=5, n_tatoeba=5, tatoeba_languages=("de",),
                      bucc_languages=("de",), pos_languages=("de", "hi"), n_bucc=6, n_ud_train=30, n_ud_test=10)
    for lang, split in (("en", "train"), ("de", "test"), ("hi", "test")):
        for words, tags, heads, rels in D.load_ud(tmp_path, lang, split, trees=True):
            assert heads.count(0) == 1 and tags[heads.index(0)] == "VERB" and rels[heads.index(0)] == "root"
            assert set(rels) <= set(T.UD_RELS) and all(0 <= h <= len(words) for h in heads)
            for i in range(len(words)):  # every word reaches the root without a cycle
                j, steps = i + 1, 0
                while j:
                    j, steps = heads[j - 1], steps + 1
                    assert steps <= len(words)
            for t, h, r in zip(tags, heads, rels):
                if r in ("det", "amod", "nummod"):
                    assert tags[h - 1] == "NOUN"
                if r in ("nsubj", "obj"):
                    assert tags[h - 1] == "VERB"


class _Oracle(torch.nn.Module):
    """Returns arc and relation scores that pick given heads and relations: tests the scoring, not a parser."""

    def __init__(self, heads, rels, n_rels):
        super().__init__()
        self.heads, self.rels, self.n_rels = heads, rels, n_rels

    def forward(self, ids, mask, first, heads=None):
        B, W = first.shape
        arc = torch.zeros(B, W, W + 1)
        rel = torch.zeros(B, W, self.n_rels)
        for b in range(B):
            for i, (h, r) in enumerate(zip(self.heads[b], self.rels[b])):
                arc[b, i, h] = 1.0
                rel[b, i, r] = 1.0
        return arc, rel


def test_attachment_scores_count_heads_and_labels(tiny):
    tok, _, _ = tiny
    sents = [(["ab", "cd", "."], ["NOUN", "VERB", "PUNCT"], [2, 0, 2], ["nsubj", "root", "punct"]),
             (["gh", "ij"], ["NOUN", "VERB"], [2, 0], ["nsubj", "root"])]
    R = T.UD_RELS.index
    # sentence 1: all heads right, one label wrong; sentence 2: one head wrong (its label then does not count)
    oracle = _Oracle([[2, 0, 2], [0, 0]], [[R("nsubj"), R("root"), R("obj")], [R("nsubj"), R("root")]],
                     len(T.UD_RELS))
    uas, las = T.attachment_scores(oracle, tok, sents, T.UD_RELS, torch.device("cpu"), 0, None, max_len=16)
    assert uas == pytest.approx(100 * 4 / 5) and las == pytest.approx(100 * 3 / 5)
    ex = T.encode_trees(tok, sents, T.UD_RELS, max_len=16)
    assert ex[0][1][0] == 1 and ex[0][2] == [2, 0, 2] and ex[0][3] == [R("nsubj"), R("root"), R("punct")]


def test_parser_learns_english_trees(tiny):
    tok, mlm, _ = tiny
    sents = [(["ab", "cd", "ef", "."], ["NOUN", "VERB", "NOUN", "PUNCT"], [2, 0, 2, 2], ["nsubj", "root", "obj", "punct"]),
             (["gh", "ij", "."], ["NOUN", "VERB", "PUNCT"], [2, 0, 2], ["nsubj", "root", "punct"])] * 4
    torch.manual_seed(0)
    parser = T.BiaffineParser(copy.deepcopy(M.encoder_of(mlm)), len(T.UD_RELS), arc_dim=32, rel_dim=16, dropout=0.0)
    before = T.attachment_scores(parser, tok, sents, T.UD_RELS, torch.device("cpu"), 3, None, max_len=16)
    losses = T.finetune_parser(parser, tok, sents, T.UD_RELS, torch.device("cpu"), epochs=30, lr=3e-3, batch_size=8,
                               max_len=16, seed=0, layer=3, vector=None)
    uas, las = T.attachment_scores(parser, tok, sents, T.UD_RELS, torch.device("cpu"), 3, None, max_len=16)
    assert losses[-1] < 0.2 * losses[0] and uas == 100.0 and las == 100.0 and before[1] < 100.0
