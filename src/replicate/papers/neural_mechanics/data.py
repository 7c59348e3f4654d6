"""Data for the chapter: scikit-learn's digits (smoke), Fashion-MNIST from torchvision's raw files (gpu),
Tiny ImageNet in its distributed folder layout (paper), and generated tensors of Tiny ImageNet's shape (for
timing the paper's model at full size where the data set cannot be had).

Small data sets are returned as tensors ``(X, y)`` to be put on the device whole; Tiny ImageNet is a
``torch.utils.data.Dataset`` read with PIL.
"""
from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from replicate import data as rdata
from replicate import paths


@dataclass
class TensorData:
    """A whole (small) training set as tensors: ``X`` (n, c, h, w) float, ``y`` (n,) long."""

    X: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.X.shape[1:])

    def to(self, device) -> "TensorData":
        return TensorData(self.X.to(device), self.y.to(device), self.num_classes, self.name)


def _standardize(X: torch.Tensor) -> torch.Tensor:
    return (X - X.mean()) / X.std()


def digits(train_size: int = 0) -> TensorData:
    """scikit-learn's 8x8 digits (1797 images, 10 classes), standardised; ships with scikit-learn."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.tensor(d.images, dtype=torch.float32)[:, None]
    y = torch.tensor(d.target, dtype=torch.long)
    if train_size:
        X, y = X[:train_size], y[:train_size]
    return TensorData(_standardize(X), y, 10, "digits")


FASHION_RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _ensure_unpacked(root: Path) -> Path:
    """torchvision's (Fashion)MNIST reads the unpacked idx files from ``<root>/FashionMNIST/raw``. When only the
    ``.gz`` files are there (as distributed), unpack them next to them -- or, if that folder is read-only, into
    a copy in the cache -- and return the root to hand to torchvision."""
    raw = root / "FashionMNIST" / "raw"
    if all((raw / f).is_file() for f in FASHION_RAW):
        return root
    missing = [f for f in FASHION_RAW if not (raw / f).is_file() and not (raw / f"{f}.gz").is_file()]
    if missing:
        raise rdata.DataMissing(f"Fashion-MNIST: {raw} lacks {', '.join(missing)} (.gz or unpacked); "
                                "run `replicate data fetch fashion-mnist` or pass -p data_dir=...")
    target = raw if os.access(raw, os.W_OK) else paths.data_dir() / "fashion-mnist-unpacked" / "FashionMNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for f in FASHION_RAW:
        if (target / f).is_file():
            continue
        src = raw / f if (raw / f).is_file() else raw / f"{f}.gz"
        fd, tmp = tempfile.mkstemp(prefix=f".{f}.", suffix=".part", dir=target)
        with os.fdopen(fd, "wb") as out, (gzip.open(src, "rb") if src.suffix == ".gz" else open(src, "rb")) as inp:
            shutil.copyfileobj(inp, out)
        os.replace(tmp, target / f)
    return target.parent.parent


def fashion_mnist(data_dir: str | None = None, train_size: int = 0) -> TensorData:
    """Fashion-MNIST's training split through ``torchvision.datasets.FashionMNIST(root, download=False)``."""
    from torchvision.datasets import FashionMNIST

    root = rdata.require("fashion-mnist", data_dir)
    ds = FashionMNIST(str(_ensure_unpacked(Path(root))), train=True, download=False)
    X = ds.data.float()[:, None] / 255.0
    y = ds.targets.long()
    if train_size:
        X, y = X[:train_size], y[:train_size]
    return TensorData(_standardize(X), y, 10, "fashion-mnist")


class TinyImageNet(Dataset):
    """Tiny ImageNet 200 in its distributed layout::

        wnids.txt                       one WordNet id per line (the 200 classes, in label order)
        words.txt                       wnid <TAB> names
        train/<wnid>/images/*.JPEG      500 training images per class
        val/images/*.JPEG               10,000 validation images
        val/val_annotations.txt         file <TAB> wnid <TAB> x0 <TAB> y0 <TAB> x1 <TAB> y1

    Labels follow wnids.txt. Images are 64x64 RGB, read with PIL (``torchvision``'s default loader)."""

    def __init__(self, root: str | Path, split: str = "train", transform=None):
        if split not in ("train", "val"):
            raise ValueError(f"unknown split {split!r}; valid: train, val")
        self.root = Path(root)
        self.wnids = [w.strip() for w in (self.root / "wnids.txt").read_text().split() if w.strip()]
        self.class_to_idx = {w: i for i, w in enumerate(self.wnids)}
        self.transform = transform
        self.samples: list[tuple[Path, int]] = []
        if split == "train":
            for w in self.wnids:
                for p in sorted((self.root / "train" / w / "images").glob("*.JPEG")):
                    self.samples.append((p, self.class_to_idx[w]))
        else:
            for line in (self.root / "val" / "val_annotations.txt").read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 2:
                    self.samples.append((self.root / "val" / "images" / parts[0], self.class_to_idx[parts[1]]))

    def names(self) -> dict[str, str]:
        """wnid -> human-readable names (words.txt)."""
        out = {}
        p = self.root / "words.txt"
        if p.is_file():
            for line in p.read_text().splitlines():
                w, _, name = line.partition("\t")
                if w in self.class_to_idx:
                    out[w] = name
        return out

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from torchvision.datasets.folder import default_loader

        path, label = self.samples[i]
        img = default_loader(str(path))
        return (self.transform(img) if self.transform else img), label


def tiny_imagenet(data_dir: str | None = None, split: str = "train") -> TinyImageNet:
    """The real loader of the `paper` profile (normalised tensors, the talk's 64x64 inputs)."""
    from torchvision import transforms

    root = rdata.require("tiny-imagenet", data_dir)
    tf = transforms.Compose([transforms.ToTensor(),
                             transforms.Normalize((0.480, 0.448, 0.398), (0.277, 0.269, 0.282))])
    return TinyImageNet(root, split, tf)


def tiny_imagenet_shaped(n: int = 0, seed: int = 0) -> TensorData:
    """``n`` (default 12,800: fifty batches of 256) generated 64x64 RGB images of 200 classes, Tiny ImageNet's
    shapes: per class a fixed random 8x8x3 pattern upsampled to 64x64, plus unit Gaussian noise (learnable, so
    the loss moves). For timing and for the tracked laws only: no accuracy here says anything about the data set."""
    n = n or 12_800
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 200, (n,), generator=g)
    protos = torch.nn.functional.interpolate(torch.randn(200, 3, 8, 8, generator=g), scale_factor=8, mode="nearest")
    X = torch.randn(n, 3, 64, 64, generator=g).add_(protos[y])
    return TensorData(_standardize(X), y, 200, "tiny-imagenet-shaped")


def shape_of(ds) -> tuple[tuple[int, int, int], int]:
    """((channels, height, width), classes) of a data set of this module."""
    if isinstance(ds, TensorData):
        return ds.shape, ds.num_classes
    return (3, 64, 64), len(ds.wnids)


def first(ds, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` examples as tensors ``(X, y)``."""
    if isinstance(ds, TensorData):
        return ds.X[:n], ds.y[:n]
    xs, ys = zip(*(ds[i] for i in range(min(n, len(ds)))))
    return torch.stack(xs), torch.tensor(ys)


def load(params) -> TensorData | TinyImageNet:
    """The training data a profile asks for."""
    if params.dataset_name == "digits":
        return digits(params.train_size)
    if params.dataset_name == "fashion-mnist":
        return fashion_mnist(params.data_dir, params.train_size)
    if params.dataset_name == "tiny-imagenet-shaped":
        return tiny_imagenet_shaped(params.train_size, params.seed)
    return tiny_imagenet(params.data_dir, "train")
