"""Parameters and profiles of the GUDN chapter (no torch import here: the CLI loads this module cheaply)."""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError

#: Data sets: the generated corpus (smoke, gpu) and the four real ones in the LightXML/AttentionXML layout.
DATASETS = ("generated", "eurlex4k", "wiki10_31k", "amazoncat13k", "wiki500k")
#: Training variants. Table 3: bert, gud_f, gud_l, gudn; Table 4 / Figure 3: gudn (raw names) vs gudn_onehot.
VARIANTS = ("bert", "gud_f", "gud_l", "gudn", "gudn_onehot")
#: Which features the feature guide compares: "pooler" (the authors' code) or "cls" (the paper, Eq. 2 on E_t, E_l).
FEATURE_MSE = ("pooler", "cls")
RANKERS = ("linear", "clusters")
PAPER_EPOCHS = {"eurlex4k": 40, "wiki10_31k": 40, "amazoncat13k": 20, "wiki500k": 20}


@dataclass(frozen=True)
class Params:
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on a GPU, fp32 on CPU
    dataset: str = "generated"
    data_dir: str | None = None  # a local copy of a real data set (LightXML layout); None: the data cache
    # generated corpus (smoke / gpu)
    n_train: int = 600
    n_test: int = 200
    n_labels: int = 60
    n_topics: int = 8
    doc_words: int = 60
    # tokenizer and encoder
    bert: str | None = None  # a checkpoint name/path (paper: bert-base-uncased); None: a BertConfig from below
    vocab_size: int = 1500  # WordPiece vocabulary trained offline on the corpus (when bert is None)
    hidden: int = 64
    layers: int = 4
    heads: int = 4
    intermediate: int = 128
    max_len: int = 64  # text tokens (paper: 512, the head of the text)
    label_max_len: int = 16  # tokens of the joined gold label names
    feature_layers: int = 4  # [CLS] of the last k layers concatenated (paper: 10)
    dropout: float = 0.5
    feature_mse: str = "pooler"
    ranker: str = "linear"  # "clusters": LightXML label clusters + dynamic negative sampling (Wiki-500K)
    n_clusters: int = 0  # label clusters for ranker=clusters (0: about sqrt(L))
    top_b: int = 10  # clusters kept per text by the dynamic negative sampling
    # training
    variants: tuple[str, ...] = VARIANTS
    epochs: int | None = 6  # None: the paper's per data set (40 Eurlex-4K/Wiki10-31K, 20 the others)
    batch_size: int = 8
    eval_batch_size: int = 16
    lr: float = 5e-5
    fused: bool = True  # fused AdamW, SDPA attention, short label padding (the fast route); False: plain fp32 loop

    def validate(self) -> None:
        # dataset, feature_mse, ranker, variants, device and precision are checked against CHAPTER.choices
        if self.feature_layers < 1 or (self.bert is None and self.feature_layers > self.layers):
            raise UsageError(f"parameter 'feature_layers' must be between 1 and layers ({self.layers}), "
                             f"got {self.feature_layers}")
        if self.batch_size < 1 or self.max_len < 8 or self.label_max_len < 4:
            raise UsageError("batch_size must be >= 1, max_len >= 8 and label_max_len >= 4")
        if self.dataset == "generated" and self.n_labels < 2 * self.n_topics:
            raise UsageError(f"n_labels ({self.n_labels}) must be at least twice n_topics ({self.n_topics})")

    @property
    def n_epochs(self) -> int:
        return self.epochs if self.epochs is not None else PAPER_EPOCHS.get(self.dataset, 40)


PROFILES = {
    # CPU, about a minute: a generated corpus whose label names are words of the texts, a tiny BERT.
    "smoke": Params(lr=2e-3, batch_size=16, epochs=6),
    # (feature_mse=cls, the paper's E_t vs E_l, collapsed the features of the random-init smoke BERT: P@1 11 vs 66.5)
    # one H100, about three minutes: a larger generated corpus and a 6-layer BERT (5 variants x 625 steps; the
    # step is bound by kernel launches there, so batch 64 rather than more, smaller steps).
    "gpu": Params(n_train=8000, n_test=2000, n_labels=800, n_topics=40, doc_words=200, vocab_size=8000,
                  hidden=256, layers=6, heads=4, intermediate=1024, max_len=256, label_max_len=48,
                  feature_layers=6, batch_size=64, eval_batch_size=128, epochs=5, lr=5e-4),
    # the paper: Eurlex-4K (also wiki10_31k / amazoncat13k / wiki500k by -p dataset=...), bert-base-uncased.
    "paper": Params(dataset="eurlex4k", bert="bert-base-uncased", hidden=768, layers=12, heads=12,
                    intermediate=3072, max_len=512, label_max_len=128, feature_layers=10, batch_size=8,
                    eval_batch_size=16, epochs=None, lr=5e-5),
}

CHAPTER = Chapter(
    name="gudn",
    title="GUDN: a guide network for extreme multi-label text classification",
    notebooks=("01_data", "02_guide", "03_speed"),
    params=Params,
    profiles=PROFILES,
    description="BERT with a feature guide (MSE text vs label-name features) and a link guide (classifier on "
                "label features); P@k tables 2-4 and the feature-loss curves of Figure 3.",
    choices={"dataset": DATASETS, "feature_mse": FEATURE_MSE, "ranker": RANKERS, "variants": VARIANTS,
             "device": ("auto", "cpu", "cuda"), "precision": ("auto", "fp32", "bf16")},
)
