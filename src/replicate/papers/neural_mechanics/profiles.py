"""Parameters and profiles of the Neural Mechanics chapter (light module: no torch import).

The talk's notation maps onto the shared vocabulary: ``eta`` is ``learning_rate``, ``lambda`` a weight decay
(``weight_decays``), ``beta`` a momentum coefficient (``momenta``)."""
from __future__ import annotations

from dataclasses import dataclass

from replicate import data as rdata
from replicate.config import Chapter, UsageError, param

#: ``tiny-imagenet-shaped``: generated tensors of Tiny ImageNet's shape (64x64x3, 200 classes), for timing the
#: paper's model at full size where the data set cannot be had (no data set is read).
DATASETS = ("digits", "fashion-mnist", "tiny-imagenet", "tiny-imagenet-shaped")
ARCHS = ("vgg-tiny", "vgg-small", "vgg11", "vgg16")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "auto")

TALK = "the talk's runs (reference-facts.md: authors' repo)"


@dataclass(frozen=True)
class Params:
    """One run of the chapter (every notebook reads the same parameters)."""

    seed: int = param(0, "seed of the initialisation, the batch order and the tracked elements")
    device: str = param("auto", "auto (CUDA when present), cpu or cuda")
    precision: str = param("fp32", "fp32 keeps <theta, g> = 0 to float precision, which the discrete law relies on; "
                                   "bf16 autocast breaks it at ~1e-3 per step")
    allow_tf32: bool = param(False, "let cuDNN convolutions and matmuls use TF32 on a GPU (faster; its 10-bit "
                                    "mantissa breaks the rescale symmetry at ~1e-3, so the laws then hold only to that)")
    dataset_name: str = param("digits", "digits (scikit-learn's 8x8), fashion-mnist, tiny-imagenet, or "
                                        "tiny-imagenet-shaped (generated tensors of its shape, for timing only)",
                              paper="tiny-imagenet", source=TALK)
    data_dir: str | None = param(None, "a local copy of the data set (None: the data cache, REPLICATE_DATA)")
    train_size: int = param(0, "training examples used (0: the whole training split; generated sets: 12,800)")
    arch: str = param("vgg-tiny", "VGG configuration: vgg-tiny, vgg-small, vgg11, vgg16 (with and without BN)",
                      paper="vgg16", source=TALK)
    classifier_width: int = param(64, "width of the two hidden Linear layers of the classifier",
                                  paper=1024, source=TALK)
    # Part 1: geometry
    geometry_batch_size: int = param(512, "examples in the loss whose gradient and Hessian are probed (Part 1)")
    geometry_per_layer: int = param(3, "group elements checked per layer (Part 1)")
    # Part 2: gradient flow (full batch, lambda = 0, beta = 0)
    gf_learning_rates: tuple[float, ...] = param((0.2, 0.1, 0.05, 0.025),
                                                 "learning rates of the full-batch gradient descent runs (Part 2)")
    gf_time: float = param(6.0, "time t = learning_rate * steps that every gradient descent run reaches (Part 2)")
    gf_batch_size: int = param(512, "'full batch' of Part 2: the first gf_batch_size training examples")
    # Parts 3-4: SGD with weight decay and momentum
    learning_rate: float = param(0.1, "SGD learning rate eta", paper=0.1, source=TALK)
    per_device_train_batch_size: int = param(64, "batch size of the weight-decay runs", paper=256, source=TALK)
    max_steps: int = param(300, "SGD steps of every weight-decay and momentum run", paper=39100,
                           source=TALK + ": 100 epochs of 391 steps")
    weight_decays: tuple[float, ...] = param((1e-3, 1e-2), "weight decays lambda of the SGD runs (momentum 0)",
                                             paper=(0.0, 1e-4, 5e-4, 1e-3), source=TALK)
    momentum_batch_size: int = param(64, "batch size of the momentum runs", paper=128, source=TALK)
    momentum_weight_decay: float = param(1e-2, "weight decay of the momentum runs", paper=5e-4, source=TALK)
    momenta: tuple[float, ...] = param((0.9, 0.95), "momentum coefficients beta (0.9: overdamped, 0.95: "
                                                    "underdamped here; 0.99 diverges at learning rate 0.1 on digits)",
                                       paper=(0.8, 0.9, 0.99), source=TALK)
    dampening: float = param(0.0, "PyTorch SGD's momentum dampening")
    record_every: int = param(10, "steps between snapshots of the tracked quantities (and of the loss)")
    curves_per_layer: int = param(6, "group elements per layer whose curves are kept")
    checkpoint_every: int = param(0, "steps between resumable checkpoints in the data cache (0: none)")

    def validate(self) -> None:
        # dataset_name, arch, device and precision are checked against CHAPTER.choices by config.resolve
        for name in ("learning_rate", "gf_time"):
            if getattr(self, name) <= 0:
                raise UsageError(f"parameter {name!r} must be positive, got {getattr(self, name)!r}")
        if any(e <= 0 for e in self.gf_learning_rates):
            raise UsageError(f"parameter 'gf_learning_rates' must hold positive learning rates, "
                             f"got {self.gf_learning_rates!r}")
        if any(lam < 0 for lam in self.weight_decays) or self.momentum_weight_decay < 0:
            raise UsageError("weight decays ('weight_decays', 'momentum_weight_decay') must be >= 0")
        if any(not 0 <= b < 1 for b in self.momenta):
            raise UsageError(f"parameter 'momenta' must lie in [0, 1), got {self.momenta!r}")
        if not 0 <= self.dampening < 1:
            raise UsageError(f"parameter 'dampening' must lie in [0, 1), got {self.dampening!r}")
        for name in ("max_steps", "per_device_train_batch_size", "momentum_batch_size", "record_every",
                     "gf_batch_size", "geometry_batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"parameter {name!r} must be >= 1, got {getattr(self, name)!r}")


PROFILES = {
    # sklearn's digits (ships with scikit-learn), a tiny VGG-style net, CPU: about a minute for the chapter.
    "smoke": Params(),
    # Fashion-MNIST (torchvision's raw files) and a small VGG on one GPU: about two minutes for the chapter.
    "gpu": Params(
        # geometry: float64 double-backward through convolutions is slow on a GPU (1024 examples did not finish
        # in 4 minutes on an H100), so the Hessian checks use a smaller batch and fewer elements per layer
        dataset_name="fashion-mnist", arch="vgg-small", classifier_width=256, geometry_batch_size=128,
        geometry_per_layer=2, gf_learning_rates=(0.1, 0.05, 0.025, 0.0125), gf_time=10.0, gf_batch_size=4096,
        learning_rate=0.1, per_device_train_batch_size=256, max_steps=1200, weight_decays=(1e-4, 1e-3, 5e-3),
        momentum_batch_size=128, momentum_weight_decay=5e-4, momenta=(0.8, 0.9, 0.99), record_every=25,
        curves_per_layer=8,
    ),
    # The talk: VGG-16 / VGG-16-BN on Tiny ImageNet, lr 0.1, batch 256, 100 epochs (391 steps each), weight
    # decay in {0, 1e-4, 5e-4, 1e-3}; momentum runs with batch 128 and beta in {0.8, 0.9, 0.99}.
    "paper": Params(
        dataset_name="tiny-imagenet", arch="vgg16", classifier_width=1024, geometry_batch_size=256,
        gf_learning_rates=(0.1, 0.05, 0.025), gf_time=50.0, gf_batch_size=2048,
        learning_rate=0.1, per_device_train_batch_size=256, max_steps=39100, weight_decays=(0.0, 1e-4, 5e-4, 1e-3),
        momentum_batch_size=128, momentum_weight_decay=5e-4, momenta=(0.8, 0.9, 0.99), record_every=100,
        curves_per_layer=10, checkpoint_every=1000,
    ),
}


def preflight(params: Params) -> list[str]:
    """The data set the parameters read, if it is not on this machine (digits ship with scikit-learn; the
    generated Tiny-ImageNet-shaped tensors need nothing)."""
    if params.dataset_name in ("fashion-mnist", "tiny-imagenet"):
        line = rdata.missing(params.dataset_name, params.data_dir)
        return [line] if line else []
    return []


CHAPTER = Chapter(
    name="neural_mechanics",
    title="Neural Mechanics: symmetry and broken conservation laws",
    notebooks=("01_symmetry_geometry", "02_gradient_flow", "03_broken_conservation"),
    params=Params,
    profiles=PROFILES,
    description="Translation, scale and rescale symmetries; their gradient/Hessian geometry; conservation under "
                "gradient flow and its breaking by weight decay, momentum and finite learning rates.",
    choices={"dataset_name": DATASETS, "arch": ARCHS, "device": DEVICES, "precision": PRECISIONS},
    preflight=preflight,
)
