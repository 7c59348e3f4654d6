"""Parameters and profiles of the T5/XSum chapter (light: no torch import here).

``smoke``: generated article/summary pairs in XSum's schema, a tokenizer trained offline, a tiny T5 built from a
config and trained from scratch on CPU. ``gpu``: generated data at XSum's lengths and a t5-small-sized model
(random init: no checkpoint can be fetched on the GPU machine). ``real``: real one-sentence summaries (the Debian
package descriptions: the long description is the document, the one-line summary its summary), a t5-small-shaped
model from random init, optionally pre-trained by span corruption on the same long descriptions first; real XSum
test documents (the 1,000 of ``xsum-sample``) for the baselines beside Narayan et al. (2018). ``paper``: real XSum +
the t5-small checkpoint with the report's settings (lr 2e-5, batch 16, 1 epoch, AdamW, weight decay 0.01,
1024/128 tokens).

Names follow Hugging Face's ``run_summarization.py`` / ``Seq2SeqTrainingArguments`` where one exists.
"""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError, param
from replicate.data import missing, missing_model

DATASETS = ("synthetic", "debian", "xsum")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
COMPILE_MODES = ("default", "reduce-overhead")
#: the data source (data/manifests/t5_xsum.yaml) each real dataset_name reads
SOURCES = {"debian": "debian-summaries", "xsum": "xsum"}

T1 = "Table 1"
S232 = "Sec. 2.3.2"


@dataclass(frozen=True)
class Params:
    seed: int = param(0, "seed of weights, data order, generated data and baselines")
    device: str = param("auto", "auto (a GPU when there is one), cpu or cuda")
    precision: str = param("auto", "auto (bf16 autocast on a GPU that has it, else fp32), fp32 or bf16",
                           paper="fp16", source="reference-facts.md: the public run matching Table 3 used fp16")
    cpu_threads: int = param(1, "torch threads on a CPU (0 = all cores); 1 is fastest on a small shared machine")
    # data
    dataset_name: str = param("synthetic", "synthetic (generated, XSum's schema), debian (Debian package "
                              "descriptions: long description -> one-line summary) or xsum", paper="xsum")
    data_dir: str | None = param(None, "a local copy of the data set: train/validation/test files (.jsonl, .jsonl.xz, "
                                 ".json, .parquet, .csv with document, summary, id); None = the data cache (debian) "
                                 "or the Hugging Face hub (xsum)")
    xsum_sample_dir: str | None = param(None, "the real XSum test sample (xsum-1000.jsonl + the official split file) "
                                        "for the baselines beside Narayan et al. 2018; None = the data cache "
                                        "(`replicate data fetch xsum-sample`); '' = skip it")
    max_train_samples: int = param(800, "training examples used (0 = the whole split)", paper=0)
    max_eval_samples: int = param(64, "validation examples used (0 = the whole split)", paper=0)
    max_predict_samples: int = param(128, "test examples used (0 = the whole split)", paper=0)
    synth_sentences: int = param(6, "sentences per generated article (XSum articles: ~20 sentences, ~430 words)")
    source_prefix: str = param("summarize: ", "text put before every document (T5's task prefix)",
                               paper="summarize: ", source=S232)
    max_source_length: int = param(1024, "source tokens kept (longer documents are truncated)", paper=1024, source=T1)
    max_target_length: int = param(128, "summary tokens kept in training", paper=128, source=T1)
    # model
    model_name_or_path: str | None = param(None, "a pre-trained checkpoint (hub id or local folder); None = a T5 "
                                           "built from the sizes below, randomly initialised", paper="t5-small",
                                           source=S232)
    vocab_size: int = param(1000, "size of the tokenizer trained offline (config-built models only)", paper=32128)
    d_model: int = param(64, "hidden size (t5-small: 512)", paper=512)
    d_ff: int = param(128, "feed-forward size (t5-small: 2048)", paper=2048)
    num_layers: int = param(2, "encoder and decoder layers each (t5-small: 6)", paper=6)
    num_heads: int = param(4, "attention heads (t5-small: 8)", paper=8)
    d_kv: int = param(16, "size of each attention head (t5-small: 64)", paper=64)
    dropout_rate: float = param(0.1, "dropout of the config-built T5 (t5-small's: 0.1)", paper=0.1)
    # self-supervised pre-training (T5's span corruption), config-built models only
    pretrain_steps: int = param(0, "span-corruption pre-training steps on the training documents before "
                                "fine-tuning (0 = none); the documents only, never the summaries", paper=0)
    pretrain_learning_rate: float = param(1e-3, "peak learning rate of the pre-training (linear warm-up, decay)")
    noise_density: float = param(0.15, "share of tokens masked by span corruption (T5: 0.15)")
    mean_noise_span_length: float = param(3.0, "mean length of a masked span (T5: 3)")
    # fine-tuning (section 2.3.2 / Table 1 of the report)
    learning_rate: float = param(2e-5, "peak learning rate of AdamW", paper=2e-5, source=S232)
    per_device_train_batch_size: int = param(16, "training batch", paper=16, source=T1)
    num_train_epochs: int = param(1, "epochs of fine-tuning", paper=1, source=T1)
    warmup_ratio: float = param(0.0, "share of the steps with a linear warm-up (0 = none, as the Trainer's default)",
                                paper=0.0)
    weight_decay: float = param(0.01, "AdamW weight decay (not on biases and layer norms)", paper=0.01, source=T1)
    max_grad_norm: float = param(1.0, "gradient clipping (0 = none)", paper=1.0)
    label_smoothing_factor: float = param(0.0, "label smoothing of the cross-entropy (the Trainer's default: 0)",
                                          paper=0.0)
    group_by_length: bool = param(True, "length-bucketed batches (less padding); False: random batches as the "
                                  "reference script", paper=False, source="run_summarization.py defaults")
    pad_to_multiple_of: int = param(8, "sources padded to a multiple of this (64 on a GPU: few distinct shapes)")
    torch_compile: bool = param(False, "torch.compile the training step (GPU only)", paper=False)
    torch_compile_mode: str = param("default", "default or reduce-overhead (CUDA graphs)")
    save_steps: int = param(200, "checkpoint every this many steps (and after every epoch), in the data cache")
    # generation / evaluation
    max_new_tokens: int = param(20, "generation cap of Table 3 (the old generate() default, which reproduces "
                                "the report's numbers)", paper=20, source="reference-facts.md (mean length 18.8)")
    long_max_new_tokens: int = param(64, "a longer generation cap, reported beside")
    num_beams: int = param(1, "beams of generation (1 = greedy)", paper=1)
    per_device_eval_batch_size: int = param(64, "generation batch")
    # hyperparameter study (objective 5)
    sweep_learning_rates: tuple[float, ...] = param((1e-3, 3e-3), "learning rates of the sweep",
                                                    paper=(2e-5, 3e-4), source="Sec. 2.3.2 and Table 1")
    sweep_batch_sizes: tuple[int, ...] = param((8, 32), "batch sizes of the sweep", paper=(8, 16),
                                               source="Sec. 2.3.2 and Table 1")
    sweep_num_train_epochs: int = param(1, "epochs of each sweep point")
    sweep_max_train_samples: int = param(400, "training examples of each sweep point (0 = all)")
    compare_pretrain_steps: int = param(0, "span-corruption pre-training steps of the pre-training comparison: two "
                                        "runs at the sweep's size (examples, epochs) and the profile's learning rate "
                                        "and batch, without and with that pre-training (0 = no comparison)")
    # robustness (section 2.3.5) and interpretability (section 2.3.4)
    noise_strengths: tuple[float, ...] = param((0.1, 0.3, 0.5), "strengths of typos, dropped and shuffled sentences")
    robust_samples: int = param(64, "test documents of the robustness study (0 = all)")
    attention_samples: int = param(2, "examples whose cross-attention maps are drawn")

    def validate(self) -> None:
        # dataset_name, device, precision and torch_compile_mode are checked against CHAPTER.choices
        positive = ("per_device_train_batch_size", "num_train_epochs", "pad_to_multiple_of",
                    "per_device_eval_batch_size", "max_source_length", "max_target_length", "max_new_tokens",
                    "long_max_new_tokens", "num_beams", "synth_sentences", "sweep_num_train_epochs", "save_steps")
        for name in positive:
            if getattr(self, name) < 1:
                raise UsageError(f"parameter {name!r} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("cpu_threads", "max_train_samples", "max_eval_samples", "max_predict_samples",
                     "sweep_max_train_samples", "robust_samples", "attention_samples", "pretrain_steps",
                     "compare_pretrain_steps"):
            if getattr(self, name) < 0:
                raise UsageError(f"parameter {name!r} must be >= 0 (0 = the whole split), got {getattr(self, name)!r}")
        if self.learning_rate <= 0 or self.pretrain_learning_rate <= 0 or any(v <= 0 for v in self.sweep_learning_rates):
            raise UsageError("learning rates (learning_rate, pretrain_learning_rate, sweep_learning_rates) must be positive")
        if any(b < 1 for b in self.sweep_batch_sizes):
            raise UsageError("sweep_batch_sizes must be positive integers")
        if any(not 0 <= s <= 1 for s in self.noise_strengths):
            raise UsageError("noise_strengths must lie in [0, 1]")
        for name in ("warmup_ratio", "label_smoothing_factor"):
            if not 0 <= getattr(self, name) < 1:
                raise UsageError(f"parameter {name!r} must lie in [0, 1), got {getattr(self, name)!r}")
        if not 0 < self.noise_density < 1 or self.mean_noise_span_length < 1:
            raise UsageError("noise_density must lie in (0, 1) and mean_noise_span_length be >= 1")
        if (self.pretrain_steps or self.compare_pretrain_steps) and self.model_name_or_path:
            raise UsageError("pretrain_steps and compare_pretrain_steps apply to a config-built T5 only "
                             "(model_name_or_path=None)")


SMOKE = Params(
    device="cpu", max_train_samples=640, max_eval_samples=48, max_predict_samples=96, synth_sentences=4,
    max_source_length=96, max_target_length=32, vocab_size=1000,
    d_model=64, d_ff=128, num_layers=2, num_heads=4, d_kv=16,
    learning_rate=5e-3, per_device_train_batch_size=16, num_train_epochs=4,
    long_max_new_tokens=32, per_device_eval_batch_size=96, xsum_sample_dir="",
    sweep_learning_rates=(1e-3, 5e-3), sweep_batch_sizes=(16, 32), sweep_num_train_epochs=2,
    sweep_max_train_samples=320, noise_strengths=(0.1, 0.3, 0.6), robust_samples=64, attention_samples=2,
)

#: generated data at XSum's lengths, t5-small shapes from random init. The run of 750 steps at lr 5e-4 collapsed
#: (its loss levelled off at the loss of a model that ignores the document); on a CPU at small size the same
#: collapse ends after ~3x the steps at a higher learning rate (book/t5_xsum/index.md), hence 3 epochs at 1e-3
GPU = Params(
    device="auto", max_train_samples=8000, max_eval_samples=256, max_predict_samples=512, synth_sentences=36,
    max_source_length=1024, max_target_length=128, vocab_size=4000, xsum_sample_dir="",
    d_model=512, d_ff=2048, num_layers=6, num_heads=8, d_kv=64,   # t5-small's shapes
    learning_rate=1e-3, warmup_ratio=0.05, per_device_train_batch_size=16, num_train_epochs=3,
    per_device_eval_batch_size=128,
    pad_to_multiple_of=64, long_max_new_tokens=64,
    sweep_learning_rates=(2e-4, 1e-3), sweep_batch_sizes=(16, 32), sweep_num_train_epochs=1,
    sweep_max_train_samples=2000, noise_strengths=(0.1, 0.3, 0.6), robust_samples=256, attention_samples=2,
)

#: Debian package descriptions, t5-small shapes from random init; sized to about seven minutes on one H200 (eager:
#: the minutes of compilation would not pay off over ~1,700 short steps)
REAL = Params(
    device="auto", dataset_name="debian", max_train_samples=0, max_eval_samples=512, max_predict_samples=0,
    max_source_length=256, max_target_length=64, vocab_size=8000,
    d_model=512, d_ff=2048, num_layers=6, num_heads=8, d_kv=64,
    learning_rate=1e-3, warmup_ratio=0.05, per_device_train_batch_size=128, num_train_epochs=4,
    per_device_eval_batch_size=256, pad_to_multiple_of=64, max_new_tokens=20, long_max_new_tokens=48,
    pretrain_learning_rate=1e-3, compare_pretrain_steps=500,
    sweep_learning_rates=(5e-4, 2e-3), sweep_batch_sizes=(64, 128), sweep_num_train_epochs=1,
    sweep_max_train_samples=12000, noise_strengths=(0.1, 0.3, 0.6), robust_samples=512, attention_samples=2,
)

PAPER = Params(
    device="auto", dataset_name="xsum", max_train_samples=0, max_eval_samples=0, max_predict_samples=0,
    model_name_or_path="t5-small", max_source_length=1024, max_target_length=128,
    learning_rate=2e-5, per_device_train_batch_size=16, num_train_epochs=1, weight_decay=0.01,
    per_device_eval_batch_size=128, pad_to_multiple_of=64,
    torch_compile=True,  # x1.85 over eager on an H100 (bench); the minutes of compilation pay off over 12,753 steps
    max_new_tokens=20, long_max_new_tokens=64,
    sweep_learning_rates=(2e-5, 3e-4), sweep_batch_sizes=(8, 16), sweep_num_train_epochs=1,
    sweep_max_train_samples=20000, noise_strengths=(0.1, 0.3, 0.6), robust_samples=1000, attention_samples=3,
)


def preflight(params: Params) -> list[str]:
    """Every data set and checkpoint the parameters need that is not here: "what is missing: how to get it"."""
    out = []
    if params.dataset_name in SOURCES and not (params.dataset_name == "xsum" and params.data_dir is None):
        out.append(missing(SOURCES[params.dataset_name], params.data_dir))
    if params.dataset_name == "xsum" and params.data_dir is None:
        # the hub's copy: usable when the datasets cache holds it; otherwise a local copy is needed
        out.append(_xsum_hub_missing())
    if params.xsum_sample_dir != "":
        out.append(missing("xsum-sample", params.xsum_sample_dir))
    out.append(missing_model(params.model_name_or_path))
    return [m for m in out if m]


def _xsum_hub_missing() -> str | None:
    import os
    from pathlib import Path

    cache = Path(os.environ.get("HF_DATASETS_CACHE", Path.home() / ".cache" / "huggingface" / "datasets"))
    if any(cache.glob("*xsum*")):
        return None
    return ("XSum is not in the Hugging Face datasets cache: run `python -c \"import datasets; "
            "datasets.load_dataset('EdinburghNLP/xsum')\"` on a machine with network, or pass a local copy "
            "with -p data_dir=/path/to/xsum (train/validation/test files with document, summary, id)")


CHAPTER = Chapter(
    name="t5_xsum",
    title="Fine-tuning T5-small on XSum",
    notebooks=("01_finetune_rouge", "02_sweep", "03_robustness_attention"),
    params=Params,
    profiles={"smoke": SMOKE, "gpu": GPU, "real": REAL, "paper": PAPER},
    description="ROUGE P/R/F of a fine-tuned T5 on XSum, baselines, an lr x batch sweep, noise robustness, attention.",
    choices={"dataset_name": DATASETS, "device": DEVICES, "precision": PRECISIONS,
             "torch_compile_mode": COMPILE_MODES},
    preflight=preflight,
)
