"""Profiles of the mbert_lang chapter (light module: no torch import).

``smoke`` trains a small BERT masked LM on generated parallel "languages" on the CPU; ``gpu`` does the same at a
larger size on one GPU; ``paper`` uses bert-base-multilingual-cased with XNLI, Tatoeba, BUCC 2018, UD v2.5 and
Wikipedia text (paths given by ``data_dir``).
"""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError

#: Languages that the generator can make and the real loaders know (ISO 639-1 codes, as in the paper's tables).
LANGUAGES = ("en", "de", "fr", "es", "el", "zh", "ur", "sw", "ar", "hi", "ru", "vi", "th", "tr", "bg")
METHODS = ("Original", "Zero-mean", "MDS")


@dataclass(frozen=True)
class Params:
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    #: "generated": train a small BERT on generated languages; otherwise a Hugging Face id or a local folder.
    model_name: str = "generated"
    #: Folder with the real data (XNLI-1.0/, tatoeba/, bucc2018*/, ud-treebanks-v2.5/, wiki/); None: the cache,
    #: or for model_name="generated" the generated data sets written in the same file formats.
    data_dir: str | None = None
    languages: tuple[str, ...] = ("en", "de", "fr", "el", "zh")
    # --- the generated languages and the small masked LM (model_name="generated") ---
    n_concepts: int = 80
    sentences_per_language: int = 2000
    code_switch: float = 0.15
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    vocab_size: int = 2000
    max_len: int = 48
    train_steps: int = 400
    batch_size: int = 64
    lr: float = 1e-3
    # --- language means (Sec. 2) ---
    means_tokens: int = 30000
    # --- unsupervised token translation (Sec. 3, Table 1, Figures 1-2, Tables 6-7) ---
    directions: tuple[str, ...] = ("en-de", "en-fr", "en-zh", "en-el", "de-en", "fr-en", "zh-en", "el-en")
    alphas: tuple[float, ...] = (1.0, 2.0, 3.0)
    shift_layer: int = 3
    sweep_direction: str = "en-el"
    sweep_alphas: tuple[float, ...] = (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
    n_translate: int = 150
    # --- sentence retrieval (Sec. 4, Tables 2-3) ---
    retrieval_layer: int = 2
    tatoeba_languages: tuple[str, ...] = ("de", "el", "fr", "zh")
    bucc_languages: tuple[str, ...] = ("de", "fr", "zh")
    n_tatoeba: int = 200
    margin_k: int = 4
    # --- zero-shot POS tagging (Sec. 5, Table 4) ---
    pos_languages: tuple[str, ...] = ("de", "el", "fr", "zh")
    pos_layer: int = 2
    pos_epochs: int = 2
    pos_lr: float = 1e-3
    pos_batch: int = 32
    pos_max_train: int = 1000
    # --- zero-shot dependency parsing (Sec. 5, Table 5; trees of UD / CoNLL 2018, English training) ---
    #: generated profiles: a subset of pos_languages (their generated UD test sets); real data: any UD codes
    parse_languages: tuple[str, ...] = ("de", "el", "fr", "zh")
    parse_layer: int = -1  # the shift's layer; -1: the last (Table 5: "using the last layer of BERT")
    parse_epochs: int = 3
    parse_lr: float = 1e-3
    parse_batch: int = 32
    parse_max_train: int = 1000

    def validate(self) -> None:
        bad = [x for x in self.languages if x not in LANGUAGES]
        if bad:
            raise UsageError(f"unknown language(s) {bad}; valid languages: {', '.join(LANGUAGES)}")
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
        if self.model_name == "generated":
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
        if "en" in self.parse_languages or not self.parse_languages:
            raise UsageError("parse_languages must name the test languages (not 'en', the training language)")
        for name in ("n_translate", "n_tatoeba", "means_tokens", "train_steps", "batch_size", "pos_epochs",
                     "parse_epochs", "parse_batch", "parse_max_train"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be a positive integer")


SMOKE = Params()

GPU = Params(
    languages=("en", "de", "fr", "es", "el", "zh", "ur", "sw", "ar", "hi", "ru", "vi", "th", "tr", "bg"),
    n_concepts=160, sentences_per_language=8000, hidden_size=256, num_layers=6, num_heads=4, vocab_size=8000,
    max_len=48, train_steps=3000, batch_size=128, lr=7e-4, means_tokens=200000,
    directions=("en-de", "en-fr", "en-ur", "en-sw", "en-zh", "en-el", "de-en", "fr-en", "ur-en", "sw-en", "zh-en",
                "el-en"),
    shift_layer=5, retrieval_layer=4, n_translate=1000,
    tatoeba_languages=("de", "es", "ar", "el", "fr", "hi", "ru", "vi", "th", "tr", "zh"),
    bucc_languages=("de", "fr", "ru", "zh"), n_tatoeba=1000,
    pos_languages=("ar", "bg", "de", "el", "es", "fr", "hi", "ru", "th", "tr", "ur", "vi", "zh"), pos_layer=4,
    pos_epochs=3, pos_lr=5e-4, pos_max_train=4000,
    parse_languages=("ar", "bg", "de", "el", "es", "fr", "hi", "ru", "th", "tr", "ur", "vi", "zh"), parse_lr=5e-4,
    parse_max_train=4000,
)

PAPER = Params(
    model_name="bert-base-multilingual-cased",
    languages=GPU.languages, directions=GPU.directions, means_tokens=5_000_000,
    shift_layer=10, retrieval_layer=8, n_translate=5010, sweep_alphas=(-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0),
    tatoeba_languages=GPU.tatoeba_languages, bucc_languages=GPU.bucc_languages, n_tatoeba=1000,
    pos_languages=GPU.pos_languages, pos_layer=8, pos_epochs=3, pos_lr=2e-5, pos_batch=32, pos_max_train=1_000_000,
    # Table 5: the CoNLL 2018 test sets of Buryat, Kurmanji, Upper Sorbian, Kazakh, Irish and North Sami
    parse_languages=("bxr", "kmr", "hsb", "kk", "ga", "sme"), parse_layer=12, parse_lr=5e-5,
    parse_max_train=1_000_000,
    max_len=128,
)

CHAPTER = Chapter(
    name="mbert_lang",
    title="Language representation in multilingual BERT",
    notebooks=("01_language_means", "02_token_translation", "03_retrieval", "04_pos_transfer"),
    params=Params,
    profiles={"smoke": SMOKE, "gpu": GPU, "paper": PAPER},
    description="Language means, Zero-mean and Mean Difference Shift in m-BERT: token translation, retrieval, POS.",
    choices={"device": ("auto", "cpu", "cuda"), "precision": ("auto", "fp32", "bf16")},
)
