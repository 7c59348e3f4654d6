"""Parameters and profiles of the GUDN chapter (no torch import here: the CLI loads this module cheaply)."""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError, param

#: Data sets: the generated corpus (smoke, gpu), Debian's packages with their debtags (real), and the paper's four
#: in the LightXML/AttentionXML layout (paper).
DATASETS = ("generated", "debtags", "eurlex4k", "wiki10_31k", "amazoncat13k", "wiki500k")
#: the paper's data sets (the ones whose numbers ours can stand beside)
PAPER_DATASETS = ("eurlex4k", "wiki10_31k", "amazoncat13k", "wiki500k")
#: Training variants. Table 3: bert, gud_f, gud_l, gudn; Table 4 / Figure 3: gudn (raw names) vs gudn_onehot.
VARIANTS = ("bert", "gud_f", "gud_l", "gudn", "gudn_onehot")
#: Table 3's rows
MODULES = {"bert": "BERT", "gud_f": "BERT+GUD-F", "gud_l": "BERT+GUD-L", "gudn": "GUDN"}
KS = (1, 3, 5)
#: Which features the feature guide compares: "pooler" (the authors' code) or "cls" (the paper, Eq. 2 on E_t, E_l).
FEATURE_MSE = ("pooler", "cls")
#: "auto": LightXML's label clusters for Wiki-500K (as the paper), a linear layer over all labels otherwise
RANKERS = ("auto", "linear", "clusters")
PAPER_EPOCHS = {"eurlex4k": 40, "wiki10_31k": 40, "amazoncat13k": 20, "wiki500k": 20}
#: data-set name -> manifest entry (data/manifests/gudn.yaml)
MANIFEST = {"debtags": "gudn-debtags", "eurlex4k": "eurlex4k", "wiki10_31k": "wiki10_31k",
            "amazoncat13k": "amazoncat13k", "wiki500k": "wiki500k"}


@dataclass(frozen=True)
class Params:
    seed: int = param(0, "random seed of the model's initialisation, dropout and the shuffles (the generated corpus "
                         "is drawn with it too)", paper=19950919, source="authors' config.yaml")
    seeds: tuple[int, ...] = param((0,), "the seeds a run of the profile trains every variant with (the tables show "
                                         "their mean and spread); each record is one (variant, seed)")
    device: str = param("auto", "auto (CUDA when present), cpu or cuda")
    precision: str = param("auto", "auto: bf16 autocast on a GPU, fp32 on the CPU; or fp32 / bf16",
                           paper="fp32", source="authors' main.py (no autocast)")
    dataset_name: str = param("generated", "generated (a corpus drawn here), debtags (Debian packages, "
                                           "`replicate data fetch gudn-debtags`) or one of the paper's data sets",
                              paper="eurlex4k", source="Table 2")
    data_dir: str | None = param(None, "a local copy of the data set in the LightXML/AttentionXML layout; "
                                       "None: the data cache")
    max_train_samples: int | None = param(None, "use the first N training documents only (a CPU slice); None: all")
    max_eval_samples: int | None = param(None, "use the first N test documents only; None: all")
    # generated corpus (smoke / gpu)
    n_train: int = param(600, "generated corpus: training documents")
    n_test: int = param(200, "generated corpus: test documents")
    n_labels: int = param(60, "generated corpus: labels")
    n_topics: int = param(8, "generated corpus: topics the labels are grouped in")
    doc_words: int = param(60, "generated corpus: mean words per document")
    # tokenizer and encoder
    model_name_or_path: str | None = param(
        None, "a pretrained BERT: hub id, local folder, or a data source of data/manifests/gudn.yaml "
              "(all-minilm-l6-v2); None: a BertConfig from the fields below, randomly initialised, with a WordPiece "
              "vocabulary trained on the corpus", paper="bert-base-uncased", source="Sec. 3.2; authors' config.yaml")
    vocab_size: int = param(1500, "WordPiece vocabulary trained offline on the corpus (model_name_or_path None)")
    hidden_size: int = param(64, "BERT hidden size (model_name_or_path None)", paper=768, source="bert-base-uncased")
    num_hidden_layers: int = param(4, "BERT layers (model_name_or_path None)", paper=12, source="bert-base-uncased")
    num_attention_heads: int = param(4, "BERT attention heads (model_name_or_path None)", paper=12,
                                     source="bert-base-uncased")
    intermediate_size: int = param(128, "BERT feed-forward size (model_name_or_path None)", paper=3072,
                                   source="bert-base-uncased")
    max_seq_length: int = param(64, "text tokens kept (the head of the text)", paper=512, source="Sec. 4.2")
    max_label_length: int = param(16, "tokens kept of the joined gold label names (the authors' code cuts none: "
                                      "BERT's 512 positions bound it)", paper=512, source="authors' dataset.py")
    feature_layers: int = param(4, "[CLS] vectors of the last k layers concatenated into the text feature",
                                paper=10, source="Sec. 3.2; authors' main.py")
    dropout: float = param(0.5, "dropout on the concatenated features before the classifier", paper=0.5,
                           source="authors' model.py (LightXML's)")
    feature_mse: str = param("pooler", "what L_feature compares: pooler outputs (the authors' code) or the "
                                       "concatenated [CLS] features E_t, E_l (the paper's Eq. 2)",
                             paper="pooler", source="authors' main.py")
    ranker: str = param("auto", "auto (label clusters for Wiki-500K, linear otherwise), linear (one score per "
                                "label, Eq. 1) or clusters (LightXML's clusters + dynamic negative sampling)")
    n_clusters: int = param(0, "label clusters for ranker=clusters (0: about sqrt(L))")
    top_b: int = param(10, "clusters kept per text by the dynamic negative sampling")
    # training
    variants: tuple[str, ...] = param(VARIANTS, "the variants a run trains (Tables 3, 4 and Figure 3)")
    num_train_epochs: int | None = param(6, "epochs; None: the paper's per data set (40 Eurlex-4K / Wiki10-31K, "
                                            "20 the others)", paper=None, source="Sec. 4.2")
    per_device_train_batch_size: int = param(
        8, "training batch per process: under torchrun --nproc_per_node N the global batch is N times it (the "
           "authors' main_multi_gpu.py: 8 per GPU on four GPUs = 32; their main.py: 8 on one GPU)",
        paper=8, source="Sec. 4.2")
    per_device_eval_batch_size: int = param(16, "test batch", paper=16, source="Sec. 4.2")
    learning_rate: float = param(5e-5, "peak learning rate of AdamW (linear decay to 0, no warm-up)", paper=5e-5,
                                 source="authors' config.yaml")
    weight_decay: float = param(0.0, "AdamW's decoupled weight decay, on every parameter (the authors use "
                                     "transformers.AdamW with its default 0)", paper=0.0, source="authors' main.py")
    adam_epsilon: float = param(1e-6, "AdamW's epsilon (transformers.AdamW's default, which the authors use)",
                                paper=1e-6, source="authors' main.py")
    fused: bool = param(True, "the fast route: fused AdamW, SDPA attention, short label padding, texts and label "
                              "texts in one BERT forward on a GPU; False: the authors' plain fp32 loop")

    def validate(self) -> None:
        # dataset_name, feature_mse, ranker, variants, device and precision are checked against CHAPTER.choices
        if self.feature_layers < 1 or (self.model_name_or_path is None and self.feature_layers > self.num_hidden_layers):
            raise UsageError(f"parameter 'feature_layers' must be between 1 and num_hidden_layers "
                             f"({self.num_hidden_layers}), got {self.feature_layers}")
        if self.per_device_train_batch_size < 1 or self.max_seq_length < 8 or self.max_label_length < 4:
            raise UsageError("per_device_train_batch_size must be >= 1, max_seq_length >= 8 and "
                             "max_label_length >= 4")
        if self.dataset_name == "generated" and self.n_labels < 2 * self.n_topics:
            raise UsageError(f"n_labels ({self.n_labels}) must be at least twice n_topics ({self.n_topics})")
        if not self.seeds:
            raise UsageError("parameter 'seeds' must name at least one seed")

    @property
    def n_epochs(self) -> int:
        e = self.num_train_epochs
        return e if e is not None else PAPER_EPOCHS.get(self.dataset_name, 40)

    @property
    def ranker_kind(self) -> str:
        """The ranker in use: ``auto`` is the paper's choice per data set (clusters for Wiki-500K only)."""
        if self.ranker != "auto":
            return self.ranker
        return "clusters" if self.dataset_name == "wiki500k" else "linear"


PROFILES = {
    # CPU, about a minute: a generated corpus whose label names are words of the texts, a tiny BERT.
    "smoke": Params(learning_rate=2e-3, per_device_train_batch_size=16, num_train_epochs=6),
    # (feature_mse=cls, the paper's E_t vs E_l, collapsed the features of the random-init smoke BERT: P@1 11 vs 66.5)
    # one H100, about three minutes: a larger generated corpus and a 6-layer BERT (5 variants x 625 steps; the
    # step is bound by kernel launches there, so batch 64 rather than more, smaller steps).
    "gpu": Params(n_train=8000, n_test=2000, n_labels=800, n_topics=40, doc_words=200, vocab_size=8000,
                  hidden_size=256, num_hidden_layers=6, num_attention_heads=4, intermediate_size=1024,
                  max_seq_length=256, max_label_length=48, feature_layers=6, per_device_train_batch_size=64,
                  per_device_eval_batch_size=128, num_train_epochs=5, learning_rate=5e-4),
    # one H200, about six minutes: a real pretrained BERT (all-MiniLM-L6-v2, 6 x 384) on a real multi-label corpus
    # (Debian package descriptions, labels = their debtags), 5 variants x 3 seeds. Texts are short (summary + long
    # description), so 128 tokens; the label side is the tags' readable names, uncut as in the authors' code.
    "real": Params(dataset_name="debtags", model_name_or_path="all-minilm-l6-v2", seeds=(0, 1, 2),
                   max_seq_length=128, max_label_length=512, feature_layers=5, per_device_train_batch_size=32,
                   per_device_eval_batch_size=256, num_train_epochs=5, learning_rate=1e-4),
    # the paper: Eurlex-4K (also wiki10_31k / amazoncat13k / wiki500k by -p dataset_name=...), bert-base-uncased;
    # the authors' optimiser (transformers.AdamW: no weight decay, eps 1e-6) and uncut label text (512 positions).
    "paper": Params(dataset_name="eurlex4k", model_name_or_path="bert-base-uncased", hidden_size=768,
                    num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, max_seq_length=512,
                    max_label_length=512, feature_layers=10, per_device_train_batch_size=8,
                    per_device_eval_batch_size=16, num_train_epochs=None, learning_rate=5e-5),
}


def preflight(params) -> list[str]:
    """What the profile needs that is not on this machine: the data set and the pretrained BERT."""
    from replicate import data

    out = []
    if params.dataset_name != "generated":
        line = data.missing(MANIFEST[params.dataset_name], params.data_dir)
        if line:
            out.append(line)
    line = data.missing_model(params.model_name_or_path)
    if line:
        out.append(line)
    return out


CHAPTER = Chapter(
    name="gudn",
    title="GUDN: a guide network for extreme multi-label text classification",
    notebooks=("01_data", "02_guide", "03_speed"),
    params=Params,
    profiles=PROFILES,
    description="BERT with a feature guide (MSE text vs label-name features) and a link guide (classifier on "
                "label features); P@k tables 2-4 and the feature-loss curves of Figure 3.",
    choices={"dataset_name": DATASETS, "feature_mse": FEATURE_MSE, "ranker": RANKERS, "variants": VARIANTS,
             "device": ("auto", "cpu", "cuda"), "precision": ("auto", "fp32", "bf16")},
    preflight=preflight,
)
