import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from replicate.data import DataMissing
from replicate.papers.neural_mechanics import data


def write_tiny_imagenet(root, wnids=("n01443537", "n01629819"), per_class=3, val=4):
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (root / "words.txt").write_text("n01443537\tgoldfish, Carassius auratus\nn01629819\tEuropean fire salamander\n"
                                    "n99999999\tunused\n")
    rng = np.random.default_rng(0)
    for w in wnids:
        d = root / "train" / w / "images"
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(d / f"{w}_{i}.JPEG")
        (root / "train" / w / f"{w}_boxes.txt").write_text("".join(f"{w}_{i}.JPEG\t0\t0\t63\t63\n" for i in range(per_class)))
    (root / "val" / "images").mkdir(parents=True)
    lines = []
    for i in range(val):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / "val" / "images" / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{wnids[i % 2]}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "test" / "images").mkdir(parents=True)
    return root


def test_tiny_imagenet_layout(tmp_path):
    root = write_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    tr = data.TinyImageNet(root, "train")
    va = data.TinyImageNet(root, "val")
    assert len(tr) == 6 and len(va) == 4
    assert [lbl for _, lbl in tr.samples] == [0, 0, 0, 1, 1, 1]
    assert [lbl for _, lbl in va.samples] == [0, 1, 0, 1]
    assert tr.names()["n01443537"].startswith("goldfish") and "n99999999" not in tr.names()
    ds = data.tiny_imagenet(str(root), "val")
    x, y = ds[1]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and y == 1


def test_tiny_imagenet_missing_is_one_line(tmp_path):
    with pytest.raises(DataMissing) as e:
        data.tiny_imagenet(str(tmp_path / "nothing"))
    assert "\n" not in str(e.value) and "wnids.txt" in str(e.value)


def _idx(path, arr, magic_type):
    header = struct.pack(">I", magic_type << 8 | arr.ndim) + b"".join(struct.pack(">I", s) for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_from_gz_raw_files(tmp_path):
    raw = tmp_path / "fm" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    imgs, labels = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 10, 7)
    for split, n in (("train", 7), ("t10k", 3)):
        _idx(raw / f"{split}-images-idx3-ubyte.gz", imgs[:n], 0x08)
        _idx(raw / f"{split}-labels-idx1-ubyte.gz", labels[:n], 0x08)
    d = data.fashion_mnist(str(tmp_path / "fm"))
    assert d.X.shape == (7, 1, 28, 28) and d.num_classes == 10
    assert d.y.tolist() == labels.tolist()
    # standardised pixels keep the order of the raw bytes
    assert torch.equal(torch.argsort(d.X[0].flatten()), torch.argsort(torch.tensor(imgs[0].flatten(), dtype=torch.float32)))


def test_digits():
    d = data.digits(100)
    assert d.X.shape == (100, 1, 8, 8) and abs(d.X.mean().item()) < 0.2 and d.y.max() <= 9
