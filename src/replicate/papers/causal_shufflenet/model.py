"""The 3D Causal ShuffleNet in dual paths (Zhao & Zheng, Sections 4.1-4.4, Figure 1) and the Efficient-3DCNNs
baselines of the paper's Table 2 (3D-ShuffleNetV1, 3D-MobileNetV1; Kopuklu et al. 2021).

Notation from the paper: alpha / beta are the temporal strides of the spatial (slow) and temporal (fast) paths,
alpha/beta = 2; g = 3 groups; T = 16 frames per subclip; b = 1 buffer frame; z_i the first conv's output of subclip
i and B_i the buffer, ``z_i (+) B_i`` their concatenation along time (Section 4.2).

Two readings of the stream buffer are implemented (``buffer_mode``):

* ``"paper"`` (default, Section 4.2): the buffer lives *between* the first 3D conv and the shuffle-conv layers.
  B_i (b frames of the first conv's feature map) is prepended to z_i; B_{i+1} = 3DConv(B_i (+) z_i)[b frames],
  where 3DConv is a small causal, channel- and size-preserving depthwise conv (kernel (2,3,3), no temporal padding)
  and the b frames taken are the *latest* ones (the frames next to the following subclip). The first conv has
  12 kernels (3,3,3), stride (1,2,2), padding 1.
* ``"code"`` (the authors' repository): the buffer lives on the *input*: the temporal mean of (buffer (+) sampled
  input) is carried as a 1-frame buffer; the first conv has 24 kernels, the slow conv (2,3,3) without temporal
  padding, the fast path is average-pooled spatially and convolved with stride 2 (time too).

Causality holds at the level of subclips: subclip i's output depends on subclips <= i only (the buffer carries
information forward, never backward); inside a subclip the convs see the whole subclip.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

BUFFER_MODES = ("paper", "code")
SHUFFLENET_WIDTHS_G3 = (24, 240, 480, 960)  # Efficient-3DCNNs ShuffleNetV1, groups = 3, width 1.0


def conv_bn_relu(c_in: int, c_out: int, kernel, stride, padding) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


def channel_shuffle(x: torch.Tensor, g: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle (Section 4.3): (N, g*c, ...) -> (N, c*g, ...) by a transpose of the groups."""
    n, c = x.shape[:2]
    return x.reshape(n, g, c // g, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


class ShuffleUnit(nn.Module):
    """One shuffle-conv layer (Section 4.3): 1x1x1 group conv (g) + BN + ReLU -> channel shuffle -> depthwise
    3x3x3 conv (stride 2 in a stage's first unit) + BN -> 1x1x1 group conv (g) + BN; residual add, or, for
    stride 2, concatenation with an average-pooled shortcut; ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, g: int, first_group: int | None = None,
                 shortcut_kernel=(2, 3, 3), shortcut_padding=(0, 1, 1)):
        super().__init__()
        self.stride, self.g = stride, g
        mid = c_out // 4
        if stride == 2:
            c_out = c_out - c_in
        self.conv1 = nn.Conv3d(c_in, mid, 1, groups=first_group or g, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(mid, mid, 3, stride=stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, c_out, 1, groups=g, bias=False)
        self.bn3 = nn.BatchNorm3d(c_out)
        # one ReLU module used three times and the shortcut pool as a module, as in Efficient-3DCNNs' Bottleneck:
        # their FLOP counter hooks modules, so the module structure decides what it counts (``count_flops_e3d``)
        self.relu = nn.ReLU(inplace=True)
        # Efficient-3DCNNs' shortcut: average pool (2,3,3), stride 2. ``shortcut_kernel=None`` pools adaptively to
        # the branch's output size instead (needed when the buffer makes the length odd, e.g. 16 + b = 17 frames).
        self.shortcut_kernel = shortcut_kernel
        if stride == 2 and shortcut_kernel is not None:
            self.shortcut = nn.AvgPool3d(shortcut_kernel, stride=2, padding=shortcut_padding)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.g)
        out = self.bn2(self.conv2(out))
        out = self.bn3(self.conv3(out))
        if self.stride == 2:
            short = F.adaptive_avg_pool3d(x, out.shape[2:]) if self.shortcut_kernel is None else self.shortcut(x)
            return self.relu(torch.cat([out, short], 1))
        return self.relu(out + x)


def shuffle_stages(c0: int, widths: Iterable[int], blocks: Iterable[int], g: int, **unit_kw) -> nn.Sequential:
    """Stages of shuffle units; a first unit whose input has 24 channels uses an ungrouped first conv (as
    ShuffleNetV1 does for its narrow stem)."""
    layers, c = [], c0
    for w, n in zip(widths, blocks):
        for i in range(n):
            layers.append(ShuffleUnit(c, w, 2 if i == 0 else 1, g, first_group=1 if c == 24 else g, **unit_kw))
            c = w
    return nn.Sequential(*layers)


class ShuffleNet3D(nn.Module):
    """3D-ShuffleNetV1 of Efficient-3DCNNs (the paper's baseline, Table 2): conv 3x3x3 stride (1,2,2) -> max-pool
    3x3x3 stride 2 -> stages [4, 8, 4] -> global average pool -> dropout 0.2 -> linear."""

    def __init__(self, num_classes: int = 101, width_mult: float = 0.5, g: int = 3, dropout: float = 0.2,
                 blocks=(4, 8, 4)):
        super().__init__()
        w = [int(c * width_mult) for c in SHUFFLENET_WIDTHS_G3]
        self.stem = conv_bn_relu(3, w[0], 3, (1, 2, 2), 1)
        self.pool = nn.MaxPool3d(3, stride=2, padding=1)
        self.stages = shuffle_stages(w[0], w[1:], blocks, g)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(w[3], num_classes))

    def forward(self, x):  # x: (N, 3, T, H, W)
        x = self.stages(self.pool(self.stem(x)))
        return self.classifier(x.mean(dim=(2, 3, 4)))


class DepthwiseSeparable(nn.Module):
    """MobileNet's block: depthwise 3x3x3 conv + BN + ReLU, pointwise conv + BN + ReLU (functional ReLUs, as in
    Efficient-3DCNNs' ``Block``)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv3d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm3d(c_in)
        self.conv2 = nn.Conv3d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(c_out)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class MobileNet3D(nn.Module):
    """3D-MobileNetV1 of Efficient-3DCNNs (Table 2): conv stride (1,2,2), 13 depthwise-separable blocks."""

    CFG = ((64, 1, 2), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 1))

    def __init__(self, num_classes: int = 101, width_mult: float = 1.0, dropout: float = 0.2):
        super().__init__()
        c = int(32 * width_mult)
        layers = [conv_bn_relu(3, c, 3, (1, 2, 2), 1)]
        for out, n, s in self.CFG:
            o = int(out * width_mult)
            for i in range(n):
                layers.append(DepthwiseSeparable(c, o, s if i == 0 else 1))
                c = o
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3, 4)))


@dataclass
class StreamState:
    """What is carried from one subclip to the next: one buffer per path (b frames each)."""

    slow: torch.Tensor | None = None
    fast: torch.Tensor | None = None

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.slow, self.fast) if t is not None)

    def detach(self) -> "StreamState":
        return StreamState(*(None if t is None else t.detach() for t in (self.slow, self.fast)))


class Path(nn.Module):
    """One path: first 3D conv (+ BN + ReLU), the stream buffer, spatial max-pool, shuffle-conv stages."""

    def __init__(self, buffer_mode: str, stride_t: int, c0: int, widths, blocks, g: int, b: int, fast: bool):
        super().__init__()
        self.mode, self.stride_t, self.b, self.fast = buffer_mode, stride_t, b, fast
        if buffer_mode == "paper":
            self.conv1 = conv_bn_relu(3, c0, 3, (1, 2, 2), 1)  # 12 x (3,3,3), stride (1,2,2), padding 1
            # 3DConv of Section 4.2: causal (no temporal padding), keeps channels, height and width.
            self.buffer_conv = nn.Conv3d(c0, c0, (2, 3, 3), padding=(0, 1, 1), groups=c0, bias=False)
            self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
            unit_kw = dict(shortcut_kernel=None)
        else:  # the authors' repository
            if fast:
                self.pre = nn.AvgPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
                self.conv1 = conv_bn_relu(3, c0, 3, 2, (0, 1, 1))
                self.pool = nn.Identity()
            else:
                self.conv1 = conv_bn_relu(3, c0, (2, 3, 3), (1, 2, 2), (0, 1, 1))
                self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
            unit_kw = {}
        self.stages = shuffle_stages(c0, widths, blocks, g, **unit_kw)

    def forward(self, x: torch.Tensor, buf: torch.Tensor | None):
        """x: (N, 3, T, H, W) one subclip; returns (pooled features, next buffer)."""
        x = x[:, :, :: self.stride_t]
        if self.mode == "paper":
            z = self.conv1(x)  # z_i
            if buf is None:
                buf = z.new_zeros(z.shape[0], z.shape[1], self.b, *z.shape[3:])
            zb = torch.cat([buf, z], dim=2)  # B_i (+) z_i, the buffer first in time
            new_buf = self.buffer_conv(zb)[:, :, -self.b:]  # B_{i+1} = 3DConv(B_i (+) z_i)[b latest frames]
            h = self.pool(zb)
        else:
            if self.fast:
                x = self.pre(x)
            if buf is None:
                buf = x.new_zeros(x.shape[0], x.shape[1], 1, *x.shape[3:])
            xb = torch.cat([buf, x], dim=2)
            new_buf = xb.mean(dim=2, keepdim=True)  # the code's buffer: temporal mean of (buffer (+) input)
            h = self.pool(self.conv1(xb))
        h = self.stages(h)
        return h.mean(dim=(2, 3, 4)), new_buf


class CausalShuffleNet(nn.Module):
    """SlowFastCausalShuffleNet: two paths (slow: 1 of every alpha frames, fast: 1 of every beta frames), each a
    first 3D conv, a stream buffer and shuffle-conv layers; both pooled, concatenated, one FC layer (Section 4.4).

    ``forward(x, state)`` processes ONE subclip and returns ``(logits, new_state)``; ``forward_clip`` runs a clip
    of several subclips with the buffer carried and returns the logits after every subclip."""

    def __init__(self, num_classes: int = 101, buffer_mode: str = "paper", width_mult: float = 1.0, g: int = 3,
                 alpha: int = 2, beta: int = 1, b: int = 1, stem_width: int | None = None, dropout: float = 0.2,
                 blocks=(4, 8, 4)):
        super().__init__()
        if buffer_mode not in BUFFER_MODES:
            raise ValueError(f"buffer_mode must be one of {BUFFER_MODES}, got {buffer_mode!r}")
        if buffer_mode == "code" and b != 1:
            raise ValueError("the code's buffer holds exactly one frame (b = 1)")
        widths = [int(c * width_mult) for c in (120, 240, 480)]  # ShuffleNetV1 0.5x widths, groups 3
        c0 = stem_width or (12 if buffer_mode == "paper" else 24)
        self.buffer_mode, self.alpha, self.beta, self.b = buffer_mode, alpha, beta, b
        self.slow = Path(buffer_mode, alpha, c0, widths, blocks, g, b, fast=False)
        self.fast = Path(buffer_mode, beta, c0, widths, blocks, g, b, fast=True)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * widths[-1], num_classes))

    def forward(self, x: torch.Tensor, state: StreamState | None = None):
        state = state or StreamState()
        fs, bs = self.slow(x, state.slow)
        ff, bf = self.fast(x, state.fast)
        return self.classifier(torch.cat([fs, ff], 1)), StreamState(bs, bf)

    def forward_clip(self, x: torch.Tensor, T: int = 16, state: StreamState | None = None) -> torch.Tensor:
        """x: (N, 3, K*T, H, W) -> logits after each subclip, (K, N, classes); gradients flow through the buffer."""
        outs = []
        for i in range(0, x.shape[2] - T + 1, T):
            logits, state = self(x[:, :, i:i + T], state)
            outs.append(logits)
        return torch.stack(outs)


@torch.no_grad()
def stream(model: CausalShuffleNet, subclips: Iterator[torch.Tensor], keep_all: bool = False):
    """Run a video of any length subclip by subclip (Section 4.2), carrying only the buffer: memory does not grow
    with the video's length. Returns the logits after the last subclip (the video's prediction, Section 4.4),
    or the list of per-subclip logits with ``keep_all``."""
    state, last, every = None, None, []
    for x in subclips:
        last, state = model(x, state)
        if keep_all:
            every.append(last)
    if last is None:
        raise ValueError("the video has no complete subclip")
    return every if keep_all else last


def subclips_of(video: torch.Tensor, T: int = 16) -> Iterator[torch.Tensor]:
    """Non-overlapping T-frame subclips of (N, 3, L, H, W) (a remainder shorter than T is dropped)."""
    for i in range(0, video.shape[2] - T + 1, T):
        yield video[:, :, i:i + T]


MODELS = ("causal", "shufflenet_0.5x", "shufflenet_1.0x", "mobilenet_1.0x")


def build(name: str, num_classes: int = 101, **kw) -> nn.Module:
    """A model by name: ``causal`` (kw go to CausalShuffleNet) or one of the Table 2 baselines."""
    if name == "causal":
        return CausalShuffleNet(num_classes=num_classes, **kw)
    if name.startswith("shufflenet_"):
        return ShuffleNet3D(num_classes, width_mult=float(name.split("_")[1].rstrip("x")), **kw)
    if name.startswith("mobilenet_"):
        return MobileNet3D(num_classes, width_mult=float(name.split("_")[1].rstrip("x")))
    raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, shape=(1, 3, 16, 112, 112)) -> int:
    """Multiply-accumulates of one forward pass (convolutions and linear layers only), counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per multiply-add) divided by 2. This is NOT
    the convention of the Efficient-3DCNNs table, which also counts BatchNorm, ReLU modules and pooling and counts
    a linear layer's multiplies and adds apart: ``count_flops_e3d`` counts as that table does."""
    from torch.utils.flop_counter import FlopCounterMode

    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(shape, device=dev))
    model.train(was)
    return fc.get_total_flops() // 2


def table2_counts(num_classes: int = 101, shape=(1, 3, 16, 112, 112)) -> list[dict]:
    """Parameters, multiply-adds (MMACs) and the Efficient-3DCNNs counter's FLOPs (its 2019 and 2021 versions) of
    every model of Table 2 at 16x112x112, counted on the meta device (no arithmetic is done), with ``num_classes``
    outputs."""
    return [dict(r) for r in _table2_counts(num_classes, tuple(shape))]


@functools.lru_cache(maxsize=8)
def _table2_counts(num_classes: int, shape: tuple) -> tuple:
    rows = []
    specs = [("SlowFastCausalShuffleNet (paper's buffer, 12-wide first conv)", "causal", {"buffer_mode": "paper"}),
             ("SlowFastCausalShuffleNet (code's buffer, 24-wide first conv)", "causal", {"buffer_mode": "code"}),
             ("3D-ShuffleNetV1 0.5x", "shufflenet_0.5x", {}), ("3D-ShuffleNetV1 1.0x", "shufflenet_1.0x", {}),
             ("3D-MobileNetV1 1.0x", "mobilenet_1.0x", {})]
    for label, name, kw in specs:
        with torch.device("meta"):
            m = build(name, num_classes, **kw)
        rows.append({"model": label, "key": name + ("" if not kw else "_" + kw["buffer_mode"]),
                     "params": count_params(m), "MMACs": count_macs(m, shape) / 1e6,
                     **{f"MFLOPs E3D {v}": count_flops_e3d(m, shape, v) / 1e6 for v in E3D_COUNTER_VERSIONS}})
    return tuple(rows)


#: The two versions of the Efficient-3DCNNs FLOP counter (their ``thop/count_hooks.py``): ``"2019"`` divides a
#: conv's output size by its stride although the output tensor is already strided (the published 2019 table: 42 /
#: 125 / 137 MFLOPs), ``"2021"`` uses the output size as it is (the authors' corrected table: 78 / 199 / 241).
E3D_COUNTER_VERSIONS = ("2019", "2021")


def count_flops_e3d(model: nn.Module, shape=(1, 3, 16, 112, 112), version: str = "2021") -> int:
    """Operations of one forward pass as the Efficient-3DCNNs counter counts them (the convention of the FLOP
    column of the paper's Table 2): forward hooks on leaf modules only, so functional ops are not counted.

    * Conv3d: one op per multiply-add (+1 per output with a bias), output elements = N x C_out x the output's
      (D, H, W), which version ``"2019"`` divides by the conv's stride a second time;
    * BatchNorm3d: 2 per input element; ReLU module: 1 per input element (every call of a shared module counts);
    * MaxPool3d: (prod(kernel_size) - 1) per output element, AvgPool3d: prod(kernel_size) per output element
      (``kernel_size`` as the module stores it: an int 3 counts as 3, not 27, as their ``torch.prod`` does);
    * Linear: 2 x in_features - 1 per output element (multiplies and adds counted separately, unlike convs);
    * everything else (functional relu/pooling, cat, mean, channel shuffle, dropout): 0.
    """
    import math as _m

    if version not in E3D_COUNTER_VERSIONS:
        raise ValueError(f"version must be one of {E3D_COUNTER_VERSIONS}, got {version!r}")
    total = [0]

    def ks(m):
        k = m.kernel_size
        return _m.prod(k) if isinstance(k, (tuple, list)) else int(k)

    def hook(m, inp, out):
        x = inp[0]
        if isinstance(m, nn.Conv3d):
            d, h, w = out.shape[2:]
            if version == "2019":
                d, h, w = d // m.stride[0], h // m.stride[1], w // m.stride[2]
            per = _m.prod(m.kernel_size) * m.in_channels // m.groups + (m.bias is not None)
            total[0] += x.shape[0] * d * h * w * m.out_channels * per
        elif isinstance(m, nn.BatchNorm3d):
            total[0] += 2 * x.numel()
        elif isinstance(m, nn.ReLU):
            total[0] += x.numel()
        elif isinstance(m, nn.MaxPool3d):
            total[0] += (ks(m) - 1) * out.numel()
        elif isinstance(m, nn.AvgPool3d):
            total[0] += ks(m) * out.numel()
        elif isinstance(m, nn.Linear):
            total[0] += (2 * m.in_features - 1) * out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    try:
        with torch.no_grad():
            out = model(torch.zeros(shape, device=dev))
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    del out
    return int(total[0])
