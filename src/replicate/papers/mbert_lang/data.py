"""Data of the mbert_lang chapter: real loaders (XNLI, Tatoeba, BUCC 2018, UD v2.5 CoNLL-U, plain-text corpora)
and a generator of parallel "languages" that writes its data sets in exactly those file formats, so that the
``smoke`` and ``gpu`` profiles go through the same loaders as the ``paper`` profile.

Generated languages share one meaning (concepts with a part of speech, a small grammar with verb-object
preferences) and differ in their word forms (per-language syllables and scripts), some word orders
(adjective after noun, verb-final) and in which anchors they share (digits, proper names, the full stop).
"""
from __future__ import annotations

import csv
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

from replicate import data as shared_data

# ----------------------------------------------------------------------------------------------------------------
# Real formats
# ----------------------------------------------------------------------------------------------------------------

#: ISO 639-1 (the paper's tables) -> the three-letter codes of the LASER Tatoeba files.
TATOEBA_CODE = {"de": "deu", "es": "spa", "ar": "ara", "el": "ell", "fr": "fra", "hi": "hin", "ru": "rus",
                "vi": "vie", "th": "tha", "tr": "tur", "zh": "cmn", "ur": "urd", "sw": "swh", "bg": "bul", "en": "eng",
                "kk": "kaz", "ga": "gle", "hsb": "hsb", "kmr": "kur"}

#: English names of the languages the chapter's tables and figures use (ISO 639 codes; UD's for Table 5).
LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "el": "Greek", "zh": "Chinese",
                  "ur": "Urdu", "sw": "Swahili", "ar": "Arabic", "hi": "Hindi", "ru": "Russian", "vi": "Vietnamese",
                  "th": "Thai", "tr": "Turkish", "bg": "Bulgarian", "bxr": "Buryat", "kmr": "Kurmanji",
                  "hsb": "Upper Sorbian", "kk": "Kazakh", "ga": "Irish", "sme": "North Sami"}

#: The folders of the ``real`` data set (data/manifests/mbert_lang.yaml: ``mbert-real``), one per source.
REAL_PARTS = {"tatoeba": "tatoeba", "ud": "ud-r2.5", "ud_parse": "ud-r2.2-conll2018", "bucc": "bucc2018"}

#: The columns of XNLI-1.0's xnli.{dev,test}.tsv (one header row, tab separated, no quoting).
XNLI_COLUMNS = ("language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
                "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2",
                "label3", "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match")


def _find(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in Path(root).rglob(pattern) if p.is_file())


def load_xnli(path: str | Path, languages: list[str] | tuple[str, ...], split: str = "test") -> dict[str, list[str]]:
    """XNLI-1.0 ``xnli.{split}.tsv`` -> {language: [sentence1 + " " + sentence2, ...]} aligned by pairID.

    ``path`` is the tsv itself or a folder holding it (e.g. the unpacked XNLI-1.0.zip). Rows are parallel across
    languages through ``pairID``; only pairs present in every requested language are kept, in pairID order."""
    p = Path(path)
    if p.is_dir():
        found = _find(p, f"xnli.{split}.tsv")
        if not found:
            raise shared_data.DataMissing(f"no xnli.{split}.tsv under {p}")
        p = found[0]
    by_lang: dict[str, dict[str, str]] = {lang: {} for lang in languages}
    with open(p, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"language", "sentence1", "sentence2", "pairID"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{p} is not an XNLI tsv (missing columns {sorted(missing)})")
        for row in reader:
            lang = row["language"]
            if lang in by_lang:
                by_lang[lang][row["pairID"]] = f"{row['sentence1'].strip()} {row['sentence2'].strip()}"
    common = set.intersection(*(set(v) for v in by_lang.values())) if by_lang else set()
    order = sorted(common, key=lambda k: (len(k), k))
    return {lang: [by_lang[lang][k] for k in order] for lang in languages}


def load_tatoeba(folder: str | Path, lang: str) -> tuple[list[str], list[str]]:
    """LASER Tatoeba ``tatoeba.{xxx}-eng.{xxx}`` and ``tatoeba.{xxx}-eng.eng``: line i of one translates line i of
    the other. Returns (sentences in ``lang``, English sentences)."""
    code = TATOEBA_CODE[lang]
    src = _find(Path(folder), f"tatoeba.{code}-eng.{code}")
    eng = _find(Path(folder), f"tatoeba.{code}-eng.eng")
    if not src or not eng:
        raise shared_data.DataMissing(f"Tatoeba files tatoeba.{code}-eng.{code}/.eng are not under {folder}")
    xs = src[0].read_text(encoding="utf-8").rstrip("\n").split("\n")
    ys = eng[0].read_text(encoding="utf-8").rstrip("\n").split("\n")
    if len(xs) != len(ys):
        raise ValueError(f"Tatoeba {lang}: {len(xs)} vs {len(ys)} lines; the files must be line-aligned")
    return xs, ys


@dataclass
class Bucc:
    """One BUCC 2018 split: sentences by id on both sides and the gold (source id, English id) pairs."""

    src: dict[str, str]
    en: dict[str, str]
    gold: set[tuple[str, str]]


def _read_id_tsv(path: Path) -> dict[str, str]:
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            i, s = line.split("\t", 1)
            out[i] = s
    return out


def load_bucc(folder: str | Path, lang: str, split: str) -> Bucc:
    """BUCC 2018 ``{lang}-en.{split}.{lang}``, ``.en`` (``id<TAB>sentence``) and ``.gold`` (``src_id<TAB>en_id``).

    As in XTREME, split "sample" serves as dev (threshold tuning) and "training" as test."""
    base = f"{lang}-en.{split}"
    paths = {ext: _find(Path(folder), f"{base}.{ext}") for ext in (lang, "en", "gold")}
    if not all(paths.values()):
        raise shared_data.DataMissing(f"BUCC files {base}.{{{lang},en,gold}} are not under {folder}")
    gold = set()
    for line in paths["gold"][0].read_text(encoding="utf-8").splitlines():
        if line.strip():
            a, b = line.split("\t")[:2]
            gold.add((a.strip(), b.strip()))
    return Bucc(_read_id_tsv(paths[lang][0]), _read_id_tsv(paths["en"][0]), gold)


def read_conllu(path: str | Path, trees: bool = False) -> list[tuple]:
    """Sentences of a CoNLL-U file as (FORM list, UPOS list), or with ``trees`` as (FORM, UPOS, HEAD, DEPREL)
    lists (HEAD as int, 0 = root; DEPREL without its subtype, ``nmod:poss`` -> ``nmod``, as CoNLL 2018's LAS
    scores it). Multiword-token ranges and empty nodes are skipped (word ids, and so heads, are unaffected)."""
    sents, cur = [], ([], [], [], [])
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if cur[0]:
                    sents.append(cur if trees else cur[:2])
                cur = ([], [], [], [])
                continue
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise ValueError(f"{path}: a CoNLL-U line needs 10 tab-separated columns, got {len(cols)}: {line!r}")
            if "-" in cols[0] or "." in cols[0]:
                continue
            cur[0].append(cols[1])
            cur[1].append(cols[3])
            if trees:
                try:
                    cur[2].append(int(cols[6]))
                except ValueError:
                    raise ValueError(f"{path}: HEAD must be a word id, got {cols[6]!r}: {line!r}") from None
                cur[3].append(cols[7].split(":")[0])
    if cur[0]:
        sents.append(cur if trees else cur[:2])
    return sents


def load_ud(folder: str | Path, lang: str, split: str, trees: bool = False) -> list[tuple]:
    """All UD treebanks of ``lang`` (v2.5 for POS; CoNLL 2018's v2.2 files for parsing have the same names):
    ``UD_*/{lang}_*-ud-{split}.conllu`` concatenated; ``trees`` adds heads and relations (``read_conllu``)."""
    files = _find(Path(folder), f"{lang}_*-ud-{split}.conllu")
    if not files:
        raise shared_data.DataMissing(f"no {lang}_*-ud-{split}.conllu under {folder}")
    return [s for p in files for s in read_conllu(p, trees)]


def load_text(folder: str | Path, lang: str) -> list[str]:
    """A plain-text corpus ``wiki/{lang}.txt`` (one sentence or paragraph per line) for the language means."""
    files = _find(Path(folder), f"{lang}.txt")
    if not files:
        raise shared_data.DataMissing(f"no {lang}.txt under {folder} (Wikipedia text, one sentence per line)")
    return [s for s in files[0].read_text(encoding="utf-8").splitlines() if s.strip()]


def tatoeba_codes(folder: str | Path) -> list[str]:
    """The three-letter codes of every ``tatoeba.xxx-eng.xxx`` file under ``folder`` (112 in LASER's v1)."""
    return sorted({p.name.split(".")[1].split("-")[0] for p in _find(Path(folder), "tatoeba.*-eng.*")
                   if not p.name.endswith(".eng")})


def load_tatoeba_code(folder: str | Path, code: str) -> tuple[list[str], list[str]]:
    """``load_tatoeba`` by the files' own three-letter code (every language of the set, not only the paper's)."""
    inv = {v: k for k, v in TATOEBA_CODE.items()}
    if code in inv:
        return load_tatoeba(folder, inv[code])
    TATOEBA_CODE.setdefault(f"_{code}", code)
    try:
        return load_tatoeba(folder, f"_{code}")
    finally:
        TATOEBA_CODE.pop(f"_{code}", None)


def ud_texts(folder: str | Path, lang: str) -> list[str]:
    """The ``# text =`` lines of every UD file of ``lang`` under ``folder`` (all splits): raw sentences."""
    out = []
    for p in _find(Path(folder), f"{lang}_*-ud-*.conllu"):
        with open(p, encoding="utf-8") as f:
            out += [line[len("# text = "):].strip() for line in f if line.startswith("# text = ")]
    return out


def real_text(root: str | Path, lang: str) -> list[str]:
    """Monolingual text of ``lang`` for the language means of the ``real`` data set (no Wikipedia here): its
    Tatoeba sentences (English: the English sides of the paper's Tatoeba pairs) and the raw sentences of its UD
    treebanks (POS release r2.5 and the CoNLL 2018 files). Labels are never read. Raises DataMissing when the
    language has neither."""
    root = Path(root)
    out: list[str] = []
    code = TATOEBA_CODE.get(lang)
    tat = root / REAL_PARTS["tatoeba"]
    if lang == "en":
        for x in ("de", "fr", "es", "ru", "zh"):
            try:
                out += load_tatoeba(tat, x)[1]
            except shared_data.DataMissing:
                pass
    elif code:
        try:
            out += load_tatoeba(tat, lang)[0]
        except shared_data.DataMissing:
            pass
    for part in ("ud", "ud_parse"):
        if (root / REAL_PARTS[part]).is_dir():
            out += ud_texts(root / REAL_PARTS[part], lang)
    if not out:
        raise shared_data.DataMissing(f"no text of language {lang!r} under {root} (neither Tatoeba nor UD has it)")
    return out


def real_root(data_dir: str | None, name: str) -> Path:
    """The folder of real data set ``name`` (see data/manifests/mbert_lang.yaml): ``data_dir`` wins, else the cache."""
    if data_dir:
        p = Path(data_dir).expanduser()
        if not p.is_dir():
            raise shared_data.DataMissing(f"data_dir {p} does not exist")
        return p
    return shared_data.require(name)


# ----------------------------------------------------------------------------------------------------------------
# Generated languages
# ----------------------------------------------------------------------------------------------------------------

_LATIN_C = list("bcdfghjklmnprstvwz")
_LATIN_V = list("aeiou")
SCRIPTS = {  # consonants, vowels (a word is 1-3 consonant+vowel syllables); zh: one or two characters
    "en": (_LATIN_C, _LATIN_V), "de": (_LATIN_C + ["sch", "ch"], _LATIN_V + ["ä", "ü", "ei"]),
    "fr": (_LATIN_C + ["qu"], _LATIN_V + ["é", "ou", "eau"]), "es": (_LATIN_C + ["ñ", "ll"], _LATIN_V + ["á", "ó"]),
    "sw": (_LATIN_C + ["mb", "ng"], _LATIN_V), "tr": (_LATIN_C + ["ş", "ç"], _LATIN_V + ["ı", "ö"]),
    "vi": (_LATIN_C + ["đ", "ng"], ["a", "ư", "ơ", "ạ", "ê", "ô"]),
    "el": (list("βγδζθκλμνξπρστφχψ"), list("αεηιουω")), "ru": (list("бвгджзклмнпрстфхцчш"), list("аеиоуыя")),
    "bg": (list("бвгджзклмнпрстфхцчшщ"), list("аеиоуъя")), "ar": (list("بتثجحخدذرزسشصضطظعغفقكلمنهو"), list("اوي")),
    "ur": (list("پٹچڈڑژکگںھےبتجدرسشلمن"), list("اوی")), "hi": (list("कखगघचछजझटठडढतथदधनपफबभमयरलवशसह"), list("ािीुूेो")),
    "th": (list("กขคงจฉชซญดตถทธนบปผพฟมยรลวสหอฮ"), list("ะาิีึืุูเแโ")),
    "zh": ([chr(c) for c in range(0x4E00, 0x4E00 + 400)], [""]),
}
#: Word-order features of the generated languages (shared meaning, different surface order).
ADJ_AFTER = {"fr", "es", "ar", "vi", "th", "sw", "ur"}
VERB_FINAL = {"hi", "ur", "tr"}
#: Share of the vocabulary by part of speech (of n_concepts); NUM, PROPN and PUNCT are shared anchors.
POS_SHARE = {"NOUN": 0.35, "VERB": 0.18, "ADJ": 0.14, "ADV": 0.06, "DET": 0.04, "ADP": 0.06, "PRON": 0.06,
             "CCONJ": 0.03}
ANCHORS = {"NUM": ["1", "2", "3", "7", "10", "12"], "PROPN": ["Anna", "Marco", "Tokyo", "Lima", "Oslo", "Nairobi"],
           "PUNCT": ["."]}


def _rng(seed: int, *keys) -> random.Random:
    return random.Random(zlib.crc32(repr((seed, *keys)).encode()))


class Languages:
    """Parallel generated languages: ``sentence(rng)`` draws a meaning, ``realize(meaning, lang)`` writes it."""

    def __init__(self, languages: tuple[str, ...], n_concepts: int, seed: int):
        self.languages = tuple(languages)
        r = _rng(seed, "concepts")
        self.concepts: dict[str, list[str]] = {}
        for pos, share in POS_SHARE.items():
            self.concepts[pos] = [f"{pos}{i}" for i in range(max(2, round(share * n_concepts)))]
        for pos, forms in ANCHORS.items():
            self.concepts[pos] = [f"{pos}{i}" for i in range(len(forms))]
        self.pos_of = {c: pos for pos, cs in self.concepts.items() for c in cs}
        nouns = self.concepts["NOUN"]
        # meaning structure: each verb takes objects from a preferred subset; each adjective suits some nouns
        self.objects = {v: r.sample(nouns, max(2, len(nouns) // 4)) for v in self.concepts["VERB"]}
        self.adj_for = {n: r.sample(self.concepts["ADJ"], max(2, len(self.concepts["ADJ"]) // 3)) for n in nouns}
        self.lexicon = {lang: self._lexicon(lang, seed) for lang in self.languages}

    def _lexicon(self, lang: str, seed: int) -> dict[str, str]:
        r = _rng(seed, "lexicon", lang)
        cons, vows = SCRIPTS[lang]
        used, lex = set(), {}
        for pos, cs in self.concepts.items():
            for i, c in enumerate(cs):
                if pos in ANCHORS:
                    lex[c] = ANCHORS[pos][i]
                    continue
                while True:
                    n_syl = r.choice((1, 2)) if lang == "zh" else r.choice((1, 2, 2, 3))
                    w = "".join(r.choice(cons) + r.choice(vows) for _ in range(n_syl))
                    if w not in used:
                        used.add(w)
                        lex[c] = w
                        break
        return lex

    # a meaning is a list of clauses; a clause is a dict of slots holding lists of concepts
    def _np(self, r: random.Random, noun: str | None = None) -> list[str]:
        kind = r.random()
        if noun is None and kind < 0.15:
            return [r.choice(self.concepts["PRON"])]
        if noun is None and kind < 0.3:
            return [r.choice(self.concepts["PROPN"])]
        noun = noun or r.choice(self.concepts["NOUN"])
        out = [r.choice(self.concepts["NUM"]) if r.random() < 0.15 else r.choice(self.concepts["DET"])]
        if r.random() < 0.5:
            out.append(r.choice(self.adj_for[noun]))
        return out + [noun]

    def sentence(self, r: random.Random) -> list[dict]:
        clauses = []
        for _ in range(1 if r.random() < 0.7 else 2):
            verb = r.choice(self.concepts["VERB"])
            clause = {"subj": self._np(r), "verb": [verb], "obj": self._np(r, r.choice(self.objects[verb])),
                      "adp": [r.choice(self.concepts["ADP"])] if r.random() < 0.3 else [],
                      "adv": [r.choice(self.concepts["ADV"])] if r.random() < 0.25 else []}
            clauses.append(clause)
        return clauses

    def realize(self, meaning: list[dict], lang: str, mix: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
        """Words and UPOS tags of ``meaning`` in ``lang``; ``mix`` maps some concepts to another language's form
        (code-switching)."""
        words, tags, _, _ = self.realize_tree(meaning, lang, mix)
        return words, tags

    def realize_tree(self, meaning: list[dict], lang: str, mix: dict[str, str] | None = None):
        """(words, UPOS, heads, relations) of ``meaning`` in ``lang``: a UD-style tree (heads are 1-based word
        ids, 0 = root). Each clause's verb heads its subject (nsubj), object (obj) and adverb (advmod); a noun
        heads its determiner or numeral (det / nummod), adjective (amod) and adposition (case); a second clause's
        verb is a conj of the first, with the conjunction as its cc; the final punctuation hangs on the root."""
        items: list[tuple[str, str, str | None, str]] = []  # (concept, id, head id, relation), in word order
        for k, cl in enumerate(meaning):
            verb = (cl["verb"][0], f"v{k}", None if k == 0 else "v0", "root" if k == 0 else "conj")

            def np(x, role):
                head = (x[-1], f"{role}{k}", f"v{k}", "nsubj" if role == "s" else "obj")
                if len(x) == 1:
                    return [head]
                first = self.pos_of[x[0]]
                det = (x[0], f"{role}{k}d", f"{role}{k}", "nummod" if first == "NUM" else "det")
                if len(x) == 2:
                    return [det, head]
                adj = (x[1], f"{role}{k}a", f"{role}{k}", "amod")
                return [det, head, adj] if lang in ADJ_AFTER else [det, adj, head]

            adp = [(c, f"p{k}", f"o{k}", "case") for c in cl["adp"]]
            adv = [(c, f"r{k}", f"v{k}", "advmod") for c in cl["adv"]]
            obj = (np(cl["obj"], "o") + adp) if lang in VERB_FINAL else (adp + np(cl["obj"], "o"))
            if k:
                items.append((self.concepts["CCONJ"][0], f"c{k}", f"v{k}", "cc"))
            if lang in VERB_FINAL:
                items += np(cl["subj"], "s") + adv + obj + [verb]
            else:
                items += np(cl["subj"], "s") + [verb] + obj + adv
        items.append((self.concepts["PUNCT"][0], "punct", "v0", "punct"))
        position = {i: n for n, (_, i, _, _) in enumerate(items, 1)}
        lex = self.lexicon[lang]
        words = [(mix or {}).get(c) or lex[c] for c, _, _, _ in items]
        tags = [self.pos_of[c] for c, _, _, _ in items]
        heads = [0 if h is None else position[h] for _, _, h, _ in items]
        return words, tags, heads, [r for _, _, _, r in items]

    def code_switched(self, meaning: list[dict], lang: str, r: random.Random, p: float = 0.3) -> list[str]:
        other = r.choice([x for x in self.languages if x != lang] or [lang])
        mix = {c: self.lexicon[other][c] for cl in meaning for slot in cl.values() for c in slot if r.random() < p}
        return self.realize(meaning, lang, mix)[0]


def write_generated(root: str | Path, languages: tuple[str, ...], n_concepts: int, seed: int,
                    sentences_per_language: int, code_switch: float, n_xnli: int, n_tatoeba: int,
                    tatoeba_languages, bucc_languages, pos_languages, n_bucc: int = 300, n_ud_train: int = 1000,
                    n_ud_test: int = 200) -> Path:
    """Write the generated data sets under ``root`` in the real formats; return ``root``.

    wiki/{lang}.txt (monolingual text, a share code-switched), XNLI-1.0/xnli.test.tsv, tatoeba/, bucc2018/,
    ud-treebanks-v2.5/UD_*/{lang}_gen-ud-{train,test}.conllu."""
    root = Path(root)
    G = Languages(languages, n_concepts, seed)
    join = " ".join
    # monolingual "Wikipedia" text for MLM training and language means
    (root / "wiki").mkdir(parents=True, exist_ok=True)
    for lang in languages:
        r = _rng(seed, "wiki", lang)
        lines = []
        for _ in range(sentences_per_language):
            m = G.sentence(r)
            lines.append(join(G.code_switched(m, lang, r) if r.random() < code_switch else G.realize(m, lang)[0]))
        (root / "wiki" / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # XNLI test: parallel sentence pairs in every language
    r = _rng(seed, "xnli")
    pairs = [(G.sentence(r), G.sentence(r)) for _ in range(n_xnli)]
    (root / "XNLI-1.0").mkdir(exist_ok=True)
    with open(root / "XNLI-1.0" / "xnli.test.tsv", "w", encoding="utf-8") as f:
        f.write("\t".join(XNLI_COLUMNS) + "\n")
        for lang in languages:
            for i, (a, b) in enumerate(pairs):
                s1, s2 = join(G.realize(a, lang)[0]), join(G.realize(b, lang)[0])
                row = dict.fromkeys(XNLI_COLUMNS, "_")
                row.update(language=lang, gold_label="neutral", sentence1=s1, sentence2=s2, promptID=str(i),
                           pairID=str(i + 1), genre="generated", sentence1_tokenized=s1, sentence2_tokenized=s2,
                           match="True")
                f.write("\t".join(row[c] for c in XNLI_COLUMNS) + "\n")
    # Tatoeba: line-aligned pairs
    (root / "tatoeba").mkdir(exist_ok=True)
    for lang in tatoeba_languages:
        r = _rng(seed, "tatoeba", lang)
        ms = [G.sentence(r) for _ in range(n_tatoeba)]
        code = TATOEBA_CODE[lang]
        (root / "tatoeba" / f"tatoeba.{code}-eng.{code}").write_text(
            "\n".join(join(G.realize(m, lang)[0]) for m in ms) + "\n", encoding="utf-8")
        (root / "tatoeba" / f"tatoeba.{code}-eng.eng").write_text(
            "\n".join(join(G.realize(m, "en")[0]) for m in ms) + "\n", encoding="utf-8")
    # BUCC: comparable corpora, a third of the source sentences have a translation among the English ones
    for lang in bucc_languages:
        for split in ("sample", "training"):
            r = _rng(seed, "bucc", lang, split)
            d = root / "bucc2018" / f"{lang}-en"
            d.mkdir(parents=True, exist_ok=True)
            n_par = n_bucc // 3
            par = [G.sentence(r) for _ in range(n_par)]
            src = par + [G.sentence(r) for _ in range(n_bucc - n_par)]
            en = par + [G.sentence(r) for _ in range(n_bucc - n_par)]
            src_ids = [f"{lang}-{i:09d}" for i in r.sample(range(1, 10 * n_bucc), n_bucc)]
            en_ids = [f"en-{i:09d}" for i in r.sample(range(1, 10 * n_bucc), n_bucc)]
            src_order, en_order = list(range(n_bucc)), list(range(n_bucc))
            r.shuffle(src_order)
            r.shuffle(en_order)
            with open(d / f"{lang}-en.{split}.{lang}", "w", encoding="utf-8") as f:
                for i in src_order:
                    f.write(f"{src_ids[i]}\t{join(G.realize(src[i], lang)[0])}\n")
            with open(d / f"{lang}-en.{split}.en", "w", encoding="utf-8") as f:
                for i in en_order:
                    f.write(f"{en_ids[i]}\t{join(G.realize(en[i], 'en')[0])}\n")
            with open(d / f"{lang}-en.{split}.gold", "w", encoding="utf-8") as f:
                for i in range(n_par):
                    f.write(f"{src_ids[i]}\t{en_ids[i]}\n")
    # UD: English train, other languages test
    for lang, split, n in [("en", "train", n_ud_train), ("en", "test", n_ud_test)] + [
            (x, "test", n_ud_test) for x in pos_languages]:
        r = _rng(seed, "ud", lang, split)
        d = root / "ud-treebanks-v2.5" / f"UD_Generated-{lang.upper()}"
        d.mkdir(parents=True, exist_ok=True)
        with open(d / f"{lang}_gen-ud-{split}.conllu", "w", encoding="utf-8") as f:
            for i in range(n):
                words, tags, heads, rels = G.realize_tree(G.sentence(r), lang)
                f.write(f"# sent_id = {lang}-{split}-{i}\n# text = {join(words)}\n")
                for j, (w, t, head, rel) in enumerate(zip(words, tags, heads, rels), 1):
                    f.write(f"{j}\t{w}\t{w}\t{t}\t_\t_\t{head}\t{rel}\t_\t_\n")
                f.write("\n")
    return root


def build_real(source, folder: Path) -> dict:
    """Builder of ``mbert-real``: copy the real test sets from ``options.from`` (relative to the project root, or
    absolute), BUCC only for its complete zh-en dev files."""
    import shutil

    from replicate import paths

    o = dict(source.options)
    src = Path(o["from"]).expanduser()
    if not src.is_absolute():
        src = paths.project_root() / src
    folder = Path(folder)
    for part in o["parts"]:
        if not (src / part).is_dir():
            raise shared_data.DataMissing(f"{src / part} is missing: the real data come from ../shared/data "
                                          f"(see its MANIFEST.md), or pass -p data_dir=/path/to/a copy")
        if part == "bucc2018":
            (folder / part).mkdir(parents=True, exist_ok=True)
            for f in o["bucc_files"]:
                shutil.copy2(src / part / f, folder / part / f)
        else:
            shutil.copytree(src / part, folder / part)
    return {"from": str(src)}
