"""Parameters and profiles of the T5/XSum chapter (light: no torch import here).

``smoke``: generated article/summary pairs in XSum's schema, a tokenizer trained offline, a tiny T5 built from a
config and trained from scratch on CPU. ``gpu``: generated data at XSum's lengths and a t5-small-sized model
(random init: no checkpoint can be fetched on the GPU machine). ``paper``: real XSum + the t5-small checkpoint with
the report's settings (lr 2e-5, batch 16, 1 epoch, AdamW, weight decay 0.01, 1024/128 tokens).
"""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError

DATA = ("synthetic", "xsum")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Params:
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"          # bf16 autocast on a GPU that has it ("auto"), else fp32
    cpu_threads: int = 1             # torch threads on CPU (0 = all cores); 1 is fastest on a small shared machine
    # data
    data: str = "synthetic"          # "synthetic" (generated, XSum's schema) or "xsum" (the real data set)
    data_dir: str | None = None      # a local XSum copy (json/jsonl/parquet/csv files per split); None: the hub
    n_train: int = 800               # examples used per split; 0 = the whole split
    n_val: int = 64
    n_test: int = 128
    synth_sentences: int = 6         # sentences per generated article (XSum articles: ~20 sentences, ~430 words)
    prefix: str = "summarize: "
    max_source_length: int = 1024
    max_target_length: int = 128
    # model: a checkpoint (e.g. "t5-small") or, when None, a T5 built from the sizes below
    checkpoint: str | None = None
    vocab_size: int = 1000           # of the offline tokenizer (config-built models only)
    d_model: int = 64
    d_ff: int = 128
    num_layers: int = 2
    num_heads: int = 4
    d_kv: int = 16
    # fine-tuning (section 2.3.2 / Table 1 of the report)
    lr: float = 2e-5
    batch_size: int = 16
    epochs: int = 1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    bucket: bool = True              # length-bucketed batches (less padding); False: random batches
    pad_multiple: int = 8            # sources padded to a multiple of this (64 on a GPU: few distinct shapes)
    compile: bool = False            # torch.compile the model (GPU)
    # generation / evaluation
    gen_max_new_tokens: int = 20     # the cap that reproduces the report's numbers (old generate() default)
    gen_long_max_new_tokens: int = 64
    num_beams: int = 1
    eval_batch_size: int = 64
    # hyperparameter study (objective 5)
    sweep_lrs: tuple[float, ...] = (1e-3, 3e-3)
    sweep_batch_sizes: tuple[int, ...] = (8, 32)
    sweep_epochs: int = 1
    sweep_n_train: int = 400
    # robustness (section 2.3.5) and interpretability (section 2.3.4)
    noise_strengths: tuple[float, ...] = (0.1, 0.3, 0.5)
    n_robust: int = 64
    n_attention: int = 2

    def validate(self) -> None:
        # data, device and precision are checked against CHAPTER.choices by config.resolve
        positive = ("batch_size", "epochs", "pad_multiple", "eval_batch_size", "max_source_length", "max_target_length",
                    "gen_max_new_tokens", "gen_long_max_new_tokens", "num_beams", "synth_sentences", "sweep_epochs")
        for name in positive:
            if getattr(self, name) < 1:
                raise UsageError(f"parameter {name!r} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("cpu_threads", "n_train", "n_val", "n_test", "sweep_n_train", "n_robust", "n_attention"):
            if getattr(self, name) < 0:
                raise UsageError(f"parameter {name!r} must be >= 0 (0 = the whole split), got {getattr(self, name)!r}")
        if self.lr <= 0 or any(v <= 0 for v in self.sweep_lrs):
            raise UsageError("learning rates (lr, sweep_lrs) must be positive")
        if any(b < 1 for b in self.sweep_batch_sizes):
            raise UsageError("sweep_batch_sizes must be positive integers")
        if any(not 0 <= s <= 1 for s in self.noise_strengths):
            raise UsageError("noise_strengths must lie in [0, 1]")
        if self.d_model % self.num_heads and self.checkpoint is None:
            pass  # T5 uses d_kv per head, so any combination is valid


SMOKE = Params(
    device="cpu", n_train=640, n_val=48, n_test=96, synth_sentences=4,
    max_source_length=96, max_target_length=32, vocab_size=1000,
    d_model=64, d_ff=128, num_layers=2, num_heads=4, d_kv=16,
    lr=5e-3, batch_size=16, epochs=4,
    gen_long_max_new_tokens=32, eval_batch_size=96,
    sweep_lrs=(1e-3, 5e-3), sweep_batch_sizes=(16, 32), sweep_epochs=2, sweep_n_train=320,
    noise_strengths=(0.1, 0.3, 0.6), n_robust=64, n_attention=2,
)

GPU = Params(
    device="auto", n_train=12000, n_val=256, n_test=512, synth_sentences=36,  # ~420 words, as XSum
    max_source_length=1024, max_target_length=128, vocab_size=4000,
    d_model=512, d_ff=2048, num_layers=6, num_heads=8, d_kv=64,   # t5-small's shapes
    lr=5e-4, batch_size=16, epochs=1, eval_batch_size=128, pad_multiple=64,
    gen_long_max_new_tokens=64,
    sweep_lrs=(2e-4, 1e-3), sweep_batch_sizes=(16, 32), sweep_epochs=1, sweep_n_train=2000,
    noise_strengths=(0.1, 0.3, 0.6), n_robust=256, n_attention=2,
)

PAPER = Params(
    device="auto", data="xsum", n_train=0, n_val=0, n_test=0,
    checkpoint="t5-small", max_source_length=1024, max_target_length=128,
    lr=2e-5, batch_size=16, epochs=1, weight_decay=0.01, eval_batch_size=128, pad_multiple=64,
    compile=True,  # x1.85 over eager on an H100 (bench); the minutes of compilation pay off over a 12,753-step epoch
    gen_max_new_tokens=20, gen_long_max_new_tokens=64,
    sweep_lrs=(2e-5, 3e-4), sweep_batch_sizes=(8, 16), sweep_epochs=1, sweep_n_train=20000,
    noise_strengths=(0.1, 0.3, 0.6), n_robust=1000, n_attention=3,
)

CHAPTER = Chapter(
    name="t5_xsum",
    title="Fine-tuning T5-small on XSum",
    notebooks=("01_finetune_rouge", "02_sweep", "03_robustness_attention"),
    params=Params,
    profiles={"smoke": SMOKE, "gpu": GPU, "paper": PAPER},
    description="ROUGE P/R/F of a fine-tuned T5 on XSum, baselines, an lr x batch sweep, noise robustness, attention.",
    choices={"data": DATA, "device": DEVICES, "precision": PRECISIONS},
)
