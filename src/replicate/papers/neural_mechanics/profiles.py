"""Parameters and profiles of the Neural Mechanics chapter (light module: no torch import)."""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError

DATASETS = ("digits", "fashion-mnist", "tiny-imagenet")
ARCHS = ("vgg-tiny", "vgg-small", "vgg11", "vgg16")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "auto")


@dataclass(frozen=True)
class Params:
    """One run of the chapter. ``eta`` is the learning rate, ``lambdas`` the weight decays, ``betas`` the
    momentum coefficients (the talk's notation)."""

    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"  # fp32 keeps <theta, g> = 0 to float precision, which the discrete law relies on
    dataset: str = "digits"
    data_dir: str | None = None  # a local copy of the data set (else the cache, REPLICATE_DATA)
    train_size: int = 0  # 0: the whole training split
    arch: str = "vgg-tiny"
    classifier_width: int = 64
    # Part 1: geometry
    geometry_batch: int = 512  # examples in the loss whose Hessian is probed
    geometry_per_layer: int = 3  # group elements checked per layer
    # Part 2: gradient flow (full batch, lambda = 0, beta = 0)
    gf_etas: tuple[float, ...] = (0.2, 0.1, 0.05, 0.025)
    gf_time: float = 6.0  # t = eta * steps, the same for every eta
    gf_batch: int = 512  # "full batch": the first gf_batch training examples
    # Parts 3-4: SGD with weight decay and momentum
    eta: float = 0.1
    batch_size: int = 64
    steps: int = 300
    lambdas: tuple[float, ...] = (1e-3, 1e-2)
    momentum_batch_size: int = 64
    momentum_lambda: float = 1e-2
    betas: tuple[float, ...] = (0.9, 0.95)  # 0.9: overdamped, 0.95: underdamped (0.99 diverges at eta 0.1 here)
    dampening: float = 0.0
    record_every: int = 10
    curves_per_layer: int = 6
    checkpoint_every: int = 0  # steps between resumable checkpoints (0: none)

    def validate(self) -> None:
        # dataset, arch, device and precision are checked against CHAPTER.choices by config.resolve
        for name in ("eta", "gf_time"):
            if getattr(self, name) <= 0:
                raise UsageError(f"parameter {name!r} must be positive, got {getattr(self, name)!r}")
        if any(e <= 0 for e in self.gf_etas):
            raise UsageError(f"parameter 'gf_etas' must hold positive learning rates, got {self.gf_etas!r}")
        if any(lam < 0 for lam in self.lambdas) or self.momentum_lambda < 0:
            raise UsageError("weight decays ('lambdas', 'momentum_lambda') must be >= 0")
        if any(not 0 <= b < 1 for b in self.betas):
            raise UsageError(f"parameter 'betas' must lie in [0, 1), got {self.betas!r}")
        if not 0 <= self.dampening < 1:
            raise UsageError(f"parameter 'dampening' must lie in [0, 1), got {self.dampening!r}")
        for name in ("steps", "batch_size", "momentum_batch_size", "record_every", "gf_batch", "geometry_batch"):
            if getattr(self, name) < 1:
                raise UsageError(f"parameter {name!r} must be >= 1, got {getattr(self, name)!r}")


PROFILES = {
    # sklearn's digits (ships with scikit-learn), a tiny VGG-style net, CPU: about a minute for the chapter.
    "smoke": Params(),
    # Fashion-MNIST (torchvision's raw files) and a small VGG on one GPU: about two minutes for the chapter.
    "gpu": Params(
        # geometry: float64 double-backward through convolutions is slow on a GPU (1024 examples did not finish
        # in 4 minutes on an H100), so the Hessian checks use a smaller batch and fewer elements per layer
        dataset="fashion-mnist", arch="vgg-small", classifier_width=256, geometry_batch=128, geometry_per_layer=2,
        gf_etas=(0.1, 0.05, 0.025, 0.0125), gf_time=10.0, gf_batch=4096,
        eta=0.1, batch_size=256, steps=1200, lambdas=(1e-4, 1e-3, 5e-3),
        momentum_batch_size=128, momentum_lambda=5e-4, betas=(0.8, 0.9, 0.99), record_every=25,
        curves_per_layer=8,
    ),
    # The talk: VGG-16 / VGG-16-BN on Tiny ImageNet, lr 0.1, batch 256, 100 epochs (391 steps each), weight
    # decay in {1e-4, 5e-4, 1e-3}; momentum runs with batch 128 and beta in {0.8, 0.9, 0.99}.
    "paper": Params(
        dataset="tiny-imagenet", arch="vgg16", classifier_width=1024, geometry_batch=256,
        gf_etas=(0.1, 0.05, 0.025), gf_time=50.0, gf_batch=2048,
        eta=0.1, batch_size=256, steps=39100, lambdas=(1e-4, 5e-4, 1e-3),
        momentum_batch_size=128, momentum_lambda=5e-4, betas=(0.8, 0.9, 0.99), record_every=100,
        curves_per_layer=10, checkpoint_every=1000,
    ),
}

CHAPTER = Chapter(
    name="neural_mechanics",
    title="Neural Mechanics: symmetry and broken conservation laws",
    notebooks=("01_symmetry_geometry", "02_gradient_flow", "03_broken_conservation"),
    params=Params,
    profiles=PROFILES,
    description="Translation, scale and rescale symmetries; their gradient/Hessian geometry; conservation under "
                "gradient flow and its breaking by weight decay, momentum and finite learning rates.",
    choices={"dataset": DATASETS, "arch": ARCHS, "device": DEVICES, "precision": PRECISIONS},
)
