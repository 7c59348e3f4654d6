"""VGG-style networks (Simonyan & Zisserman's configurations, as in the talk's VGG-16 / VGG-16-BN runs).

``vgg(arch, bn=...)`` builds ``features`` (3x3 convolutions, optional BatchNorm, ReLU, 2x2 max pooling) and a
``classifier`` (Linear-ReLU-Linear-ReLU-Linear). With BN every convolution's filters have a scale symmetry;
without BN every pair of consecutive layers joined by a ReLU has a rescale symmetry; the last Linear (feeding the
softmax of the cross-entropy) has a translation symmetry.
"""
from __future__ import annotations

import torch
from torch import nn

#: Convolution widths ("M" = 2x2 max pooling).
CFGS = {
    "vgg-tiny": [16, 16, "M", 32, "M"],  # 8x8 digits -> 2x2x32
    "vgg-small": [32, 32, "M", 64, 64, "M", 128, "M"],  # 28x28 Fashion-MNIST -> 3x3x128
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, cfg: list, in_channels: int, num_classes: int, image_size: int, width: int, bn: bool):
        super().__init__()
        layers: list[nn.Module] = []
        c, s = in_channels, image_size
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                s //= 2
            else:
                layers.append(nn.Conv2d(c, v, 3, padding=1, bias=True))
                if bn:
                    layers.append(nn.BatchNorm2d(v))
                layers.append(nn.ReLU(inplace=True))
                c = v
        if s < 1:
            raise ValueError(f"image size {image_size} is too small for this configuration")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(c * s * s, width), nn.ReLU(inplace=True),
            nn.Linear(width, width), nn.ReLU(inplace=True),
            nn.Linear(width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def vgg(arch: str, bn: bool, in_channels: int, num_classes: int, image_size: int, width: int) -> VGG:
    """A VGG-style network; ``bn`` inserts BatchNorm after every convolution (VGG-BN)."""
    if arch not in CFGS:
        raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(CFGS)}")
    return VGG(CFGS[arch], in_channels, num_classes, image_size, width, bn)
